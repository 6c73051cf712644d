"""Cost of one lock acquire+release against two raw Redis round trips, in one run.

Run: .venv/bin/python benchmarks/lock_cost.py [--rounds 5000]
Needs Redis on 127.0.0.1:6379 (database 15 is used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kima.settings")
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

import django  # noqa: E402

django.setup()

from kima.locks import Lock  # noqa: E402
from kima.redis_conn import redis_client  # noqa: E402


def per_call_us(func, rounds: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            func()
        samples.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    rounds = parser.parse_args().rounds
    client = redis_client()

    def two_round_trips() -> None:
        client.set("kima:bench:raw", "x")
        client.delete("kima:bench:raw")

    def lock_cycle() -> None:
        lock = Lock("bench")
        lock.acquire()
        lock.release()

    raw = per_call_us(two_round_trips, rounds)
    locked = per_call_us(lock_cycle, rounds)
    print(f"two raw Redis round trips (SET + DEL)   {raw:8.1f} us  (median of 5 x {rounds})")
    print(f"Lock acquire + release (SET NX PX + script) {locked:8.1f} us  ({locked / raw:.2f}x)")


if __name__ == "__main__":
    main()
