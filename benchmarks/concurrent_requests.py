"""A hundred identical album requests at once, through gunicorn on PostgreSQL: how many
jobs were created (must be 1), how the requests were answered, errors, latency.

    .venv/bin/python benchmarks/concurrent_requests.py [--requests 100] [--workers 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import temporary_database  # noqa: E402
from tests.conftest import run_manage  # noqa: E402
from tests.servers import Web, shell  # noqa: E402

# An slskd nobody answers at: jobs stay active (waiting to retry) instead of failing at
# once for want of a source, so every round's 100 requests compete for one active job.
MAKE_TOKEN = """
import json
from accounts.authentication import issue_token
from accounts.models import User
from settings_app import services
services.update({"slskd_url": "http://127.0.0.1:9", "slskd_api_key": "unused-key"})
print(json.dumps(issue_token(User.objects.create_user("bench", "pw-123456"))))
"""


def one_round(url: str, token: str, requests: int) -> tuple[collections.Counter, list, list]:
    body = {"mbid": str(uuid.uuid4()), "subject": "Bench - Album", "artistName": "Bench",
            "albumTitle": "Album"}  # fmt: skip
    codes: collections.Counter = collections.Counter()
    latencies, errors = [], []
    barrier = threading.Barrier(requests)
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            started = time.perf_counter()
            try:
                response = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                with lock:
                    codes[response.status_code] += 1
                    latencies.append(time.perf_counter() - started)
            except httpx.HTTPError as error:
                with lock:
                    errors.append(repr(error))

    threads = [threading.Thread(target=send) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes, latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with temporary_database() as database:
        data_dir = Path(tempfile.mkdtemp(prefix="kima-bench-"))
        assert (
            run_manage("migrate", "-v0", database_url=database, data_dir=data_dir).returncode == 0
        )
        token = shell(MAKE_TOKEN, database, data_dir)
        web = Web(data_dir, database, workers=args.workers, LOG_LEVEL="WARNING")
        try:
            for round_number in range(1, args.rounds + 1):
                codes, latencies, errors = one_round(web.url + "/api/downloads", token,
                                                     args.requests)  # fmt: skip
                ms = sorted(value * 1000 for value in latencies)
                p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else float("nan")
                print(f"round {round_number}: {args.requests} requests -> "
                      f"{codes.get(201, 0)} created (201), {codes.get(200, 0)} duplicates (200), "
                      f"other {dict((k, v) for k, v in codes.items() if k not in (200, 201))}, "
                      f"errors {len(errors)}, p50 {ms[len(ms) // 2]:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
        finally:
            web.stop()
        with psycopg.connect(database) as conn:
            jobs = conn.execute('SELECT count(*) FROM "DownloadJob"').fetchone()[0]
        print(f"jobs in the database after {args.rounds} rounds: {jobs} (one per round expected)")


if __name__ == "__main__":
    main()
