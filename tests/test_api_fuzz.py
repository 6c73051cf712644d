"""schemathesis against the running service's own OpenAPI schema: whatever it sends to
the downloads, discovery and settings endpoints, the answer is never a 5xx."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT, manage_env
from tests.servers import Web, shell

pytestmark = pytest.mark.subprocess

MAKE_TOKENS = """
import json
from accounts.authentication import issue_token
from accounts.models import User
admin = User.objects.create_superuser("fuzz-admin", "pw-123456")
print(json.dumps(issue_token(admin)))
"""


def test_no_generated_request_gets_a_server_error(tmp_path):
    assert subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "-v0"],
                          cwd=ROOT, env=manage_env(None, tmp_path)).returncode == 0  # fmt: skip
    token = shell(MAKE_TOKENS, None, tmp_path)
    web = Web(tmp_path, None, workers=2)
    try:
        result = subprocess.run(
            [str(ROOT / ".venv/bin/schemathesis"), "run", f"{web.url}/api/schema/",
             "--checks", "not_a_server_error", "--header", f"Authorization: Bearer {token}",
             "--max-examples", "40", "--generation-deterministic", "--request-timeout", "15",
             "--include-path-regex", "^/api/(downloads|discover|system-settings)",
             "--exclude-path-regex", "test-(lidarr|slskd)"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        web.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Server error" not in result.stdout
    assert "No operations" not in result.stdout and " passed" in result.stdout
