"""Download jobs: the REST API, authentication, isolation, the lifecycle and its
database guard, notifications, discovery batches, stale jobs, retention, admin."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.authentication import issue_token
from accounts.models import ApiKey, User
from downloads import batches, services, stale
from downloads.models import DiscoveryBatch, DownloadJob, Notification
from settings_app import services as settings_service
from tests.concurrency import all_at_once
from tests.simulators.lidarr import LidarrSimulator

pytestmark = pytest.mark.django_db

ALBUM = {"mbid": "b1392450-e666-3926-a536-22c65f834433", "subject": "Radiohead - OK Computer",
         "artistName": "Radiohead", "albumTitle": "OK Computer"}  # fmt: skip


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", "pw-123456")


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", "pw-123456")


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")
    return client


def make_job(user: User, **fields) -> DownloadJob:
    fields.setdefault("subject", "Artist - Album")
    fields.setdefault("type", "album")
    fields.setdefault("status", "pending")
    fields.setdefault("target_mbid", f"mbid-{DownloadJob.objects.count()}")
    return DownloadJob.objects.create(user=user, **fields)


# ---------------------------------------------------------------------------
# Requesting albums
# ---------------------------------------------------------------------------


def test_requesting_an_album_is_idempotent_per_user_album_and_batch(alice, bob):
    api = api_for(alice)
    first = api.post("/api/downloads", ALBUM, format="json")
    assert first.status_code == 201
    body = first.json()
    assert (body["status"], body["duplicate"], body["targetMbid"]) == (
        "pending",
        False,
        ALBUM["mbid"],
    )
    again = api.post("/api/downloads/", ALBUM, format="json")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["duplicate"]) == (body["id"], True)
    # Another user's request for the same album is that user's own job.
    theirs = api_for(bob).post("/api/downloads", ALBUM, format="json")
    assert theirs.status_code == 201 and theirs.json()["id"] != body["id"]
    batch = batches.create(alice, []).batch
    in_batch = api.post("/api/downloads", {**ALBUM, "discoveryBatchId": batch.pk}, format="json")
    assert in_batch.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_create_exactly_one_job(alice):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")

    def request(_: int) -> tuple[int, str]:
        response = api_for(alice).post("/api/downloads", ALBUM, format="json")
        return response.status_code, response.json()["id"]

    results = all_at_once(request, 30)
    assert DownloadJob.objects.count() == 1
    assert sorted(code for code, _ in results) == [200] * 29 + [201]
    assert {job_id for _, job_id in results} == {DownloadJob.objects.get().pk}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "x"}, "mbid"),
        ({"mbid": "m"}, "subject"),
        ({**ALBUM, "type": "artist"}, "type"),
        ({**ALBUM, "downloadType": "spotify"}, "downloadType"),
        ({**ALBUM, "mbid": "   "}, "mbid"),
        ({**ALBUM, "mbid": "x" * 101}, "mbid"),
        ({**ALBUM, "discoveryBatchId": "nope"}, "discoveryBatchId"),
    ],
)
def test_bad_requests_are_400_with_the_field_named(alice, body, field):
    response = api_for(alice).post("/api/downloads", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert DownloadJob.objects.count() == 0


def test_another_users_batch_cannot_be_used(alice, bob):
    batch = batches.create(bob, []).batch
    response = api_for(alice).post("/api/downloads", {**ALBUM, "discoveryBatchId": batch.pk},
                                   format="json")  # fmt: skip
    assert response.status_code == 400


# ---------------------------------------------------------------------------
# Listing and isolation
# ---------------------------------------------------------------------------


def test_list_filters_and_caps_the_page_size(alice, bob):
    for n in range(5):
        make_job(alice, status="failed" if n % 2 else "pending")
    make_job(alice, cleared=True, status="completed")
    make_job(alice, metadata={"downloadType": "discovery"})
    make_job(bob)
    api = api_for(alice)
    body = api.get("/api/downloads").json()
    assert body["count"] == 5
    assert api.get("/api/downloads", {"status": "failed"}).json()["count"] == 2
    assert api.get("/api/downloads", {"includeCleared": "true"}).json()["count"] == 6
    assert api.get("/api/downloads", {"includeDiscovery": "true"}).json()["count"] == 6
    paged = api.get("/api/downloads", {"pageSize": 2}).json()
    assert len(paged["results"]) == 2 and paged["next"]
    assert api.get("/api/downloads", {"pageSize": 100000}).status_code == 200
    assert api.get("/api/downloads", {"status": "bogus"}).status_code == 400


def test_every_endpoint_hides_other_users_jobs(alice, bob):
    theirs = make_job(bob, status="failed")
    api = api_for(alice)
    for method, path in [("get", ""), ("post", "/cancel"), ("post", "/retry"), ("post", "/clear"),
                         ("delete", "")]:  # fmt: skip
        response = getattr(api, method)(f"/api/downloads/{theirs.pk}{path}")
        assert response.status_code == 404, (method, path)
    api.delete("/api/downloads/clear-all")
    theirs.refresh_from_db()
    assert theirs.cleared is False and DownloadJob.objects.filter(pk=theirs.pk).exists()
    batch = batches.create(bob, []).batch
    assert api.get(f"/api/discover/batches/{batch.pk}").status_code == 404


def test_all_three_authentication_methods(alice, client):
    job = make_job(alice)
    path = f"/api/downloads/{job.pk}"
    assert APIClient().get(path).status_code == 401
    key = ApiKey.objects.create(user=alice, key="alice-key", name="phone",
                                last_used=timezone.now() - timedelta(days=3))  # fmt: skip
    by_key = APIClient()
    by_key.credentials(HTTP_X_API_KEY="alice-key")
    assert by_key.get(path).status_code == 200
    key.refresh_from_db()
    assert timezone.now() - key.last_used < timedelta(minutes=1)
    assert api_for(alice).get(path).status_code == 200
    client.login(username="alice", password="pw-123456")
    assert client.get(path).status_code == 200
    stale_token = issue_token(alice)
    alice.token_version += 1
    alice.save()
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {stale_token}")
    assert old.get(path).status_code == 401
    wrong_key = APIClient()
    wrong_key.credentials(HTTP_X_API_KEY="nope")
    assert wrong_key.get(path).status_code == 401


# ---------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------


def test_legal_transitions_record_their_time_and_text(alice):
    job = make_job(alice)
    assert services.start(job, "lidarr")
    job.refresh_from_db()
    assert (job.status, job.metadata["currentSource"]) == ("processing", "lidarr")
    assert job.started_at and job.metadata["stateSince"] and job.metadata["statusText"]
    assert services.complete(job)
    job.refresh_from_db()
    assert (job.status, job.completed_at is not None) == ("completed", True)
    direct = make_job(alice)
    assert services.fail(direct, "no sources")  # pending may finish directly


@pytest.mark.parametrize("final", ["completed", "failed", "exhausted"])
def test_finished_jobs_never_move_again(alice, final):
    job = make_job(alice, status=final)
    for change in (lambda: services.start(job, "lidarr"), lambda: services.complete(job),
                   lambda: services.fail(job, "x"), lambda: services.exhaust(job, "x")):  # fmt: skip
        assert change() is False
    with pytest.raises(services.TransitionNotAllowed):
        services.cancel(job)
    # The database refuses it too, whatever code tries.
    with pytest.raises(DatabaseError), transaction.atomic():
        DownloadJob.objects.filter(pk=job.pk).update(status="pending")
    job.refresh_from_db()
    assert job.status == final


def test_cancel_retry_clear_and_delete_through_the_api(alice):
    api = api_for(alice)
    job = make_job(alice)
    assert api.post(f"/api/downloads/{job.pk}/retry").status_code == 409
    assert api.delete(f"/api/downloads/{job.pk}").status_code == 409
    cancelled = api.post(f"/api/downloads/{job.pk}/cancel").json()
    assert (cancelled["status"], cancelled["error"]) == ("failed", services.CANCELLED)
    assert api.post(f"/api/downloads/{job.pk}/cancel").status_code == 409
    retried = api.post(f"/api/downloads/{job.pk}/retry")
    assert retried.status_code == 200
    new = retried.json()
    assert new["id"] != job.pk and new["status"] == "pending"
    job.refresh_from_db()
    assert job.cleared is True
    assert api.post(f"/api/downloads/{new['id']}/clear").json()["cleared"] is True
    assert api.delete(f"/api/downloads/{job.pk}").status_code == 204
    make_job(alice, status="completed")
    body = api.delete("/api/downloads/clear-all").json()
    assert body == {"success": True, "deleted": 1, "keptActive": 1}


def test_failed_attempts_are_remembered_and_exhaust_the_job(alice):
    job = make_job(alice, status="processing")
    assert services.record_attempt(job, "release-a", "bad rip", retry_limit=2)
    job.refresh_from_db()
    assert not services.record_attempt(job, "release-a", "bad rip", retry_limit=2)  # a replay
    assert services.record_attempt(job, "release-b", "stalled", retry_limit=2)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.tried_releases) == ("exhausted", 2, ["release-a",
                                                                               "release-b"])  # fmt: skip


def test_progress_is_a_percentage(alice):
    job = make_job(alice, status="processing")
    services.record_progress(job, tracks_done=3, tracks_total=12)
    job.refresh_from_db()
    assert services.progress_percent(job) == 25
    services.record_progress(job, bytes_done=750, bytes_total=1000)
    job.refresh_from_db()
    assert api_for(alice).get(f"/api/downloads/{job.pk}").json()["progress"] == 75


def test_one_notification_per_finished_job(alice):
    done, failed = make_job(alice), make_job(alice)
    services.complete(done)
    services.complete(done)
    services.fail(failed, "No releases found")
    services.fail(failed, "again")
    notes = Notification.objects.order_by("type")
    assert [(n.type, n.metadata["jobId"]) for n in notes] == [
        ("download_complete", done.pk), ("download_failed", failed.pk)]  # fmt: skip
    assert "No releases found" in notes[1].message


def test_finishing_counts_in_metrics(alice):
    labels = {"source": "lidarr", "status": "completed"}
    before = REGISTRY.get_sample_value("kima_download_jobs_total", labels) or 0
    job = make_job(alice)
    services.start(job, "lidarr")
    job.refresh_from_db()
    services.complete(job)
    assert REGISTRY.get_sample_value("kima_download_jobs_total", labels) == before + 1


# ---------------------------------------------------------------------------
# Discovery batches
# ---------------------------------------------------------------------------


def test_a_batch_is_created_with_its_jobs_skipping_active_albums(alice):
    make_job(alice, target_mbid="already")
    albums = [{"mbid": m, "subject": f"Album {m}"} for m in ("a", "b", "already")]
    response = api_for(alice).post("/api/discover/batches", {"albums": albums}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["totalAlbums"], body["skipped"], len(body["jobIds"])) == (2, ["already"], 2)
    for job_id in body["jobIds"]:
        services.complete(DownloadJob.objects.get(pk=job_id))
    status = api_for(alice).get(f"/api/discover/batches/{body['id']}").json()
    assert (status["status"], status["completedAlbums"], status["progress"]["percent"]) == (
        "completed", 2, 100)  # fmt: skip


def test_a_batch_of_only_failures_fails(alice):
    created = batches.create(alice, [{"mbid": "x", "subject": "X"}])
    services.fail(created.jobs[0], "nothing found")
    created.batch.refresh_from_db()
    assert (created.batch.status, created.batch.failed_albums) == ("failed", 1)


def test_batch_updates_report_a_status_mismatch_distinctly(alice):
    batch = batches.create(alice, [{"mbid": "x", "subject": "X"}]).batch
    result = batches.update_batch(batch.pk, {"error_message": "x"}, expected_status="scanning")
    assert result.outcome is batches.UpdateOutcome.STATUS_MISMATCH and result.retries == 0
    assert result.status == "downloading"
    ok = batches.update_batch(batch.pk, {"error_message": "y"}, expected_status="downloading")
    assert ok.ok and ok.version == batch.version + 1
    missing = batches.update_batch("nope", {"error_message": "y"})
    assert missing.outcome is batches.UpdateOutcome.NOT_FOUND


@pytest.mark.django_db(transaction=True)
def test_concurrent_finishes_keep_batch_counts_exact_and_complete_it_once(alice, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    # Only the finishers below may move these jobs (acquisition would fail them: no source).
    monkeypatch.setattr(services, "_acquire_soon", lambda job: None)
    albums = [{"mbid": f"m{n}", "subject": f"Album {n}"} for n in range(24)]
    created = batches.create(alice, albums)

    def finish(n: int) -> None:
        with transaction.atomic():
            job = created.jobs[n]
            services.complete(job) if n % 3 else services.fail(job, "nothing found")

    all_at_once(finish, len(created.jobs))
    batch = DiscoveryBatch.objects.get(pk=created.batch.pk)
    assert (batch.status, batch.completed_albums, batch.failed_albums) == ("completed", 16, 8)
    assert batch.completed_at is not None


# ---------------------------------------------------------------------------
# Stale jobs and retention
# ---------------------------------------------------------------------------


def aged(job: DownloadJob, minutes: int, key: str = "stateSince") -> DownloadJob:
    moment = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    DownloadJob.objects.filter(pk=job.pk).update(metadata={**(job.metadata or {}), key: moment})
    job.refresh_from_db()
    return job


def test_stale_pending_and_searching_jobs_fail_by_time_in_state(alice, settings):
    settings.DOWNLOAD_PENDING_TIMEOUT_MINUTES = 30
    settings.DOWNLOAD_SEARCH_TIMEOUT_MINUTES = 30
    old_pending, fresh_pending = aged(make_job(alice), 31), aged(make_job(alice), 5)
    searching = aged(make_job(alice, status="processing", metadata={"currentSource": "lidarr"}), 31)
    assert stale.check() == {"pending": 1, "searching": 1, "importing": 0, "extended": 0}
    statuses = dict(DownloadJob.objects.values_list("pk", "status"))
    assert statuses[old_pending.pk] == "failed" and statuses[fresh_pending.pk] == "pending"
    assert statuses[searching.pk] == "failed"


def test_jobs_waiting_for_a_slot_or_for_an_unreachable_source_are_not_stale(alice, settings):
    settings.DOWNLOAD_PENDING_TIMEOUT_MINUTES = 30
    settings.DOWNLOAD_SEARCH_TIMEOUT_MINUTES = 30
    queued = aged(make_job(alice, metadata={"sources": ["soulseek"]}), 300)  # admission waits
    waiting = aged(make_job(alice, status="processing", metadata={
        "currentSource": "soulseek", "retryAt": timezone.now().isoformat()}), 300)  # fmt: skip
    assert stale.check() == {"pending": 0, "searching": 0, "importing": 0, "extended": 0}
    statuses = dict(DownloadJob.objects.values_list("pk", "status"))
    assert (statuses[queued.pk], statuses[waiting.pk]) == ("pending", "processing")


def test_a_search_timeout_with_a_fallback_left_moves_to_the_fallback(alice, settings, monkeypatch):
    settings.DOWNLOAD_SEARCH_TIMEOUT_MINUTES = 30
    published = []
    monkeypatch.setattr("downloads.acquisition._publish_acquire", published.append)
    job = aged(make_job(alice, status="processing", metadata={
        "currentSource": "lidarr", "sources": ["lidarr", "soulseek"], "sourcesTried": []}), 31)  # fmt: skip
    stale.check()
    job.refresh_from_db()
    assert (job.status, job.metadata["currentSource"]) == ("processing", "soulseek")
    assert published == [job.pk]


def test_a_job_that_moved_while_the_stale_check_looked_is_left_alone(alice, settings,
                                                                     monkeypatch):  # fmt: skip
    settings.DOWNLOAD_IMPORT_TIMEOUT_MINUTES = 60
    settings_service.update({"lidarr_enabled": False})
    job = aged(make_job(alice, status="processing", lidarr_ref="X"), 600, "grabbedAt")
    real_queue = stale.lidarr_queue

    def queue_while_a_grab_arrives():  # the stale check asks Lidarr; a new Grab lands
        services.update_active(job, {"grabbedAt": timezone.now().isoformat()}, lidarr_ref="Y")
        return real_queue()

    monkeypatch.setattr(stale, "lidarr_queue", queue_while_a_grab_arrives)
    stale.check()
    job.refresh_from_db()
    assert (job.status, job.lidarr_ref) == ("processing", "Y")


def test_grabbed_jobs_are_judged_when_lidarr_was_switched_off(alice, settings):
    settings.DOWNLOAD_IMPORT_TIMEOUT_MINUTES = 60
    settings_service.update({"lidarr_enabled": False})
    job = aged(make_job(alice, status="processing", lidarr_ref="X"), 600, "grabbedAt")
    stale.check()
    job.refresh_from_db()
    assert job.status == "failed"


def test_grabbed_jobs_are_extended_while_lidarr_shows_progress_but_not_forever(alice, settings):
    settings.DOWNLOAD_IMPORT_TIMEOUT_MINUTES = 60
    settings.DOWNLOAD_MAX_EXTENSION_MINUTES = 120
    lidarr = LidarrSimulator().start()
    try:
        settings_service.update({"lidarr_url": lidarr.url, "lidarr_api_key": lidarr.api_key})
        moving = aged(make_job(alice, status="processing", lidarr_ref="MOVING"), 90, "grabbedAt")
        too_long = aged(make_job(alice, status="processing", lidarr_ref="SLOW"), 200, "grabbedAt")
        stuck = aged(make_job(alice, status="processing", lidarr_ref="GONE"), 90, "grabbedAt")
        for ref in ("moving", "slow"):
            record = lidarr.add_queue_record(ref, 1, "downloading")
            record.update(size=1000, sizeleft=400)
        result = stale.check()
        assert (result["extended"], result["importing"]) == (1, 2)
        statuses = dict(DownloadJob.objects.values_list("pk", "status"))
        assert statuses[moving.pk] == "processing"
        assert statuses[too_long.pk] == statuses[stuck.pk] == "failed"
    finally:
        lidarr.stop()


def test_nothing_is_failed_while_lidarr_is_unreachable(alice, settings):
    settings.DOWNLOAD_IMPORT_TIMEOUT_MINUTES = 60
    settings_service.update({"lidarr_url": "http://127.0.0.1:9", "lidarr_api_key": "k"})
    job = aged(make_job(alice, status="processing", lidarr_ref="X"), 600, "grabbedAt")
    stale.check()
    job.refresh_from_db()
    assert job.status == "processing"


def test_retention_purges_old_finished_work_only(alice):
    old = timezone.now() - timedelta(days=40)
    finished = make_job(alice, status="completed", completed_at=old)
    active = make_job(alice)
    DownloadJob.objects.filter(pk=active.pk).update(created_at=old, updated_at=old)
    recent = make_job(alice, status="failed", completed_at=timezone.now())
    assert services.purge_finished(timezone.now() - timedelta(days=30)) == 1
    remaining = set(DownloadJob.objects.values_list("pk", flat=True))
    assert remaining == {active.pk, recent.pk} and finished.pk not in remaining
    batch = batches.create(alice, []).batch
    DiscoveryBatch.objects.filter(pk=batch.pk).update(status="completed",
                                                      completed_at=timezone.now() - timedelta(days=61))  # fmt: skip
    assert batches.purge_finished(timezone.now() - timedelta(days=60)) == 1


# ---------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------


def test_admin_lists_jobs_with_progress_and_retries_and_cancels(client, alice):
    User.objects.create_superuser("boss", "pw-123456")
    client.login(username="boss", password="pw-123456")
    running = make_job(alice, status="processing", metadata={"currentSource": "soulseek",
                                                            "tracksDone": 1, "tracksTotal": 4})  # fmt: skip
    failed = make_job(alice, status="failed", error="nothing")
    page = client.get("/admin/downloads/downloadjob/", {"source": "soulseek"}).content.decode()
    assert '<progress max="100" value="25"' in page and failed.subject in page
    client.post("/admin/downloads/downloadjob/",
                {"action": "cancel_jobs", "_selected_action": [running.pk, failed.pk]})  # fmt: skip
    running.refresh_from_db()
    assert running.status == "failed" and running.error == services.CANCELLED
    client.post("/admin/downloads/downloadjob/",
                {"action": "retry_jobs", "_selected_action": [failed.pk]})  # fmt: skip
    assert DownloadJob.objects.filter(status="pending", metadata__retryOf=failed.pk).exists()
    batch = batches.create(alice, [{"mbid": "q", "subject": "Batch Album"}]).batch
    detail = client.get(f"/admin/downloads/discoverybatch/{batch.pk}/change/").content.decode()
    assert "Batch Album" in detail


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_hands_acquisitions_to_a_thread(alice, monkeypatch):
    # On the embedded default a published task runs where it is published: the dispatcher
    # must not run a long Soulseek download inside the scheduler's thread.
    from downloads import acquisition, tasks
    from kima.tasks import wait_for_background_publishes

    wait_for_background_publishes()  # earlier tests' work is done before the stand-in
    monkeypatch.setattr(services, "_acquire_soon", lambda job: None)
    released, outcomes = threading.Event(), {}

    def acquire(job_id: str) -> None:
        outcomes[job_id] = released.wait(10)

    monkeypatch.setattr(acquisition, "acquire", acquire)
    job = make_job(alice)
    assert tasks.dispatch() == 1
    released.set()  # only once the dispatcher has returned
    wait_for_background_publishes()
    assert outcomes == {job.pk: True}
