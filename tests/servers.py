"""Start the service's real processes for system tests: gunicorn, Celery workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port, manage_env, run_manage


class Process:
    def __init__(self, args: list[str], env: dict, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the children too
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Web(Process):
    def __init__(self, data_dir: Path, database_url: str | None, workers: int = 2, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = manage_env(database_url, data_dir, PORT=str(self.port),
                              WEB_WORKERS=str(workers), **env)  # fmt: skip
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        super().__init__([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "kima.wsgi"],
                         full_env, data_dir / f"gunicorn-{self.port}.log")  # fmt: skip
        self.wait_until_up()

    def wait_until_up(self) -> None:
        for _ in range(200):
            if self.process.poll() is not None:
                raise AssertionError(self.output())
            try:
                if httpx.get(f"{self.url}/livez", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("gunicorn did not start: " + self.output())


class Worker(Process):
    def __init__(self, data_dir: Path, database_url: str | None, concurrency: int = 2, **env: str):
        args = [sys.executable, "-m", "celery", "-A", "kima", "worker", "-c", str(concurrency),
                "-l", "warning", "--without-gossip", "--without-mingle"]  # fmt: skip
        super().__init__(args, manage_env(database_url, data_dir, **env),
                         data_dir / f"worker-{time.monotonic_ns()}.log")  # fmt: skip


def shell(script: str, database_url: str | None, data_dir: Path, **env: str) -> object:
    """Run Python in `manage.py shell`; its last printed line, parsed as JSON."""
    result = run_manage("shell", "-c", script, database_url=database_url, data_dir=data_dir,
                        **env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def wait_for(condition, timeout: float, every: float = 0.25, message: object = "") -> None:
    """Poll `condition`; `message` (or a callable giving it) explains a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout} s: {message() if callable(message) else message}"
    )
