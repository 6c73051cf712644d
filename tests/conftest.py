"""Shared fixtures: real PostgreSQL databases made per test, and `manage.py` in a subprocess.

PostgreSQL is the server named by TEST_POSTGRES_URL (default: the local server with
trust auth). When it is unreachable, its tests are skipped locally and fail in CI
(CI=true), where a missing server is a broken machine, not a reason to pass.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/postgres")


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_reachable()
    if problem:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


def free_port() -> int:
    """A TCP port on which nothing listens (for "server is down" cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def make_pg_database(postgres_server: str) -> Iterator:
    """Create empty databases on demand; drop them after the test."""
    created: list[str] = []

    def make() -> str:
        name = f"kima_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return database_url(name)

    yield make
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(make_pg_database) -> str:
    return make_pg_database()


def manage_env(database_url: str | None, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_manage(
    *args: str, database_url: str | None, data_dir: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=manage_env(database_url, data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start_manage(*args: str, database_url: str | None, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=manage_env(database_url, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


SHARED_REDIS = "redis://127.0.0.1:6379/15"


def redis_available(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def shared_redis() -> str:
    if not redis_available(SHARED_REDIS):
        if os.environ.get("CI") == "true":
            pytest.fail("Redis on 127.0.0.1:6379 is not running")
        pytest.skip("Redis on 127.0.0.1:6379 is not running")
    return SHARED_REDIS


class ThrowawayRedis:
    """A redis-server of our own on a free port, which tests may stop and start."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            if redis_available(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def freeze(self) -> None:
        """SIGSTOP: the port accepts connections but nothing answers (a hung Redis)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


PG_BIN = (
    next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
    if Path("/usr/lib/postgresql").exists()
    else None
)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (initdb in a temporary directory, a free port),
    which fault-injection tests may stop and start; the shared server is never touched."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"postgresql://root@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        # No pipes: the started server would keep them open and the call would never end.
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)  # fmt: skip

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "root")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-l", log, "-w",
                  "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def throwaway_postgres(tmp_path_factory):
    if PG_BIN is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries are not installed")
        pytest.skip("PostgreSQL server binaries are not installed")
    directory = Path(tempfile.mkdtemp(prefix="kima-pg-"))
    server = ThrowawayPostgres(directory)
    server.init()
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):
        server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def background_work_finishes_with_its_test():
    """Tasks a test queued on this process's background publisher (on the embedded default
    they run right there) finish before the next test's database is flushed, so they never
    run into another test's data or its TRUNCATE."""
    yield
    from kima.tasks import wait_for_background_publishes

    wait_for_background_publishes()
