"""Runtime integration settings: precedence, write-only encrypted secrets, Kima's
encryption formats, key rotation, validation, the API and the admin."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.authentication import issue_token
from accounts.models import ApiKey, User
from settings_app import crypto, services
from settings_app.models import SINGLETON_ID, SystemSettings
from tests.kima_legacy import node_bcrypt
from tests.simulators.lidarr import LidarrSimulator
from tests.simulators.slskd import SlskdSimulator

pytestmark = pytest.mark.django_db

KEY = "test-settings-key-0123456789abcdef-long-enough"


@pytest.fixture(autouse=True)
def fresh_settings(settings, monkeypatch):
    settings.SETTINGS_ENCRYPTION_KEY = KEY
    settings.SETTINGS_ENCRYPTION_KEY_PREVIOUS = []
    for field in services.FIELDS:
        monkeypatch.delenv(field.env, raising=False)
    services.invalidate()
    yield
    services.invalidate()


def kima_encrypt(plaintext: str, key: bytes) -> str:
    """Kima's encryption.ts: AES-256-CBC, PKCS#7, random IV, `<iv hex>:<ciphertext hex>`."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return f"{iv.hex()}:{(encryptor.update(padded) + encryptor.finalize()).hex()}"


def store(**columns) -> SystemSettings:
    """Write raw values into the row, as Kima (or an older version) left them."""
    SystemSettings.objects.update_or_create(pk=SINGLETON_ID, defaults=columns)
    services.invalidate()
    return SystemSettings.objects.get(pk=SINGLETON_ID)


# ---------------------------------------------------------------------------
# Precedence
# ---------------------------------------------------------------------------


def test_database_wins_then_environment_then_default(monkeypatch):
    store(lidarr_url=None, slskd_url=None)
    assert (services.effective().lidarr_url, services.effective().source("lidarr_url")) == (
        "http://localhost:8686", "default")  # fmt: skip

    monkeypatch.setenv("LIDARR_URL", "http://lidarr.lan:8686")
    services.invalidate()
    current = services.effective()
    assert (current.lidarr_url, current.source("lidarr_url")) == (
        "http://lidarr.lan:8686", "environment")  # fmt: skip

    services.update({"lidarr_url": "http://10.0.0.5:8686/"})
    current = services.effective()
    assert (current.lidarr_url, current.source("lidarr_url")) == (
        "http://10.0.0.5:8686", "database")  # fmt: skip

    services.update({}, clear=["lidarr_url"])
    assert services.effective().source("lidarr_url") == "environment"


def test_blank_database_text_falls_back_like_null(monkeypatch):
    store(slskd_url="   ")
    monkeypatch.setenv("SLSKD_URL", "http://slskd:5030")
    services.invalidate()
    assert services.effective().slskd_url == "http://slskd:5030"


def test_a_bad_environment_value_is_ignored_and_reported(monkeypatch):
    store(lidarr_quality_profile_id=None)
    monkeypatch.setenv("LIDARR_QUALITY_PROFILE_ID", "lossless")
    services.invalidate()
    current = services.effective()
    assert current.lidarr_quality_profile_id is None
    assert "LIDARR_QUALITY_PROFILE_ID" in current.problems["lidarr_quality_profile_id"]


def test_a_row_created_here_leaves_integration_settings_to_the_environment(monkeypatch):
    monkeypatch.setenv("LIDARR_URL", "http://from-env:8686")
    services.update({"download_retry_attempts": 5})
    assert services.effective().lidarr_url == "http://from-env:8686"
    assert SystemSettings.objects.get().lidarr_url is None


# ---------------------------------------------------------------------------
# Secrets at rest
# ---------------------------------------------------------------------------


def test_secrets_are_stored_encrypted_and_authenticated():
    services.update({"lidarr_api_key": "lidarr-key-123"})
    stored = SystemSettings.objects.get().lidarr_api_key
    assert stored.startswith("gcm1:") and "lidarr-key-123" not in stored
    assert services.effective().lidarr_api_key == "lidarr-key-123"
    # Tampering or copying the value into another column does not decrypt.
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(stored, "slskdApiKey")
    tampered = stored[:-2] + ("00" if stored[-2:] != "00" else "11")
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(tampered, "lidarrApiKey")


@pytest.mark.parametrize(
    "kima_key",
    [hashlib.sha256(KEY.encode()).digest(), KEY[:32].encode()],
    ids=["sha256-key", "legacy-raw-key"],
)
def test_values_kima_encrypted_are_read(kima_key):
    store(lidarr_api_key=kima_encrypt("from-kima", kima_key), lastfm_api_key="plain-legacy")
    current = services.effective()
    assert current.lidarr_api_key == "from-kima"
    assert current.lastfm_api_key == "plain-legacy"  # pre-encryption plaintext passes through


def test_a_value_no_key_opens_is_reported_never_returned(monkeypatch):
    other = hashlib.sha256(b"somebody else's key").digest()
    store(lidarr_api_key=kima_encrypt("secret", other))
    monkeypatch.setenv("LIDARR_API_KEY", "env-key")
    services.invalidate()
    current = services.effective()
    assert current.lidarr_api_key == "env-key"
    assert "cannot be decrypted" in current.problems["lidarr_api_key"]


def test_a_damaged_kima_value_is_reported_not_a_crash():
    store(lidarr_api_key="0123456789abcdef0123456789abcdef:abc")  # odd-length hex
    current = services.effective()
    assert current.lidarr_api_key is None
    assert "damaged" in current.problems["lidarr_api_key"]


def test_rotation_re_encrypts_every_secret_and_old_values_stay_readable(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the rotation writes the embedded key files here
    kima_value = kima_encrypt("abs-key", hashlib.sha256(KEY.encode()).digest())
    store(audiobookshelf_api_key=kima_value)
    services.update({"lidarr_api_key": "lk", "slskd_api_key": "sk"})

    call_command("rotate_settings_key", "--new-key", "a-brand-new-key-0123456789")
    row = SystemSettings.objects.get()
    assert row.audiobookshelf_api_key.startswith("gcm1:")  # Kima's CBC value upgraded too

    settings.SETTINGS_ENCRYPTION_KEY = "a-brand-new-key-0123456789"
    services.invalidate()
    current = services.effective()
    assert (current.lidarr_api_key, current.slskd_api_key) == ("lk", "sk")
    assert crypto.decrypt(row.audiobookshelf_api_key, "audiobookshelfApiKey") == "abs-key"

    # A process still on the old key reads them through the key file the rotation wrote
    # (no environment key here: the embedded default)...
    settings.SETTINGS_ENCRYPTION_KEY = KEY
    services.invalidate()
    assert services.effective().lidarr_api_key == "lk"
    (tmp_path / ".settings_encryption_key").unlink()
    services.invalidate()  # ...and without that file it could not
    assert services.effective().lidarr_api_key is None


def test_rotation_is_all_or_nothing():
    services.update({"lidarr_api_key": "lk"})
    store(fanart_api_key=kima_encrypt("x", hashlib.sha256(b"lost key").digest()))
    before = SystemSettings.objects.get().lidarr_api_key
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_settings_key", "--new-key", "a-brand-new-key-0123456789")
    assert SystemSettings.objects.get().lidarr_api_key == before


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"lidarr_url": "ftp://lidarr:8686"}, "lidarr_url", "http"),
        ({"lidarr_url": "lidarr:8686"}, "lidarr_url", "http"),
        ({"lidarr_url": "http://"}, "lidarr_url", "host"),
        ({"lidarr_url": "http://169.254.169.254/latest"}, "lidarr_url", "metadata"),
        ({"slskd_url": "http://[fe80::1]:5030"}, "slskd_url", "link-local"),
        ({"slskd_url": "http://metadata.google.internal"}, "slskd_url", "metadata"),
        ({"slskd_url": "http://user:pw@slskd:5030"}, "slskd_url", "credentials"),
        ({"public_url": "http://0.0.0.0:8000"}, "public_url", "not a host"),
        ({"soulseek_concurrent_downloads": 11}, "soulseek_concurrent_downloads", "at most 10"),
        ({"soulseek_concurrent_downloads": 0}, "soulseek_concurrent_downloads", "at least 1"),
        ({"soulseek_concurrent_downloads": "4"}, "soulseek_concurrent_downloads", "whole"),
        ({"download_source": "usenet"}, "download_source", "one of"),
        ({"primary_failure_fallback": "soulseek"}, "primary_failure_fallback", "differ"),
        ({"lidarr_enabled": "yes"}, "lidarr_enabled", "true or false"),
        ({"soulseek_download_path": "downloads"}, "soulseek_download_path", "absolute"),
        ({"openai_api_key": "x"}, "openai_api_key", "not a setting"),
        ({"lidarr_quality_profile_id": 3_000_000_000}, "lidarr_quality_profile_id", "at most"),
        ({"lidarr_webhook_username": "a\x00b"}, "lidarr_webhook_username", "control"),
        ({"lidarr_url": "http://lidarr:8686/a\x01b"}, "lidarr_url", "control"),
        ({"lidarr_api_key": "key\u200b"}, "lidarr_api_key", "ASCII"),
        ({"lidarr_webhook_password": "pw\u20ac"}, "lidarr_webhook_password", "Latin-1"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(changes, field, message):
    with pytest.raises(services.SettingsValidationError) as caught:
        services.update(changes)
    assert message in " ".join(caught.value.errors[field])


def test_private_and_loopback_addresses_are_allowed():
    services.update({"lidarr_url": "http://192.168.1.10:8686", "slskd_url": "http://127.0.0.1:5030",
                     "public_url": "http://kima.lan:8000"})  # fmt: skip
    assert services.effective().slskd_url == "http://127.0.0.1:5030"


def test_nothing_is_written_when_any_field_is_bad():
    services.update({"lidarr_url": "http://before:8686"})
    with pytest.raises(services.SettingsValidationError):
        services.update({"lidarr_url": "http://after:8686", "max_concurrent_downloads": 999})
    assert SystemSettings.objects.get().lidarr_url == "http://before:8686"


# ---------------------------------------------------------------------------
# REST API
# ---------------------------------------------------------------------------


@pytest.fixture
def admin_user() -> User:
    return User.objects.create(username="boss", password=node_bcrypt("pw-123456"), role="admin")


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(admin_user)}")
    return client


def test_get_masks_secrets_and_reports_sources(api, monkeypatch):
    monkeypatch.setenv("SLSKD_URL", "http://slskd:5030")
    services.update({"lidarr_api_key": "very-secret"})
    body = api.get("/api/system-settings").json()
    assert body["lidarrApiKey"] == services.MASK
    assert body["slskdApiKey"] is None
    assert "very-secret" not in str(body)
    assert body["effective"]["lidarrApiKey"] == {"isSet": True, "source": "database"}
    assert body["effective"]["slskdUrl"] == {"value": "http://slskd:5030", "source": "environment"}


def test_patch_blank_and_mask_keep_a_secret_and_clear_removes_it(api):
    assert (
        api.patch("/api/system-settings", {"lidarrApiKey": "k1"}, format="json").status_code == 200
    )
    for keep in ["", services.MASK, None]:
        response = api.patch("/api/system-settings", {"lidarrApiKey": keep}, format="json")
        assert response.status_code == 200
        assert services.effective().lidarr_api_key == "k1"
    response = api.patch("/api/system-settings", {"clear": ["lidarrApiKey"]}, format="json")
    assert response.json()["lidarrApiKey"] is None
    assert SystemSettings.objects.get().lidarr_api_key is None


def test_patch_errors_are_400_with_field_names_and_write_nothing(api):
    response = api.patch(
        "/api/system-settings",
        {"lidarrUrl": "http://fine:8686", "soulseekConcurrentDownloads": 50, "bogus": 1},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid settings"
    assert set(body["fields"]) == {"bogus"}  # unknown names are refused before anything else
    response = api.patch("/api/system-settings",
                         {"lidarrUrl": "http://fine:8686", "soulseekConcurrentDownloads": 50},
                         format="json")  # fmt: skip
    assert response.status_code == 400
    assert "soulseekConcurrentDownloads" in response.json()["fields"]
    assert SystemSettings.objects.filter(lidarr_url="http://fine:8686").count() == 0


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "{not json", "null"])
def test_patch_with_a_body_that_is_not_an_object_is_400(api, body):
    response = api.patch("/api/system-settings", body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_the_api_is_for_admins_only(admin_user):
    anonymous = APIClient()
    assert anonymous.get("/api/system-settings").status_code == 401
    listener = User.objects.create_user("listener", "pw-123456")
    ApiKey.objects.create(user=listener, key="listener-key", name="phone")
    as_listener = APIClient()
    as_listener.credentials(HTTP_X_API_KEY="listener-key")
    response = as_listener.get("/api/system-settings")
    assert (response.status_code, response.json()) == (403, {"error": "Admin access required"})
    with_jwt = APIClient()
    with_jwt.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(listener)}")
    assert with_jwt.patch("/api/system-settings", {}, format="json").status_code == 403

    ApiKey.objects.create(user=admin_user, key="admin-key", name="script")
    as_admin = APIClient()
    as_admin.credentials(HTTP_X_API_KEY="admin-key")
    assert as_admin.get("/api/system-settings/").status_code == 200  # trailing slash too


def test_a_token_from_before_a_password_change_is_refused(admin_user):
    token = issue_token(admin_user)
    admin_user.set_password("new-password-1")
    admin_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/system-settings")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("claims", [{"type": "refresh"}, {"scope": "stream"}, {"exp": None}])
def test_only_access_tokens_open_the_api(admin_user, settings, claims):
    import jwt
    from django.utils import timezone

    now = timezone.now()
    body = {"userId": admin_user.pk, "tokenVersion": admin_user.token_version, "iat": now,
            "exp": now + timezone.timedelta(hours=1), **claims}  # fmt: skip
    body = {key: value for key, value in body.items() if value is not None}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + jwt.encode(body, settings.JWT_SECRET))
    assert client.get("/api/system-settings").status_code == 401


def test_openapi_schema_documents_the_settings_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/system-settings" in text and "lidarrApiKey" in text
    assert client.get("/api/docs/").status_code == 200


# ---------------------------------------------------------------------------
# Connection tests, against the simulators
# ---------------------------------------------------------------------------


@pytest.fixture
def lidarr():
    simulator = LidarrSimulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def slskd():
    simulator = SlskdSimulator().start()
    yield simulator
    simulator.stop()


def test_lidarr_connection_test_reports_version_profiles_and_webhook(api, lidarr):
    services.update({"lidarr_url": lidarr.url, "lidarr_api_key": lidarr.api_key,
                     "public_url": "http://kima:8000"})  # fmt: skip
    body = api.post("/api/system-settings/test-lidarr").json()
    assert body["ok"] is True
    assert body["details"]["version"] == lidarr.version
    assert body["details"]["qualityProfiles"][1] == {"id": 2, "name": "Lossless"}
    assert body["details"]["webhookRegistered"] is False
    lidarr.add_webhook_connection("http://kima:8000/api/webhooks/lidarr")
    assert api.post("/api/system-settings/test-lidarr").json()["details"]["webhookRegistered"]


def test_lidarr_connection_failures_have_clear_messages(api, lidarr):
    services.update({"lidarr_url": lidarr.url, "lidarr_api_key": "wrong"})
    body = api.post("/api/system-settings/test-lidarr").json()
    assert body == {"ok": False, "message": "Lidarr rejected the API key (401)", "details": {}}
    lidarr.stop()
    body = api.post("/api/system-settings/test-lidarr").json()
    assert body["ok"] is False and body["message"].startswith("cannot reach Lidarr")


@pytest.mark.parametrize(("status", "body", "message"), [
    (200, ["a", "list"], "not like Lidarr's API"),  # another program on that port
    (302, None, "redirected"),  # a proxy's login page
])  # fmt: skip
def test_something_that_is_not_lidarr_gets_a_message_not_a_500(api, lidarr, status, body,
                                                               message):  # fmt: skip
    import re

    lidarr.routes.insert(0, ("GET", re.compile("^/api/v1/system/status$"),
                             lambda query, request_body: (status, body)))  # fmt: skip
    services.update({"lidarr_url": lidarr.url, "lidarr_api_key": lidarr.api_key})
    response = api.post("/api/system-settings/test-lidarr")
    assert response.status_code == 200
    assert response.json()["ok"] is False and message in response.json()["message"]


def test_slskd_connection_test_reports_login_state(api, slskd):
    services.update({"slskd_url": slskd.url, "slskd_api_key": slskd.api_key})
    body = api.post("/api/system-settings/test-slskd").json()
    assert body["ok"] is True and "kima-bot" in body["message"]
    slskd.logged_in = False
    body = api.post("/api/system-settings/test-slskd").json()
    assert body["ok"] is False and "not logged in" in body["message"]


# ---------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.login(username="boss", password="pw-123456")
    return client


def change_url() -> str:
    return f"/admin/settings_app/systemsettings/{SINGLETON_ID}/change/"


def form_data(**overrides) -> dict:
    """The change form as a browser would post it, with `overrides` typed in."""
    row = services.load_row()
    data = {}
    for field in services.FIELDS:
        value = getattr(row, field.name)
        if field.secret:
            data[field.name] = ""
        elif field.kind == "bool" and field.nullable:
            data[field.name] = {None: "unknown", True: "true", False: "false"}[value]
        elif field.kind == "bool":
            data[field.name] = "on" if value else ""
        else:
            data[field.name] = "" if value is None else str(value)
    return {**data, **overrides}


def test_the_admin_is_a_singleton(admin_client):
    response = admin_client.get("/admin/settings_app/systemsettings/")
    assert response.status_code == 302 and response["Location"].endswith(change_url())
    assert admin_client.get("/admin/settings_app/systemsettings/add/").status_code == 403
    delete = f"/admin/settings_app/systemsettings/{SINGLETON_ID}/delete/"
    assert admin_client.get(delete).status_code == 403


def test_the_admin_saves_changes_keeps_blank_secrets_and_shows_sources(admin_client, monkeypatch):
    monkeypatch.setenv("SLSKD_URL", "http://slskd:5030")
    data = form_data(lidarr_url="http://lidarr.lan:8686", lidarr_api_key="typed-secret")
    response = admin_client.post(change_url(), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert services.effective().lidarr_api_key == "typed-secret"

    page = admin_client.get(change_url()).content.decode()
    assert "typed-secret" not in page and SystemSettings.objects.get().lidarr_api_key not in page
    assert "A value is stored." in page
    assert "Effective: http://slskd:5030 (from SLSKD_URL)" in page
    assert "webhooks are accepted without authentication" in page

    admin_client.post(change_url(), form_data())  # secret left blank: kept
    assert services.effective().lidarr_api_key == "typed-secret"
    admin_client.post(change_url(), form_data(clear_lidarr_api_key="on"))
    assert SystemSettings.objects.get().lidarr_api_key is None


def test_the_admin_shows_validation_errors_on_the_field(admin_client):
    response = admin_client.post(change_url(), form_data(lidarr_url="http://169.254.169.254"))
    assert response.status_code == 200
    assert "cloud metadata" in response.content.decode()
    assert SystemSettings.objects.get().lidarr_url != "http://169.254.169.254"


def test_admin_connection_buttons_show_the_result(admin_client, lidarr):
    services.update({"lidarr_url": lidarr.url, "lidarr_api_key": "wrong"})
    response = admin_client.post("/admin/settings_app/systemsettings/test-lidarr/", follow=True)
    assert "Lidarr rejected the API key (401)" in response.content.decode()
    services.update({"lidarr_api_key": lidarr.api_key})
    response = admin_client.post("/admin/settings_app/systemsettings/test-lidarr/", follow=True)
    assert f"Connected to Lidarr {lidarr.version}" in response.content.decode()


def test_values_shown_in_the_admin_are_escaped(admin_client):
    services.update({"lidarr_webhook_username": "<img src=x onerror=alert(1)>"})
    page = admin_client.get(change_url()).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_non_admin_cannot_open_the_settings_admin(client):
    User.objects.create_user("listener", "pw-123456")
    client.login(username="listener", password="pw-123456")
    response = client.get(change_url())
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_after_a_failed_read_the_database_is_left_alone_for_a_moment(monkeypatch):
    from django.db import OperationalError

    seen = services.effective()
    services.invalidate()
    services._cached = (0.0, seen)  # expired: the next call reads the database
    calls = []

    def unreachable():
        calls.append(1)
        raise OperationalError("connection timed out")

    monkeypatch.setattr(services, "_stored_row", unreachable)
    monkeypatch.setattr(services, "_unreadable_until", 0.0)
    assert services.effective_or_stale() is seen
    assert services.effective_or_stale() is seen  # the outage is remembered...
    assert calls == [1]  # ...so the second request does not wait on the database


def test_a_process_started_before_an_embedded_rotation_reads_the_new_key(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    services.update({"lidarr_api_key": "lk"})
    new_key = "rotated-by-another-process-0123456789"
    # What `rotate_settings_key` in another process leaves: the value under the new key,
    # and the new key in the data directory's key file.
    SystemSettings.objects.update(lidarr_api_key=crypto.encrypt("lk", "lidarrApiKey", new_key))
    services.invalidate()
    assert services.effective().lidarr_api_key is None  # before the file is there
    (tmp_path / ".settings_encryption_key").write_text(new_key)
    services.invalidate()
    assert services.effective().lidarr_api_key == "lk"
