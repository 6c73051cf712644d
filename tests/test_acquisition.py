"""Acquisition in process, against the Lidarr and slskd simulators: source policy,
Soulseek folder choice and download, the Lidarr hand-over, fallback, attempt limits,
the failed-peer blocklist and unreachable sources. End-to-end runs with a real worker
and real webhooks are in test_acquisition_system.py."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import User
from downloads import acquisition, services, soulseek, soulseek_cache
from downloads.models import DownloadJob
from kima.clients.musicbrainz import MusicBrainzClient
from kima.db import JSONMerge
from kima.locks import Lock, LockNotAcquired
from settings_app import services as settings_service
from tests.simulators.lidarr import LidarrSimulator
from tests.simulators.musicbrainz import MusicBrainzSimulator
from tests.simulators.slskd import SlskdSimulator

pytestmark = pytest.mark.django_db

TRACKS = [f"Track {n}" for n in range(1, 11)]


@pytest.fixture(autouse=True)
def musicbrainz(settings):
    simulator = MusicBrainzSimulator().start()
    settings.MUSICBRAINZ_URL = simulator.url
    settings.MUSICBRAINZ_INTERVAL = 0.05
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def fast(settings, tmp_path, monkeypatch):
    settings.SETTINGS_ENCRYPTION_KEY = "acquisition-tests-key-0123456789"
    settings.SLSKD_SEARCH_SECONDS = 5
    settings.SLSKD_TRANSFER_SECONDS = 5
    settings.SLSKD_POLL_SECONDS = 0.05
    settings.LIDARR_REFRESH_POLL_SECONDS = 0.1
    settings.REDIS_URL = ""
    for field in settings_service.FIELDS:
        monkeypatch.delenv(field.env, raising=False)
    settings_service.invalidate()
    yield
    settings_service.invalidate()


@pytest.fixture
def slskd(tmp_path):
    simulator = SlskdSimulator(downloads_dir=tmp_path / "downloads").start()
    yield simulator
    simulator.stop()


@pytest.fixture
def lidarr():
    simulator = LidarrSimulator()
    simulator.setup_library()
    simulator.start()
    simulator.add_album("rg-1", "OK Computer", "Radiohead", "ar-1", tracks=10)
    yield simulator
    simulator.stop()


def use_slskd(slskd, tmp_path, **more) -> None:
    settings_service.update({"slskd_url": slskd.url, "slskd_api_key": slskd.api_key,
                             "soulseek_download_path": str(tmp_path / "downloads"),
                             "music_path": str(tmp_path / "music"), "download_source": "soulseek",
                             "lidarr_enabled": False, **more})  # fmt: skip


def use_lidarr(lidarr, **more) -> None:
    settings_service.update({"lidarr_enabled": True, "lidarr_url": lidarr.url,
                             "lidarr_api_key": lidarr.api_key, **more})  # fmt: skip


def due(job: DownloadJob) -> str:
    """Make `job`'s scheduled retry due now (as if its wait had passed); its id."""
    DownloadJob.objects.filter(pk=job.pk).update(
        metadata=JSONMerge("metadata", {"retryAt": timezone.now().isoformat()}))  # fmt: skip
    return job.pk


def request(mbid: str = "rg-1", artist: str = "Radiohead", album: str = "OK Computer"):
    user = User.objects.first() or User.objects.create_user("listener", "pw-123456")
    job, _ = services.request_album(user, services.AlbumRequest(
        mbid=mbid, subject=f"{artist} - {album}", artist_name=artist, album_title=album))  # fmt: skip
    return job


# ---------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slsk", "lidarr", "source", "fallback", "mbid", "expected"),
    [
        (False, False, "soulseek", "none", True, []),
        (True, False, "lidarr", "lidarr", True, ["soulseek"]),
        (False, True, "soulseek", "soulseek", True, ["lidarr"]),
        (False, True, "lidarr", "none", False, []),  # Lidarr needs an MBID
        (True, True, "soulseek", "none", True, ["soulseek"]),
        (True, True, "soulseek", "lidarr", True, ["soulseek", "lidarr"]),
        (True, True, "lidarr", "soulseek", True, ["lidarr", "soulseek"]),
        (True, True, "lidarr", "soulseek", False, ["soulseek"]),
    ],
)
def test_source_policy(slsk, lidarr, source, fallback, mbid, expected):
    settings_service.update({
        "slskd_url": "http://slskd:5030" if slsk else None, "slskd_api_key": "k" if slsk else "",
        "lidarr_enabled": lidarr, "lidarr_api_key": "k" if lidarr else "",
        "download_source": source,
        "primary_failure_fallback": fallback if fallback != source else "none",
    })  # fmt: skip
    assert acquisition.plan(settings_service.effective(), mbid) == expected


def test_folders_group_disc_subfolders_and_rank_flac_complete_first():
    responses = [
        {"username": "mp3-peer", "hasFreeUploadSlot": True, "files": [
            {"filename": f"@@a\\Radiohead\\OK Computer\\{n}.mp3", "size": 9, "bitRate": 320}
            for n in range(10)]},
        {"username": "flac-peer", "hasFreeUploadSlot": False, "queueLength": 3, "files": [
            {"filename": f"@@b\\Music\\OK Computer\\CD{d}\\{n}.flac", "size": 9}
            for d in (1, 2) for n in range(5)] + [{"filename": "@@b\\Music\\OK Computer\\cover.jpg"}]},
        {"username": "partial", "hasFreeUploadSlot": True, "files": [
            {"filename": "@@c\\OK Computer\\1.flac", "size": 9}]},
    ]  # fmt: skip
    folders = soulseek.group_folders(responses)
    assert {(f.username, f.path, len(f.files)) for f in folders} == {
        ("mp3-peer", "@@a\\Radiohead\\OK Computer", 10),
        ("flac-peer", "@@b\\Music\\OK Computer", 10),
        ("partial", "@@c\\OK Computer", 1),
    }
    assert [f.username for f in soulseek.rank(folders, 10)] == ["flac-peer", "mp3-peer", "partial"]
    assert soulseek.safe_name('AC/DC: "Back in Black"?') == "AC_DC_ _Back in Black__"


# ---------------------------------------------------------------------------
# Soulseek
# ---------------------------------------------------------------------------


def test_soulseek_downloads_the_best_folder_into_the_music_path(slskd, tmp_path):
    use_slskd(slskd, tmp_path)
    slskd.share("mp3-peer", "@@a\\Radiohead - OK Computer", TRACKS, extension="mp3")
    slskd.share("flac-peer", "@@b\\Radiohead\\OK Computer", TRACKS)
    job = request()
    assert "downloaded 10 file(s)" in acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "completed" and job.metadata["currentSource"] == "soulseek"
    assert job.metadata["tracksDone"] == 10  # progress was written along the way
    album = tmp_path / "music" / "Radiohead" / "OK Computer"
    assert sorted(p.name for p in album.iterdir())[:2] == ["01 Track 1.flac", "02 Track 2.flac"]
    assert {t["username"] for t in slskd.transfers} == {"flac-peer"}


def test_a_failing_peer_is_skipped_and_blocked_after_three_failures(slskd, tmp_path):
    use_slskd(slskd, tmp_path, download_retry_attempts=3)
    slskd.busy_answers = 2  # the first search start is refused twice with 429, then retried
    slskd.share("flaky", "@@x\\Radiohead\\OK Computer [FLAC]", TRACKS, behaviour="reject")
    slskd.share("steady", "@@y\\Radiohead\\OK Computer", TRACKS, extension="mp3")
    for n in range(3):
        job = request(mbid=f"rg-{n}")
        acquisition.acquire(job.pk)
        job.refresh_from_db()
        assert job.status == "completed", job.error
        assert job.tried_releases == ["slsk:flaky:@@x\\Radiohead\\OK Computer [FLAC]"]
    assert soulseek_cache.is_peer_blocked("flaky")
    job = request(mbid="rg-4")
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "completed" and job.tried_releases == []


@pytest.mark.parametrize("behaviour", ["offline", "lost"])
def test_an_offline_peer_or_files_that_never_appear_fail_the_folder_not_the_source(
    slskd, tmp_path, behaviour
):
    use_slskd(slskd, tmp_path)
    slskd.share("gone", "@@g\\Radiohead\\OK Computer [FLAC]", TRACKS, behaviour=behaviour)
    slskd.share("steady", "@@s\\Radiohead\\OK Computer", TRACKS, extension="mp3")
    job = request()
    assert "downloaded 10 file(s)" in acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "completed"
    assert job.tried_releases == ["slsk:gone:@@g\\Radiohead\\OK Computer [FLAC]"]


def test_attempt_limit_exhausts_the_job(slskd, tmp_path):
    use_slskd(slskd, tmp_path, download_retry_attempts=2)
    for peer in ("p1", "p2", "p3"):
        slskd.share(peer, f"@@{peer}\\Radiohead\\OK Computer", TRACKS, behaviour="reject")
    job = request()
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempts, len(job.tried_releases)) == ("exhausted", 2, 2)


def test_too_few_tracks_is_a_failed_folder(slskd, tmp_path, lidarr):
    use_slskd(slskd, tmp_path)
    use_lidarr(lidarr, download_source="soulseek")  # the expected track count comes from Lidarr
    slskd.share("thin", "@@t\\Radiohead\\OK Computer", TRACKS[:3])
    job = request()
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    # 3 files arrived where half of Lidarr's 10 tracks were needed.
    assert "only 3 of 3 files arrived from thin" in job.metadata["lastError"]
    assert job.tried_releases == ["slsk:thin:@@t\\Radiohead\\OK Computer"]
    assert job.status == "exhausted"


# ---------------------------------------------------------------------------
# Lidarr and fallback
# ---------------------------------------------------------------------------


def test_lidarr_adds_the_artist_monitors_only_this_album_and_searches(lidarr):
    lidarr.add_album("rg-2", "Kid A", "Radiohead", "ar-1")
    use_lidarr(lidarr, download_source="lidarr")
    job = request()
    assert "searching in Lidarr" in acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "processing" and job.lidarr_album_id
    assert [a["artistName"] for a in lidarr.artists] == ["Radiohead"]
    assert lidarr.artists[0]["folder"] == "Radiohead"  # the artist lookup's whole resource
    assert ("GET", "/api/v1/artist/lookup") in lidarr.requests
    monitored = {a["title"]: a["monitored"] for a in lidarr.library}
    assert monitored == {"OK Computer": True, "Kid A": False}
    assert lidarr.artists[0]["qualityProfileId"] == 2  # the root folder's default
    assert [c["name"] for c in lidarr.commands] == ["AlbumSearch"]
    assert acquisition.acquire(job.pk) == "already with Lidarr"  # a second run adds nothing


def test_soulseek_without_results_falls_back_to_lidarr_on_the_same_job(slskd, tmp_path, lidarr):
    use_slskd(slskd, tmp_path)
    use_lidarr(lidarr, download_source="soulseek", primary_failure_fallback="lidarr")
    job = request()
    assert "source failed" in acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert (job.status, job.metadata["currentSource"]) == ("processing", "lidarr")
    acquisition.acquire(job.pk)  # what the task published on commit does
    job.refresh_from_db()
    assert job.lidarr_album_id is not None


def test_lidarr_not_finding_the_album_falls_back_to_soulseek(slskd, tmp_path, lidarr):
    use_slskd(slskd, tmp_path)
    use_lidarr(lidarr, download_source="lidarr", primary_failure_fallback="soulseek")
    slskd.share("peer", "@@p\\Unknown Band\\Rare Album", TRACKS)
    job = request(mbid="not-in-lidarr", artist="Unknown Band", album="Rare Album")
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.metadata["currentSource"] == "soulseek"
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "completed"


def test_an_unreachable_source_never_fails_a_job(lidarr):
    use_lidarr(lidarr, download_source="lidarr")
    lidarr.go_down()
    job = request()
    assert acquisition.acquire(job.pk).startswith("retry later")
    job.refresh_from_db()
    assert job.status == "processing" and job.metadata["retryAt"]
    assert acquisition.acquire(job.pk).startswith("waiting until")  # an early offer: no call
    lidarr.come_back()
    assert "searching in Lidarr" in acquisition.acquire(due(job))


def test_retries_of_an_unreachable_source_back_off(lidarr):
    use_lidarr(lidarr, download_source="lidarr")
    lidarr.go_down()
    job = request()
    waits = []
    for _ in range(7):
        acquisition.acquire(due(job))
        job.refresh_from_db()
        waits.append(int(job.metadata["statusText"].split()[1]))  # "Waiting 10 s: ..."
    assert waits == [10, 20, 40, 80, 120, 120, 120]


def test_lidarr_failing_between_monitor_and_search_still_gets_the_search(lidarr):
    use_lidarr(lidarr, download_source="lidarr")
    lidarr.fail_next("POST", "/api/v1/command")  # the album is monitored, the search fails
    job = request()
    assert acquisition.acquire(job.pk).startswith("retry later")
    job.refresh_from_db()
    assert job.lidarr_album_id and job.metadata["retryAt"]
    assert "searching in Lidarr" in acquisition.acquire(due(job))  # the retry sends the search
    job.refresh_from_db()
    assert [c["name"] for c in lidarr.commands] == ["AlbumSearch"]
    assert "retryAt" not in job.metadata  # the dispatcher stops offering it
    assert acquisition.acquire(job.pk) == "already with Lidarr"  # and a third run adds nothing
    assert len(lidarr.commands) == 1


def test_a_lost_search_outcome_is_asked_for_again(lidarr, slskd, tmp_path):
    use_slskd(slskd, tmp_path)
    use_lidarr(lidarr, download_source="lidarr", primary_failure_fallback="soulseek")
    lidarr.unavailable.add("rg-1")
    lidarr.fail_next("GET", "/api/v1/command/")  # the outcome poll fails once
    job = request()
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.metadata["currentSource"] == "lidarr" and job.metadata["retryAt"]
    acquisition.acquire(due(job))  # polls the same command ("0 reports") and falls back
    job.refresh_from_db()
    assert job.metadata["currentSource"] == "soulseek"
    assert len(lidarr.commands) == 1


def test_two_runs_of_one_job_never_work_on_it_at_the_same_time(slskd, tmp_path):
    use_slskd(slskd, tmp_path)
    slskd.share("peer", "@@p\\Radiohead\\OK Computer", TRACKS)
    job = request()
    with Lock(f"downloads:acquire:{job.pk}"):  # another worker is on it
        assert acquisition.acquire(job.pk) == "already running elsewhere"
    job.refresh_from_db()
    assert job.status == "processing"  # admitted: starting needs no lock
    assert job.metadata["retryAt"]  # and looked at again shortly, in case the other run ended
    assert "downloaded" in acquisition.acquire(due(job))


def test_no_source_configured_is_a_clear_failure():
    settings_service.update({"lidarr_enabled": False})
    job = request()
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "No download source" in job.error


def test_admission_limits_concurrent_jobs(slskd, tmp_path):
    use_slskd(slskd, tmp_path, max_concurrent_downloads=1)
    busy = request(mbid="busy")
    DownloadJob.objects.filter(pk=busy.pk).update(status="processing")
    waiting = request(mbid="waiting")
    assert acquisition.acquire(waiting.pk) == "waiting for a free slot"
    waiting.refresh_from_db()
    assert waiting.status == "pending"


def test_without_lidarr_the_track_count_comes_from_musicbrainz(slskd, tmp_path, musicbrainz):
    use_slskd(slskd, tmp_path)
    musicbrainz.add_release_group("rg-1", TRACKS)
    slskd.share("thin", "@@t\\Radiohead\\OK Computer", TRACKS[:2])
    job = request()
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.metadata["tracksExpected"] == 10
    assert "only 2 of 2 files arrived" in job.metadata["lastError"]
    assert musicbrainz.user_agents[0].startswith("KimaHubIntegration/")


def test_musicbrainz_gets_at_most_one_request_per_interval(musicbrainz, settings):
    settings.MUSICBRAINZ_INTERVAL = 0.3
    musicbrainz.add_release_group("rg-x", ["a", "b"])
    with MusicBrainzClient() as client:
        for _ in range(3):
            assert client.track_titles("rg-x") == ["a", "b"]
    gaps = [b - a for a, b in zip(musicbrainz.request_times, musicbrainz.request_times[1:],
                                  strict=False)]  # fmt: skip
    assert len(gaps) == 2 and min(gaps) >= 0.29


def test_lidarr_finding_no_release_falls_back_at_once(slskd, tmp_path, lidarr):
    use_slskd(slskd, tmp_path)
    use_lidarr(lidarr, download_source="lidarr", primary_failure_fallback="soulseek")
    lidarr.unavailable.add("rg-1")
    slskd.share("peer", "@@p\\Radiohead\\OK Computer", TRACKS)
    job = request()
    assert "No releases available" in acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert (job.metadata["currentSource"], job.metadata["sourcesTried"]) == ("soulseek", ["lidarr"])
    acquisition.acquire(job.pk)
    job.refresh_from_db()
    assert job.status == "completed"


def test_an_overloaded_lidarr_is_retried_later_not_failed(lidarr):
    use_lidarr(lidarr, download_source="lidarr")
    lidarr.error_rate = 1.0  # every call answers 503
    job = request()
    assert acquisition.acquire(job.pk).startswith("retry later")
    job.refresh_from_db()
    assert job.status == "processing"


def test_with_a_track_list_the_folder_with_the_right_tracks_wins():
    titles = ["Airbag", "Paranoid Android", "Subterranean Homesick Alien", "Exit Music"]
    right = soulseek.Folder("a", "@@a\\OK Computer", [
        {"filename": f"@@a\\OK Computer\\{n:02d} - {t}.mp3", "size": 1}
        for n, t in enumerate(titles)])  # fmt: skip
    wrong = soulseek.Folder("b", "@@b\\OK Computer (covers)", [
        {"filename": f"@@b\\OK Computer (covers)\\{n:02d} - Cover {n}.flac", "size": 1}
        for n in range(4)])  # fmt: skip
    assert soulseek.title_coverage(right, titles) == 1.0
    assert soulseek.title_coverage(wrong, titles) == 0.0
    assert [f.username for f in soulseek.rank([wrong, right], 4, titles)] == ["a", "b"]
    assert [f.username for f in soulseek.rank([wrong, right], 4)] == ["b", "a"]  # FLAC wins blind


def test_a_lock_that_cannot_be_had_in_time_is_a_retry_not_a_crash(slskd, tmp_path, monkeypatch):
    use_slskd(slskd, tmp_path)

    def busy(*args):
        raise LockNotAcquired("slskd:search-start")  # other searches held slskd too long

    monkeypatch.setattr(acquisition, "_search", busy)
    job = request()
    assert acquisition.acquire(job.pk).startswith("retry later")
    job.refresh_from_db()
    assert job.status == "processing" and job.metadata["retryAt"]
