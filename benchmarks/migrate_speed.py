"""How long `migrate` takes: on an up-to-date database (against `manage.py check`) and on
the first start over a Kima v1.4.3 database (adoption).

Run: .venv/bin/python benchmarks/migrate_speed.py [--runs 7]
Needs the local PostgreSQL (TEST_POSTGRES_URL, default postgresql://root@127.0.0.1/postgres).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import kima_legacy  # noqa: E402
from tests.conftest import POSTGRES_URL, database_url, manage_env  # noqa: E402


def timed(args: list[str], url: str, data_dir: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=manage_env(url, data_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, result.stdout


def new_database() -> str:
    name = f"kima_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    data_dir = Path(tempfile.mkdtemp())

    name = new_database()
    try:
        url = database_url(name)
        timed(["migrate", "--no-input"], url, data_dir)
        checks, noops = [], []
        for _ in range(runs):  # interleaved so that machine noise hits both alike
            checks.append(timed(["check"], url, data_dir)[0])
            noops.append(timed(["migrate", "--no-input"], url, data_dir)[0])
    finally:
        drop(name)

    adoptions, output = [], ""
    for _ in range(max(3, runs // 2)):
        name = new_database()
        try:
            with psycopg.connect(database_url(name), autocommit=True) as conn, conn.cursor() as cur:
                kima_legacy.build(cur, "1.4.3")
            seconds, output = timed(["migrate", "--no-input"], database_url(name), data_dir)
            adoptions.append(seconds)
        finally:
            drop(name)

    check_median, noop_median = statistics.median(checks), statistics.median(noops)
    print(f"manage.py check                    median {check_median:.3f} s over {runs} runs")
    print(f"migrate, database up to date       median {noop_median:.3f} s "
          f"({noop_median / check_median:.2f}x check)")  # fmt: skip
    print(f"migrate, first run on Kima v1.4.3  median {statistics.median(adoptions):.3f} s "
          f"over {len(adoptions)} runs (process start included)")  # fmt: skip
    print("\n[MIGRATE] output of the last adoption run:\n" + output)


if __name__ == "__main__":
    main()
