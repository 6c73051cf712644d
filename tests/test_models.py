"""Models on Kima's tables behave as Kima's rows do (runs on PostgreSQL and on SQLite)."""

from __future__ import annotations

import re
from datetime import UTC

import bcrypt
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from accounts.models import Role, User
from downloads.models import DiscoveryBatch, DownloadJob
from kima.db import JSONMerge, new_cuid
from settings_app.models import SystemSettings
from tests.kima_legacy import node_bcrypt

pytestmark = pytest.mark.django_db


def make_user(username: str = "listener", password: str = "pass-1234", **extra) -> User:
    return User.objects.create_user(username, password, **extra)


def make_job(user: User, **fields) -> DownloadJob:
    defaults = {"subject": "Artist - Album", "type": "album", "status": "pending"}
    return DownloadJob.objects.create(user=user, **{**defaults, **fields})


def test_a_kima_node_bcrypt_hash_verifies():
    user = User.objects.create(username="kima", password=node_bcrypt("s3cret"))
    assert user.check_password("s3cret")
    assert not user.check_password("wrong")


def test_a_password_set_here_is_plain_bcrypt_and_signs_old_tokens_out():
    user = make_user(password="first")
    version = user.token_version
    user.set_password("second")
    user.save()
    user.refresh_from_db()
    assert user.password.startswith("$2b$10$")
    assert bcrypt.checkpw(b"second", user.password.encode())
    assert user.token_version == version + 1


def test_long_passwords_are_cut_at_72_bytes_as_node_does():
    long_password = "x" * 80
    user = make_user(password=long_password)
    assert user.check_password("x" * 72)


def test_a_malformed_stored_hash_is_a_failed_login():
    user = User.objects.create(username="broken", password="$2a$10$not-a-hash")
    assert not user.check_password("anything")


def test_createsuperuser_creates_an_admin_user(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "boss-password-1")
    call_command("createsuperuser", interactive=False, username="boss", verbosity=0)
    boss = User.objects.get(username="boss")
    assert boss.role == Role.ADMIN
    assert boss.is_staff and boss.is_superuser
    assert boss.check_password("boss-password-1")


def test_role_user_is_not_staff():
    user = make_user()
    assert not user.is_staff
    assert not user.has_module_perms("downloads")


def test_new_ids_look_like_kima_cuids():
    ids = {new_cuid() for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"c[0-9a-z]{24}", value) for value in ids)
    assert re.fullmatch(r"c[0-9a-z]{24}", make_user().id)


def test_timestamps_are_aware_utc_with_millisecond_precision():
    job = make_job(make_user())
    job.refresh_from_db()
    assert job.created_at.tzinfo == UTC
    assert job.updated_at.microsecond % 1000 == 0
    assert DownloadJob.objects.filter(created_at__lte=job.created_at).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_columns_have_kima_types():
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name, data_type, datetime_precision FROM information_schema.columns
               WHERE table_name = 'DownloadJob' AND column_name IN ('createdAt', 'triedReleases')"""
        )
        found = {name: (kind, precision) for name, kind, precision in cursor.fetchall()}
    assert found == {
        "createdAt": ("timestamp without time zone", 3),
        "triedReleases": ("ARRAY", None),
    }


def test_tried_releases_round_trip():
    job = make_job(make_user(), tried_releases=["release-1", "peer/folder ø"])
    job.refresh_from_db()
    assert job.tried_releases == ["release-1", "peer/folder ø"]
    fresh = make_job(make_user("other"))
    fresh.refresh_from_db()
    assert fresh.tried_releases == []


def test_the_settings_row_gets_kima_defaults():
    row = SystemSettings.load()
    row.refresh_from_db()
    assert row.id == "default"
    assert (row.download_source, row.primary_failure_fallback) == ("soulseek", "none")
    assert (row.max_concurrent_downloads, row.soulseek_concurrent_downloads) == (3, 4)
    assert row.lidarr_url == "http://localhost:8686"
    assert SystemSettings.load().pk == row.pk
    assert SystemSettings.objects.count() == 1


@pytest.mark.parametrize(
    "first, second",
    [
        ({"target_mbid": "m1"}, {"target_mbid": "m1", "status": "processing"}),
        ({"target_mbid": None}, {"target_mbid": None}),  # NULLs must not slip past
    ],
)
def test_one_active_job_per_user_album_and_batch(first, second):
    user = make_user()
    make_job(user, **first)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_job(user, **second)


def test_active_uniqueness_leaves_room_for_what_is_allowed():
    user, other = make_user(), make_user("other")
    batch = DiscoveryBatch.objects.create(
        user=user, week_start="2026-01-05T00:00Z", target_song_count=10
    )
    make_job(user, target_mbid="m1")
    make_job(other, target_mbid="m1")  # another user
    make_job(user, target_mbid="m1", discovery_batch=batch)  # another batch
    make_job(user, target_mbid="m1", status="completed")  # finished jobs do not count
    make_job(user, target_mbid="m1", status="failed")
    assert DownloadJob.objects.count() == 5


def test_a_kima_admin_logs_into_the_admin(client):
    User.objects.create(username="admin", password=node_bcrypt("pw-admin"), role="admin")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "pw-admin"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_plain_user_cannot_open_the_admin(client):
    User.objects.create(username="u", password=node_bcrypt("pw-user"))
    response = client.post("/admin/login/?next=/admin/", {"username": "u", "password": "pw-user"})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_metadata_changes_merge_in_the_database():
    job = make_job(make_user(), metadata={"artistName": "Radiohead", "retryAt": "soon",
                                          "sourceAttempts": {"lidarr": 1}})  # fmt: skip
    stale_copy = DownloadJob.objects.get(pk=job.pk)
    # Two writers that each read the job before the other wrote: both keys survive.
    DownloadJob.objects.filter(pk=job.pk).update(metadata=JSONMerge("metadata", {"a": 1}))
    DownloadJob.objects.filter(pk=stale_copy.pk).update(
        metadata=JSONMerge("metadata", {"b": [1, 2], "retryAt": None,
                                        "sourceAttempts": {"lidarr": 1, "soulseek": 2}}))  # fmt: skip
    job.refresh_from_db()
    assert job.metadata == {"artistName": "Radiohead", "a": 1, "b": [1, 2],
                            "sourceAttempts": {"lidarr": 1, "soulseek": 2}}  # fmt: skip


def test_metadata_merge_starts_from_an_empty_document():
    job = make_job(make_user(), metadata=None)
    DownloadJob.objects.filter(pk=job.pk).update(
        metadata=JSONMerge("metadata", {"statusText": "it's \"quoted\"", "gone": None}))  # fmt: skip
    job.refresh_from_db()
    assert job.metadata == {"statusText": 'it\'s "quoted"'}
