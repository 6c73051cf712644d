"""100 albums end to end on the simulators: requested through the API, acquired through
the Lidarr simulator (grab 0.3 s, download 0.6 s), completed by its webhooks; once with
every webhook delivered and once with 10 % lost (recovered by reconciliation, every 3 s
here). Web (2 gunicorn workers), one Celery worker (4 processes) and beat, PostgreSQL
and Redis on this machine.

    .venv/bin/python benchmarks/acquisition_e2e.py [--albums 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import temporary_database  # noqa: E402
from tests.servers import wait_for  # noqa: E402
from tests.test_acquisition_system import running_stack  # noqa: E402


def run(albums: int, drop_rate: float, redis_db: int) -> None:
    with temporary_database() as database:
        import redis

        redis_url = f"redis://127.0.0.1:6379/{redis_db}"
        redis.Redis.from_url(redis_url).flushdb()
        with running_stack(Path(tempfile.mkdtemp()), database, redis_url) as stack:
            stack.configure(downloadSource="lidarr", primaryFailureFallback="none")
            stack.lidarr.drop_rate = drop_rate
            wanted = [(f"rg-{n:03d}", f"Album {n}", f"Artist {n % 10}", f"ar-{n % 10}")
                      for n in range(albums)]  # fmt: skip
            for album in wanted:
                stack.lidarr.add_album(*album)
            started = time.monotonic()
            job_ids = [stack.request(mbid, artist, title) for mbid, title, artist, _ in wanted]
            requested = time.monotonic() - started
            wait_for(lambda: stack.statuses(job_ids) == {"completed": albums}, 600, every=1)
            total = time.monotonic() - started
            jobs = [stack.job(job_id) for job_id in job_ids]
            per_job = [
                (_t(j["completedAt"]) - _t(j["createdAt"])) for j in jobs
            ]  # fmt: skip
            print(f"{albums} albums, {drop_rate:.0%} webhooks lost ({len(stack.lidarr.dropped)}): "
                  f"all completed in {total:.1f} s (requests took {requested:.1f} s); per album "
                  f"p50 {statistics.median(per_job):.1f} s, max {max(per_job):.1f} s")  # fmt: skip


def _t(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--albums", type=int, default=100)
    args = parser.parse_args()
    run(args.albums, 0.0, 11)
    run(args.albums, 0.10, 11)


if __name__ == "__main__":
    main()
