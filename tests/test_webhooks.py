"""Lidarr webhooks in process: intake (auth, validation, dedup), processing of every
event type, retries, replay, sweep, purge, admin and metrics. The over-the-wire and
fault-injection tests are in test_webhooks_system.py."""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.models import User
from downloads.models import DownloadJob
from kima.tasks import wait_for_background_publishes
from settings_app import services as settings_service
from tests.simulators.lidarr import LidarrSimulator
from webhooks import handlers, services, spool
from webhooks.auth import basic_header
from webhooks.models import LidarrHealthIssue, WebhookEvent

# Lidarr webhook bodies, copied from ../shared/fixtures/lidarr (see the README there).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lidarr"
URL = "/api/webhooks/lidarr"
pytestmark = pytest.mark.django_db(transaction=True)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


ALL_FIXTURES = sorted(path.stem for path in FIXTURES.glob("*.json"))
assert ALL_FIXTURES, f"no Lidarr fixtures in {FIXTURES}"


@pytest.fixture(autouse=True)
def lidarr_settings(settings, monkeypatch):
    settings.SETTINGS_ENCRYPTION_KEY = "webhook-tests-key-0123456789abcdef"
    settings.WEBHOOK_SWEEP_MIN_AGE = 0
    for field in settings_service.FIELDS:
        monkeypatch.delenv(field.env, raising=False)
    settings_service.invalidate()
    settings_service.update({"lidarr_enabled": True})
    yield
    wait_for_background_publishes()
    settings_service.invalidate()


def post(client, body, **headers):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = client.post(URL, raw, content_type="application/json", **headers)
    wait_for_background_publishes()
    return response


def make_job(**fields) -> DownloadJob:
    user = User.objects.first() or User.objects.create_user("listener", "pw-123456")
    fields.setdefault("subject", "Artist - Album")
    fields.setdefault("type", "album")
    fields.setdefault("status", "pending")
    return DownloadJob.objects.create(user=user, **fields)


def events_total(event_type: str, outcome: str) -> float:
    labels = {"event_type": event_type, "outcome": outcome}
    return REGISTRY.get_sample_value("kima_webhook_events_total", labels) or 0.0


# ---------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------

AUTH_MODES = {
    "none": ({}, {}),
    "secret": ({"lidarr_webhook_secret": "s3cret"}, {"HTTP_X_WEBHOOK_SECRET": "s3cret"}),
    "basic": (
        {"lidarr_webhook_username": "lidarr", "lidarr_webhook_password": "pässword"},
        {"HTTP_AUTHORIZATION": basic_header("lidarr", "pässword")},
    ),
    "both-secret-sent": (
        {
            "lidarr_webhook_secret": "s3cret",
            "lidarr_webhook_username": "lidarr",
            "lidarr_webhook_password": "pw",
        },
        {"HTTP_X_WEBHOOK_SECRET": "s3cret"},
    ),  # fmt: skip
}


@pytest.mark.parametrize("auth_mode", sorted(AUTH_MODES))
@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_is_accepted_and_processed_with_each_auth_mode(client, name, auth_mode):
    configured, headers = AUTH_MODES[auth_mode]
    settings_service.update(configured)
    response = post(client, fixture(name), **headers)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["eventId"])
    assert event.event_type == name
    assert event.status == "processed", event.error
    assert event.processed and event.processed_at is not None


@pytest.mark.parametrize("auth_mode", ["secret", "basic"])
def test_wrong_or_missing_credentials_are_401_and_store_nothing(client, auth_mode):
    settings_service.update(AUTH_MODES[auth_mode][0])
    assert post(client, fixture("Grab")).status_code == 401
    wrong = {"HTTP_X_WEBHOOK_SECRET": "nope", "HTTP_AUTHORIZATION": basic_header("lidarr", "x")}
    response = post(client, fixture("Grab"), **wrong)
    assert response.status_code == 401
    assert "error" in response.json()
    assert WebhookEvent.objects.count() == 0


def test_lidarr_disabled_is_202_ignored(client):
    settings_service.update({"lidarr_enabled": False})
    response = post(client, fixture("Grab"))
    assert response.status_code == 202
    assert response.json() == {"success": True, "ignored": True, "reason": "lidarr-disabled"}
    assert WebhookEvent.objects.count() == 0


def test_paths_and_methods(client):
    body = json.dumps(fixture("Test"))
    assert client.post(URL + "/", body, content_type="application/json").status_code == 200
    assert client.put(URL, body, content_type="application/json").status_code == 200
    assert client.get(URL).status_code == 405
    verify = client.get(URL + "/verify")
    assert verify.status_code == 200 and verify.json()["status"] == "ok"
    wait_for_background_publishes()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"downloadId": "X"}', 400, "eventType"),
        (b'{"eventType": 7}', 400, "eventType"),
        (b'{"eventType": ""}', 400, "eventType"),
        (b"\xff\xfe{}", 400, "not valid JSON"),
        (json.dumps({"eventType": "Grab", "pad": "x" * (1024 * 1024)}).encode(), 413, "larger"),
        (b'{"eventType": "Grab", "x": ' + b"[" * 100 + b"]" * 100 + b"}", 400, "nested"),
        (b'{"eventType": "Grab", "x": "a\\u0000b"}', 400, "NUL"),
        (b'{"eventType": "Grab", "x": "\\ud800"}', 400, "invalid text"),
        (b'{"eventType": "Grab", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, ""),
        (b'{"eventType": "Grab", "x": 1e999}', 400, "invalid text"),  # read as inf
        (b'{"eventType": "Grab", "x": NaN}', 400, "not valid JSON"),
    ],
)
def test_bad_bodies_get_a_4xx_with_a_message_and_store_nothing(client, body, status, message):
    response = post(client, body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert WebhookEvent.objects.count() == 0


def test_an_unknown_event_type_is_stored_ignored_and_counted_as_unknown(client):
    before = events_total("unknown", "ignored")
    response = post(client, {"eventType": "ManualInteractionRequired", "x": 1})
    assert response.status_code == 200 and response.json()["ignored"] is True
    event = WebhookEvent.objects.get()
    assert (event.status, event.processed) == ("ignored", True)
    assert events_total("unknown", "ignored") == before + 1


def test_fuzzed_bodies_never_get_a_500_or_partial_rows(client):
    rng = random.Random(20261125)
    samples = [fixture(name) for name in ALL_FIXTURES]
    junk = [None, 0, -1, 2**70, 1.5, True, "", "x" * 300, [], {}, [1, [2]], {"a": {"b": []}}]
    for _ in range(300):
        body = copy.deepcopy(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(["downloadId", "album", "albums", "artist", "release", "trackFiles",
                              "isUpgrade", "type", "level", "eventType"])  # fmt: skip
            body[key] = rng.choice(junk)
        raw = json.dumps(body).encode()
        if rng.random() < 0.2:
            raw = raw[: rng.randint(0, len(raw))]
        rows_before = WebhookEvent.objects.count()
        response = post(client, raw)
        assert response.status_code < 500, raw
        if response.status_code >= 400:
            assert WebhookEvent.objects.count() == rows_before
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead", "processing"]).exists()


# ---------------------------------------------------------------------------
# Dedup
# ---------------------------------------------------------------------------


def test_a_huge_download_id_is_stored_under_a_bounded_key(client):
    grab = {**fixture("Grab"), "downloadId": "X" * 5000}
    assert post(client, grab).status_code == 200
    assert post(client, grab).json()["duplicate"] is True
    assert len(WebhookEvent.objects.get().event_id) < 300


def test_unreadable_stored_credentials_refuse_webhooks_instead_of_accepting_all(client):
    settings_service.update({"lidarr_webhook_secret": "s3cret"})
    # The key the secret was written with is gone (a lost or mistyped key file).
    from settings_app.models import SystemSettings

    SystemSettings.objects.update(lidarr_webhook_secret="gcm1:AAAA:BBBB")
    settings_service.invalidate()
    response = post(client, fixture("Grab"))
    assert response.status_code == 503
    assert "SETTINGS_ENCRYPTION_KEY" in response.json()["error"]
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("value", ["²", "--1", "99999999999", True, 1.5, "12"])
def test_ids_that_are_not_32_bit_integers_read_as_missing(value):
    assert handlers._int(value) == (12 if value == "12" else None)


def multi_album_grab() -> dict:
    grab = fixture("Grab")
    first = grab["albums"][0]
    second = {**first, "id": first["id"] + 1, "mbId": "0b6b4ba0-d36f-47bd-b4ea-6a5b91842d29",
              "title": "Second Album"}  # fmt: skip
    grab["albums"] = [first, second]
    return grab


def download_for(grab: dict, album: dict) -> dict:
    download = fixture("Download")
    download["downloadId"] = grab["downloadId"]
    download["album"] = {**download["album"], "id": album["id"], "mbId": album["mbId"],
                         "title": album["title"]}  # fmt: skip
    download["trackFiles"] = [{**f, "id": f["id"] + album["id"]} for f in download["trackFiles"]]
    return download


def test_a_redelivery_is_a_duplicate_and_processed_once(client):
    job = make_job(lidarr_album_id=fixture("Grab")["albums"][0]["id"])
    first = post(client, fixture("Grab"))
    again = post(client, fixture("Grab"))
    assert again.json() == {"success": True, "eventId": first.json()["eventId"], "duplicate": True}
    assert WebhookEvent.objects.count() == 1
    job.refresh_from_db()
    assert job.lidarr_ref == fixture("Grab")["downloadId"].upper()


def test_multi_album_grab_then_one_download_per_album(client):
    grab = multi_album_grab()
    jobs = [make_job(lidarr_album_id=album["id"], target_mbid=album["mbId"],
                     subject=album["title"]) for album in grab["albums"]]  # fmt: skip
    assert post(client, grab).status_code == 200
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.lidarr_ref) == ("processing", grab["downloadId"].upper())
    for album in grab["albums"]:  # same downloadId, one Download per album: both kept
        assert "duplicate" not in post(client, download_for(grab, album)).json()
    assert WebhookEvent.objects.count() == 3
    assert {job.status for job in DownloadJob.objects.all()} == {"completed"}


def test_a_download_for_another_album_of_the_release_leaves_this_job_alone(client):
    grab = multi_album_grab()
    second = grab["albums"][1]
    job = make_job(lidarr_album_id=second["id"], target_mbid=second["mbId"])  # only album 2
    post(client, grab)
    post(client, download_for(grab, grab["albums"][0]))  # album 1 imported
    job.refresh_from_db()
    assert job.status == "processing"
    post(client, download_for(grab, second))
    job.refresh_from_db()
    assert job.status == "completed"


def test_a_late_grab_of_a_failed_release_does_not_relink_the_job(client):
    album = fixture("Grab")["albums"][0]
    job = make_job(status="processing", lidarr_album_id=album["id"], lidarr_ref="FIRST")
    post(client, {**fixture("DownloadFailure"), "downloadId": "FIRST"})
    post(client, {**fixture("Grab"), "downloadId": "SECOND"})  # Lidarr's next release
    post(client, {**fixture("Grab"), "downloadId": "FIRST"})  # a late copy of the first
    job.refresh_from_db()
    assert job.lidarr_ref == "SECOND"


def test_identical_bodies_without_identifiers_are_one_event_per_window(client):
    post(client, fixture("ImportFailure"))
    assert post(client, fixture("ImportFailure")).json()["duplicate"] is True
    later = timezone.now() + timedelta(seconds=services.NO_ID_WINDOW_SECONDS)
    assert services.event_key(fixture("ImportFailure"), later) != services.event_key(
        fixture("ImportFailure"), timezone.now()
    )


# ---------------------------------------------------------------------------
# Processing
# ---------------------------------------------------------------------------


def test_grab_links_by_album_id_then_mbid_then_artist_and_title(client):
    grab = fixture("Grab")
    album, artist = grab["albums"][0], grab["artist"]
    by_mbid = make_job(target_mbid=album["mbId"])
    post(client, grab)
    by_mbid.refresh_from_db()
    assert by_mbid.status == "processing" and by_mbid.lidarr_album_id == album["id"]
    other = {**grab, "downloadId": "ABC123", "albums": [{**album, "id": 999, "mbId": "x"}]}
    by_name = make_job(target_mbid="another", metadata={"artistName": artist["name"].upper(),
                                                       "albumTitle": album["title"]})  # fmt: skip
    post(client, other)
    by_name.refresh_from_db()
    assert by_name.lidarr_ref == "ABC123"


def test_download_before_its_grab_still_completes_and_the_late_grab_changes_nothing(client):
    grab = fixture("Grab")
    job = make_job(lidarr_album_id=grab["albums"][0]["id"])
    post(client, download_for(grab, grab["albums"][0]))
    job.refresh_from_db()
    assert job.status == "completed"
    post(client, grab)
    job.refresh_from_db()
    assert job.status == "completed"


def test_an_upgrade_is_recorded_not_treated_as_a_new_download(client):
    grab = fixture("Grab")
    upgrade = {**download_for(grab, grab["albums"][0]), "isUpgrade": True,
               "deletedFiles": [{"id": 1, "path": "/music/old.mp3"}]}  # fmt: skip
    response = post(client, upgrade)
    event = WebhookEvent.objects.get(pk=response.json()["eventId"])
    assert event.status == "processed" and "upgrade" in event.outcome
    assert DownloadJob.objects.count() == 0


def test_non_latin_names_round_trip(client):
    grab = fixture("Grab")
    grab["artist"]["name"] = "坂本龍一"
    grab["albums"][0].update(title="async – 非同期", id=4242, mbId="not-in-db")
    job = make_job(
        target_mbid="nope", metadata={"artistName": "坂本龍一", "albumTitle": "async – 非同期"}
    )
    post(client, grab)
    job.refresh_from_db()
    assert job.status == "processing"
    assert WebhookEvent.objects.get().payload["artist"]["name"] == "坂本龍一"


def test_the_test_button_body_is_stored_and_processed(client):
    body = {"artist": {"id": 1, "name": "Test Name", "path": "C:\\testpath",
                       "mbId": "aaaaa-aaa-aaaa-aaaaaa", "tags": ["test-tag"]},
            "albums": [{"id": 123, "title": "Test title"}], "eventType": "Test",
            "instanceName": "Lidarr", "applicationUrl": ""}  # fmt: skip
    response = post(client, body)
    assert WebhookEvent.objects.get(pk=response.json()["eventId"]).status == "processed"


def test_download_failures_count_attempts_and_give_up_at_the_limit(client):
    settings_service.update({"download_retry_attempts": 2})
    job = make_job(status="processing", lidarr_ref="FIRST")
    post(client, {**fixture("DownloadFailure"), "downloadId": "first"})
    job.refresh_from_db()
    assert (job.status, job.attempts, job.lidarr_ref, job.tried_releases) == (
        "processing", 1, None, ["FIRST"])  # fmt: skip
    DownloadJob.objects.filter(pk=job.pk).update(lidarr_ref="SECOND")  # Lidarr grabbed another
    post(client, {**fixture("DownloadFailure"), "downloadId": "SECOND"})
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("exhausted", 2)
    assert "Gave up after 2 failed attempts" in job.error


def test_album_delete_cancels_active_jobs_only(client):
    delete = fixture("AlbumDelete")
    active = make_job(lidarr_album_id=delete["album"]["id"], target_mbid="a")
    done = make_job(lidarr_album_id=delete["album"]["id"], target_mbid="b", status="completed")
    post(client, delete)
    active.refresh_from_db()
    done.refresh_from_db()
    assert active.status == "failed" and "deleted in Lidarr" in active.error
    assert done.status == "completed"


def test_health_and_health_restored_are_recorded(client):
    post(client, fixture("Health"))
    issue = LidarrHealthIssue.objects.get()
    assert issue.restored_at is None
    assert (
        client.get("/health").json()["lidarr"]["healthIssues"][0]["check_type"] == issue.check_type
    )
    post(client, fixture("HealthRestored"))
    issue.refresh_from_db()
    assert issue.restored_at is not None


def test_health_events_processed_out_of_order_end_in_the_newest_state():
    earlier = timezone.now() - timedelta(minutes=1)
    health = services.store_event(fixture("Health"), earlier)
    restored = services.store_event(fixture("HealthRestored"), timezone.now())
    services.process(restored.id)  # a second worker got to the later event first
    services.process(health.id)
    assert LidarrHealthIssue.objects.get().restored_at is not None  # stays restored


def test_import_failure_reconciles_with_the_lidarr_queue(client):
    lidarr = LidarrSimulator().start()
    try:
        settings_service.update({"lidarr_url": lidarr.url, "lidarr_api_key": lidarr.api_key})
        ours = make_job(status="processing", lidarr_ref="HASH1", target_mbid="m1")
        lidarr.add_queue_record("hash1", 10, "importFailed", ["Album match is not close enough"])
        lidarr.add_queue_record("HASH2", 11, "importBlocked", ["not ours"])
        lidarr.add_queue_record("HASH3", 12, "downloading")
        post(client, fixture("ImportFailure"))
        wait_for_background_publishes()
        ours.refresh_from_db()
        assert ours.attempts == 1 and "not close enough" in ours.error
        assert lidarr.removed == [{"id": 1, "blocklist": "true", "skipRedownload": "false"}]
    finally:
        lidarr.stop()


def test_replaying_every_event_in_any_order_changes_nothing(client):
    grab = multi_album_grab()
    for album in grab["albums"]:
        make_job(lidarr_album_id=album["id"], target_mbid=album["mbId"], subject=album["title"])
    failing = make_job(status="processing", lidarr_ref="FAILME", target_mbid="z")
    for body in [grab, *[download_for(grab, a) for a in grab["albums"]],
                 {**fixture("DownloadFailure"), "downloadId": "FAILME"}]:  # fmt: skip
        post(client, body)
    before = list(DownloadJob.objects.order_by("pk").values())
    ids = list(WebhookEvent.objects.values_list("pk", flat=True))
    for order in (ids[::-1], ids):
        services.replay(order)
        wait_for_background_publishes()
        for event_id in order:
            services.process(event_id)
    after = list(DownloadJob.objects.order_by("pk").values())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "updated_at"} for r in rows]  # noqa: E731
    assert strip(after) == strip(before)
    assert DownloadJob.objects.get(pk=failing.pk).attempts == 1


# ---------------------------------------------------------------------------
# Retries, dead events, sweep, purge
# ---------------------------------------------------------------------------


def test_a_failing_handler_retries_with_backoff_then_dies(client, settings, monkeypatch):
    settings.WEBHOOK_MAX_RETRIES = 3

    def broken(payload):
        raise RuntimeError("Lidarr exploded")

    monkeypatch.setitem(handlers.HANDLERS, "Grab", broken)
    event_id = post(client, fixture("Grab")).json()["eventId"]
    event = WebhookEvent.objects.get(pk=event_id)
    assert (event.status, event.retry_count) == ("failed", 1)
    assert "Lidarr exploded" in event.error
    first_delay = event.next_attempt_at - timezone.now()
    assert timedelta(seconds=20) < first_delay <= timedelta(seconds=30)
    assert services.process(event_id) is None  # not due yet
    for expected in ("failed", "dead"):
        due = timezone.now() - timedelta(seconds=1)
        WebhookEvent.objects.filter(pk=event_id).update(next_attempt_at=due)
        assert services.process(event_id) == expected
    event.refresh_from_db()
    assert (event.status, event.retry_count, event.processed) == ("dead", 3, False)
    monkeypatch.setitem(handlers.HANDLERS, "Grab", handlers.handle_grab)
    assert services.sweep() == 0  # dead events wait for an operator
    services.replay([event_id])
    wait_for_background_publishes()
    assert WebhookEvent.objects.get(pk=event_id).status == "processed"


def test_the_sweep_picks_up_lost_publishes_and_dead_workers_claims(client, settings):
    lost = WebhookEvent.objects.create(event_id="k1", source="lidarr", event_type="Test",
                                       payload=fixture("Test"))  # fmt: skip
    stale = WebhookEvent.objects.create(
        event_id="k2", source="lidarr", event_type="Test", payload=fixture("Test"),
        status="processing", claimed_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    busy = WebhookEvent.objects.create(
        event_id="k3", source="lidarr", event_type="Test", payload=fixture("Test"),
        status="processing", claimed_at=timezone.now(),
    )  # fmt: skip
    assert services.sweep() == 2
    wait_for_background_publishes()
    statuses = dict(WebhookEvent.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: "processed", stale.pk: "processed", busy.pk: "processing"}


def test_an_event_whose_worker_keeps_dying_ends_dead(settings):
    settings.WEBHOOK_MAX_RETRIES = 3
    event = WebhookEvent.objects.create(event_id="k", source="lidarr", event_type="Test",
                                        payload=fixture("Test"))  # fmt: skip
    for _ in range(3):  # claimed, then its worker is killed before finishing
        assert services.claim(event.pk) is not None
        WebhookEvent.objects.filter(pk=event.pk).update(
            claimed_at=timezone.now() - timedelta(hours=1)
        )
    assert services.claim(event.pk) is None
    event.refresh_from_db()
    assert (event.status, event.retry_count) == ("dead", 3)
    assert "worker died" in event.error
    assert services.replay([event.pk]) == 1  # an operator's replay gets fresh attempts
    event.refresh_from_db()
    assert (event.status, event.retry_count) == ("processed", 0)


def test_purge_removes_old_processed_events_and_keeps_dead_ones(settings):
    old = timezone.now() - timedelta(days=31)
    for key, status in [("a", "processed"), ("b", "ignored"), ("c", "dead"), ("d", "failed")]:
        WebhookEvent.objects.create(event_id=key, source="lidarr", event_type="Test", payload={},
                                    status=status, created_at=old)  # fmt: skip
    WebhookEvent.objects.create(event_id="new", source="lidarr", event_type="Test", payload={},
                                status="processed")  # fmt: skip
    assert services.purge() == 2
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {"c", "d", "new"}


# ---------------------------------------------------------------------------
# Admin and metrics
# ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("boss", "pw-123456")
    client.login(username="boss", password="pw-123456")
    return client


def test_admin_lists_searches_replays_and_resolves(admin_client, monkeypatch):
    grab = post(admin_client, fixture("Grab")).json()["eventId"]
    monkeypatch.setitem(handlers.HANDLERS, "Test", lambda payload: 1 / 0)
    broken = post(admin_client, fixture("Test")).json()["eventId"]
    page = admin_client.get("/admin/webhooks/webhookevent/").content.decode()
    assert "Last 24 hours" in page and "without authentication" in page
    found = admin_client.get("/admin/webhooks/webhookevent/", {"q": fixture("Grab")["downloadId"]})
    assert grab in found.content.decode() and broken not in found.content.decode()
    detail = admin_client.get(f"/admin/webhooks/webhookevent/{grab}/change/").content.decode()
    assert "qBittorrent" in detail  # the readable payload
    admin_client.post("/admin/webhooks/webhookevent/",
                      {"action": "mark_resolved", "_selected_action": [broken]})  # fmt: skip
    event = WebhookEvent.objects.get(pk=broken)
    assert event.status == "processed" and event.outcome == "resolved by boss"
    monkeypatch.setitem(handlers.HANDLERS, "Test", handlers.record_only)
    admin_client.post("/admin/webhooks/webhookevent/",
                      {"action": "replay_events", "_selected_action": [grab]})  # fmt: skip
    wait_for_background_publishes()
    assert WebhookEvent.objects.get(pk=grab).status == "processed"


def test_metrics_count_intake_and_processing_outcomes(client):
    accepted, processed = events_total("Grab", "accepted"), events_total("Grab", "processed")
    duplicate = events_total("Grab", "duplicate")
    post(client, fixture("Grab"))
    post(client, fixture("Grab"))
    assert events_total("Grab", "accepted") == accepted + 1
    assert events_total("Grab", "duplicate") == duplicate + 1
    assert events_total("Grab", "processed") == processed + 1
    text = client.get("/metrics").content.decode()
    assert 'kima_webhook_processing_duration_seconds_count{event_type="Grab"}' in text


def test_a_spooled_event_the_database_refuses_is_set_aside_and_the_rest_drained(
    settings, tmp_path, monkeypatch
):
    settings.DATA_DIR = str(tmp_path)
    monkeypatch.setattr(spool, "_process_file", None)
    now, verified = timezone.now(), {"verified": True}
    spool.append({**fixture("Grab"), "downloadId": "A"}, now, verified)
    spool.append({"eventType": "Grab", "downloadId": "BAD", "x": float("inf")}, now, verified)
    with spool.pending_files()[0].open("ab") as handle:
        handle.write(b'{"torn": "\xff\xfe\n')  # a line cut inside a UTF-8 character
    spool.append({**fixture("Grab"), "downloadId": "C"}, now, verified)
    assert spool.drain() == 2
    assert spool.pending_files() == []
    assert sorted(WebhookEvent.objects.values_list("payload__downloadId", flat=True)) == ["A", "C"]
    rejected = list((tmp_path / "webhook-spool").glob("rejected-*.jsonl"))
    assert len(rejected) == 1 and '"BAD"' in rejected[0].read_text()


def test_a_job_lidarr_grabbed_before_acquisition_started_can_still_fall_back(client, monkeypatch):
    settings_service.update({"download_retry_attempts": 1, "lidarr_api_key": "lidarr-key",
                             "slskd_url": "http://slskd:5030", "slskd_api_key": "k" * 16,
                             "download_source": "lidarr",
                             "primary_failure_fallback": "soulseek"})  # fmt: skip
    published = []
    monkeypatch.setattr("downloads.acquisition._publish_acquire", published.append)
    grab = fixture("Grab")
    job = make_job(lidarr_album_id=grab["albums"][0]["id"])  # still pending
    post(client, grab)
    post(client, {**fixture("DownloadFailure"), "downloadId": grab["downloadId"]})
    job.refresh_from_db()
    assert (job.status, job.metadata["currentSource"]) == ("processing", "soulseek")
    assert published == [job.pk]
