"""Child process for lock tests: increment a counter file under a named lock.

Usage: python tests/lock_worker.py COUNTER_FILE ROUNDS
The read-pause-write below loses updates unless the lock really excludes.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kima.settings")

import django  # noqa: E402

django.setup()

from kima.locks import Lock  # noqa: E402


def main() -> None:
    counter, rounds = Path(sys.argv[1]), int(sys.argv[2])
    backends = set()
    for _ in range(rounds):
        with Lock("test:counter", ttl=10, wait=30) as lock:
            value = int(counter.read_text() or 0)
            time.sleep(0.001)
            counter.write_text(str(value + 1))
            backends.add(lock.backend)
    print(",".join(sorted(backends)))


if __name__ == "__main__":
    main()
