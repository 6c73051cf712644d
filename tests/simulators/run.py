"""Run the Lidarr and slskd simulators by hand, to try the whole flow on one machine.

    .venv/bin/python -m tests.simulators.run --kima http://127.0.0.1:8000

Start the service first (`bin/serve`, which runs tasks in-process), then this; it prints
what to paste into the settings page (or PATCH /api/system-settings) and the albums you
can request. Lidarr answers as a real one would and posts its webhooks to the service
with Basic auth; slskd serves peer folders and writes the files it "downloads".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.simulators.lidarr import LidarrSimulator
from tests.simulators.slskd import SlskdSimulator

DEMO = [("b1392450-e666-3926-a536-22c65f834433", "OK Computer", "Radiohead",
         "a74b1b7f-71a5-4011-9441-d0b5e4122711"),
        ("1e477f68-c407-4eae-ad01-518528cedc2c", "Kid A", "Radiohead",
         "a74b1b7f-71a5-4011-9441-d0b5e4122711"),
        ("5c7f7d3c-5a8d-4bfb-8b4f-e08a3a2e1d06", "Geogaddi", "Boards of Canada",
         "69158f97-4c07-4c4e-baf8-4e4ab1ed666e")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kima", default="http://127.0.0.1:8000", help="the service's URL")
    parser.add_argument("--downloads", type=Path,
                        default=Path(tempfile.mkdtemp(prefix="kima-slskd-")))  # fmt: skip
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of lost webhooks")
    args = parser.parse_args()
    lidarr = LidarrSimulator()
    lidarr.setup_library(webhook_url=args.kima.rstrip("/") + "/api/webhooks/lidarr",
                         username="lidarr", password="demo-password", grab_delay=2,
                         download_delay=5, drop_rate=args.drop_rate)  # fmt: skip
    slskd = SlskdSimulator(downloads_dir=args.downloads, search_delay=2)
    for mbid, title, artist, artist_mbid in DEMO:
        lidarr.add_album(mbid, title, artist, artist_mbid, tracks=8)
        slskd.share("demo-peer", f"@@demo\\Music\\{artist}\\{title}", [f"Song {n}" for n in range(1, 9)],
                    speed=4000)  # fmt: skip
    lidarr.start()
    slskd.start()
    print(f"""
Lidarr simulator: {lidarr.url}   API key: {lidarr.api_key}
slskd simulator:  {slskd.url}   API key: {slskd.api_key}   downloads: {args.downloads}

Settings (admin page or PATCH /api/system-settings):
  lidarrUrl={lidarr.url} lidarrApiKey={lidarr.api_key}
  lidarrWebhookUsername=lidarr lidarrWebhookPassword=demo-password
  slskdUrl={slskd.url} slskdApiKey={slskd.api_key} soulseekDownloadPath={args.downloads}
  downloadSource=lidarr or soulseek

Albums to request (POST /api/downloads with mbid, subject, artistName, albumTitle):""")
    for mbid, title, artist, _ in DEMO:
        print(f"  {mbid}  {artist} - {title}")
    print("\nCtrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        lidarr.stop()
        slskd.stop()


if __name__ == "__main__":
    main()
