"""kill -9 of ``einvd run`` at random points under a signed issuing load, fifty times over, then a clean drain.

After every kill the database and the simulated Turnkey tree are checked (``harness.check``): integrity, each
number used once and none skipped, every acknowledged invoice stored with its lines and F0401 outbox row, SRC
holding only complete messages and each invoice in at most one F0401 file across SRC, BAK and ERR. Orders whose
request got no answer are sent again after the restart: one already committed must come back as the same
invoice, one that was not as a new one. The last daemon runs until the outbox is empty, and then every invoice
has exactly one complete file. Set ``EINVD_FAULTS_SEED`` to replay a run.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from harness import Box, Load, check, log, restart_and_drain, retry_unanswered

pytestmark = pytest.mark.faults
ROUNDS = 50


def test_fifty_kills_under_load_lose_nothing_and_number_nothing_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("EINVD_FAULTS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    box = Box(tmp_path)
    load = Load(box.url, "K", threads=4, timeout=10.0)
    kills = locked = 0
    tally = {"replayed": 0, "new": 0}
    try:
        for _ in range(ROUNDS):
            daemon = box.start()
            retry_unanswered(box, load, tally)
            load.start()
            time.sleep(rng.uniform(0.05, 0.4))
            assert daemon.alive(), daemon.log_tail()
            daemon.kill()
            kills += 1
            load.stop()
            assert not load.refused, f"refusals under load: {list(load.refused.items())[:5]}"
            with box.db() as conn:
                locked += conn.execute("SELECT count(*) > 0 FROM outbox WHERE state = 'LOCKED'").fetchone()[0]
            found = check(box, load.acked)
        final = restart_and_drain(box, load, tally)
    finally:
        box.close()
    log(f"crash (seed {seed}): {kills} SIGKILLs under a 4-client load; {locked} landed while the pump held rows; "
        f"unanswered orders retried after restart: {tally['replayed']} were committed (same invoice back), "
        f"{tally['new']} were not "
        f"(issued anew); last check before the drain: {found}")
    log(f"crash: after the drain: {final}")
    assert final.invoices == len(load.acked) and final.src + final.bak == final.invoices
    assert tally["replayed"] + tally["new"] > 0, "no kill interrupted a request: the retry path was not exercised"
