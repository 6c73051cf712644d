"""A periodic job for the scheduler tests: appends one line per run to $TICK_LOG."""

import os
import time

from kima.periodic import periodic_task


@periodic_task("tests.tick")
def tick() -> None:
    with open(os.environ["TICK_LOG"], "a") as log:
        log.write(f"{time.time():.3f} {os.getpid()}\n")
