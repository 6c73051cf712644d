"""Choosing what to download from Soulseek search results (pure functions).

Results are grouped by peer folder (disc sub-folders such as "CD1", "Disc 2" merge into
their album folder), and folders are scored: completeness against the expected track
count first, then format (FLAC first) and bitrate, then the peer (a free upload slot,
a short queue, speed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath, PureWindowsPath

AUDIO = {".flac": 3.0, ".alac": 3.0, ".wav": 2.5, ".m4a": 1.5, ".mp3": 1.0, ".ogg": 1.0,
         ".opus": 1.0, ".aac": 1.0}  # fmt: skip
DISC_FOLDER = re.compile(r"^(cd|disc|disk|dvd)[\s_-]*\d+$", re.IGNORECASE)
UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


@dataclass
class Folder:
    username: str
    path: str  # the peer's folder, as the peer names it (backslashes)
    files: list[dict] = field(default_factory=list)
    free_slot: bool = False
    queue_length: int = 0
    upload_speed: int = 0

    @property
    def key(self) -> str:
        """What `triedReleases` remembers, so a folder is never tried twice."""
        return f"slsk:{self.username}:{self.path}"

    @property
    def size(self) -> int:
        return sum(int(f.get("size") or 0) for f in self.files)


def extension(filename: str) -> str:
    return PureWindowsPath(filename).suffix.lower()


def album_folder(filename: str) -> str:
    parent = PureWindowsPath(filename).parent
    if DISC_FOLDER.match(parent.name):
        parent = parent.parent
    return str(parent)


def group_folders(responses: list[dict]) -> list[Folder]:
    folders: dict[tuple[str, str], Folder] = {}
    for response in responses:
        username = str(response.get("username") or "")
        for file in response.get("files") or []:
            name = str(file.get("filename") or "")
            if not username or extension(name) not in AUDIO:
                continue
            key = (username, album_folder(name))
            folder = folders.setdefault(key, Folder(
                username, key[1], free_slot=bool(response.get("hasFreeUploadSlot")),
                queue_length=int(response.get("queueLength") or 0),
                upload_speed=int(response.get("uploadSpeed") or 0)))  # fmt: skip
            folder.files.append(file)
    return list(folders.values())


def normalized(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def title_coverage(folder: Folder, titles: list[str]) -> float:
    """The share of the album's track titles found in the folder's file names."""
    names = [normalized(PureWindowsPath(f["filename"]).stem) for f in folder.files]
    wanted = [normalized(t) for t in titles if normalized(t)]
    if not wanted:
        return 0.0
    found = sum(1 for title in wanted if any(title in name for name in names))
    return found / len(wanted)


def score(folder: Folder, expected_tracks: int | None, titles: list[str] | None = None) -> float:
    count = len(folder.files)
    completeness = min(1.0, count / expected_tracks) if expected_tracks else min(1.0, count / 8)
    if titles:  # the track list is known: which tracks, not only how many
        completeness = (completeness + title_coverage(folder, titles)) / 2
    if expected_tracks and count > expected_tracks * 2:
        completeness *= 0.5  # a discography or a compilation folder, not the album
    formats = [AUDIO[extension(f["filename"])] for f in folder.files]
    fmt = sum(formats) / len(formats)
    bitrates = [int(f.get("bitRate") or 0) for f in folder.files if f.get("bitRate")]
    bitrate = min(1.0, (sum(bitrates) / len(bitrates)) / 320) if bitrates else 0.5
    peer = (1.0 if folder.free_slot else 0.0) - min(1.0, folder.queue_length / 50)
    speed = min(1.0, folder.upload_speed / 5_000_000)
    return completeness * 100 + fmt * 10 + bitrate * 5 + peer * 3 + speed * 2


def rank(folders: list[Folder], expected_tracks: int | None,
         titles: list[str] | None = None) -> list[Folder]:  # fmt: skip
    return sorted(folders, key=lambda f: score(f, expected_tracks, titles), reverse=True)


def safe_name(name: str, fallback: str = "Unknown") -> str:
    """A file or folder name that is safe on every file system we may write to."""
    cleaned = UNSAFE.sub("_", name).strip().strip(".")
    cleaned = re.sub(r"\s+", " ", cleaned)
    suffix = PurePath(cleaned).suffix if len(PurePath(cleaned).suffix) <= 8 else ""
    stem = cleaned[: len(cleaned) - len(suffix)]
    # File systems count bytes (255 on ext4): cut by bytes, keep the extension.
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode("utf-8", errors="ignore").rstrip()
    return stem + suffix if stem else fallback


MAX_NAME_BYTES = 200
