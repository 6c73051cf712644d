"""Webhook intake: latency at a fixed 200 requests/s, throughput at a fixed concurrency
against a plain psycopg INSERT+COMMIT loop at the same concurrency, and the time from
intake to processed with a Celery worker running. All in one run, on this machine.

    .venv/bin/python benchmarks/webhook_intake.py [--workers 4] [--concurrency 8]

Needs the local PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, temporary_database  # noqa: E402
from tests.conftest import run_manage  # noqa: E402
from tests.servers import Web, Worker, wait_for  # noqa: E402

REDIS = "redis://127.0.0.1:6379/12"  # a database of its own: flushed between phases
GRAB = json.loads((ROOT / "tests/fixtures/lidarr/Grab.json").read_text())


def body(n: int) -> bytes:
    event = copy.deepcopy(GRAB)
    event["downloadId"] = f"BENCH{n:08d}{uuid.uuid4().hex[:8]}"
    return json.dumps(event, indent=2).encode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def fixed_rate(url: str, rate: int, seconds: int) -> list[float]:
    """Open loop: start one request every 1/rate s whatever the server does."""
    latencies: list[float] = []
    lock = threading.Lock()
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))

    def send(n: int) -> None:
        started = time.perf_counter()
        response = client.post(url, content=body(n), headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        with lock:
            latencies.append(time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=64) as pool:
        begin = time.perf_counter()
        for n in range(rate * seconds):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, n)
    return latencies


def closed_loop(action, concurrency: int, total: int) -> tuple[float, list[float]]:
    """`concurrency` clients, each sending its next request when the last one answered."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def client_loop() -> None:
        state = action.__self__.fresh() if hasattr(action, "__self__") else None
        for n in counter:
            started = time.perf_counter()
            action(n, state)
            with lock:
                latencies.append(time.perf_counter() - started)

    begin = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - begin), latencies


class HttpIntake:
    def __init__(self, url: str) -> None:
        self.url = url

    def fresh(self) -> httpx.Client:
        return httpx.Client(timeout=30)

    def send(self, n: int, client: httpx.Client) -> None:
        response = client.post(self.url, content=body(n),
                               headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 200


class PlainInsert:
    """The floor: one INSERT of the same row shape and one COMMIT per event."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fresh(self) -> psycopg.Connection:
        return psycopg.connect(self.url)

    def send(self, n: int, conn: psycopg.Connection) -> None:
        conn.execute(
            'INSERT INTO "WebhookEvent" ("id", "eventId", "source", "eventType", "payload") '
            "VALUES (%s, %s, 'lidarr', 'Grab', %s::jsonb)",
            [uuid.uuid4().hex, f"plain-{uuid.uuid4().hex}", body(n).decode()],
        )
        conn.commit()


def report(name: str, latencies: list[float], throughput: float | None = None) -> None:
    ms = [value * 1000 for value in latencies]
    rate = f"{throughput:8.0f} req/s  " if throughput else " " * 16
    print(f"{name:<44} {rate}p50 {statistics.median(ms):6.1f} ms  "
          f"p99 {percentile(ms, 0.99):6.1f} ms  (n={len(ms)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()

    with temporary_database() as database:
        data_dir = Path(tempfile.mkdtemp(prefix="kima-bench-"))
        env = {"REDIS_URL": REDIS, "LOG_LEVEL": "WARNING"}
        assert (
            run_manage("migrate", "-v0", database_url=database, data_dir=data_dir).returncode == 0
        )
        web = Web(data_dir, database, workers=args.workers, **env)
        url = web.url + "/api/webhooks/lidarr"
        try:
            for n in range(200):  # warm up connections and code paths
                HttpIntake(url).send(n, httpx.Client())
            report("intake at a fixed 200 req/s for 10 s", fixed_rate(url, 200, 10))
            rate, latencies = closed_loop(HttpIntake(url).send, args.concurrency, args.requests)
            report(f"intake, {args.concurrency} clients, closed loop", latencies, rate)
            rate, latencies = closed_loop(PlainInsert(database).send, args.concurrency,
                                          args.requests)  # fmt: skip
            report(f"psycopg INSERT+COMMIT, {args.concurrency} clients", latencies, rate)
            measure_intake_to_processed(web, database, data_dir, env)
        finally:
            web.stop()


def measure_intake_to_processed(web: Web, database: str, data_dir: Path, env: dict) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute('DELETE FROM "WebhookEvent"')
    # The earlier phases queued thousands of tasks with no worker running; start clean.
    redis.Redis.from_url(REDIS).flushdb()
    worker = Worker(data_dir, database, concurrency=2, **env)
    try:
        time.sleep(3)  # let the worker connect
        fixed_rate(web.url + "/api/webhooks/lidarr", 50, 10)

        def all_processed() -> bool:
            with psycopg.connect(database) as conn:
                left = conn.execute(
                    "SELECT count(*) FROM \"WebhookEvent\" WHERE status <> 'processed'"
                ).fetchone()[0]
            return left == 0

        wait_for(all_processed, 120, every=0.5, message="processing")
        with psycopg.connect(database) as conn:
            rows = conn.execute(
                'SELECT extract(epoch FROM "processedAt" - "createdAt") FROM "WebhookEvent"'
            ).fetchall()
        report("intake to processed (50 req/s, 2 workers)", [float(r[0]) for r in rows])
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
