"""A real browser (Debian's chromium, headless, driven by Playwright) logs into the
admin of a running server as a Kima admin, edits the Lidarr settings, saves, and sees
the secret masked. The screenshot is kept in artifacts/admin-settings.png."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from tests.conftest import ROOT, run_manage
from tests.servers import Web

pytestmark = pytest.mark.subprocess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = ROOT / "artifacts"

CREATE_KIMA_ADMIN = """
from accounts.models import User
from tests.kima_legacy import node_bcrypt
User.objects.create(username="kima-admin", password=node_bcrypt("kima-pass-1"), role="admin")
"""
READ_SETTINGS = """
from settings_app import services
print(services.effective().lidarr_api_key)
"""


@pytest.fixture
def server(tmp_path):
    assert run_manage("migrate", "-v0", database_url=None, data_dir=tmp_path).returncode == 0
    made = run_manage("shell", "-c", CREATE_KIMA_ADMIN, database_url=None, data_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    web = Web(tmp_path, None, workers=2)
    yield web.url
    web.stop()


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        message = "chromium (Debian package chromium) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 1800})
        browser.close()


def test_an_admin_edits_lidarr_settings_in_a_browser(server, page, tmp_path):
    page.goto(f"{server}/admin/login/")
    page.fill("#id_username", "kima-admin")
    page.fill("#id_password", "kima-pass-1")
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.goto(f"{server}/admin/settings_app/systemsettings/")

    page.fill("#id_lidarr_url", "http://192.168.1.20:8686")
    page.fill("#id_lidarr_api_key", "browser-typed-secret")
    page.fill("#id_lidarr_webhook_secret", "hook-secret")
    with page.expect_navigation():
        page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")

    assert "was changed successfully" in page.content()
    assert page.input_value("#id_lidarr_url") == "http://192.168.1.20:8686"
    assert page.input_value("#id_lidarr_api_key") == ""  # write-only: never rendered
    assert "browser-typed-secret" not in page.content()
    assert "A value is stored." in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-settings.png"), full_page=True)

    with sqlite3.connect(tmp_path / "kima.sqlite3") as db:
        (stored,) = db.execute('SELECT "lidarrApiKey" FROM "SystemSettings"').fetchone()
    assert stored.startswith("gcm1:") and "browser-typed-secret" not in stored
    read = run_manage("shell", "-c", READ_SETTINGS, database_url=None, data_dir=tmp_path)
    assert read.stdout.strip().splitlines()[-1] == "browser-typed-secret"
