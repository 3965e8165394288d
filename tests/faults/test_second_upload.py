"""Never a second upload (issue 19): ``einvd run`` dies right after renaming a file into SRC and before recording
it; Turnkey takes the file meanwhile; the restarted pump must find it where Turnkey 3.2.0 put it and not drop it
again, since Turnkey has no duplicate detection and uploads a file dropped twice twice (domain.md §5.5a).

Turnkey's move is played here by hand exactly as §5.5a describes 3.2.0 (``BAK/<yyyyMMdd>/<HH>/<name>``, a name
already there becoming ``<name>.001``, here with the first of that name since removed by Turnkey's housekeeping;
ERR with the same folders), so the test does not depend on the simulator's
version; the older ``HH-HH`` folder and ``_<epoch ms>`` suffix forms are covered too.
"""

from __future__ import annotations

import shutil
import signal
from datetime import datetime
from pathlib import Path

import pytest
from harness import Box, sale

from turnkey.period import TAIPEI

pytestmark = pytest.mark.faults
F0401 = Path("UpCast/B2SSTORAGE/F0401")


def _moved(name: str, form: str, now: datetime) -> Path:
    day, hour = f"{now:%Y%m%d}", f"{now:%H}"
    return {
        "bak": F0401 / "BAK" / day / hour / name,
        "bak.001": F0401 / "BAK" / day / hour / f"{name}.001",
        "err": F0401 / "ERR" / day / hour / name,
        "old": F0401 / "BAK" / day / f"{hour}-{(int(hour) + 1) % 24:02d}" / name.replace(".xml", "_1787020405256.xml"),
    }[form]


@pytest.mark.parametrize("form", ["bak", "bak.001", "err", "old"])
def test_a_file_taken_by_turnkey_between_rename_and_record_is_not_dropped_again(tmp_path: Path, form: str) -> None:
    box = Box(tmp_path)
    try:
        daemon = box.start({"EINVD_FAULTPOINT": "drop.rename.after:1"})
        status, body = box.client().request("POST", "/v1/invoices", sale("second-upload-1"))
        assert status in (200, 201), body
        assert daemon.wait_exit(30) == -signal.SIGKILL, daemon.log_tail()
        with box.db() as conn:
            name, state = conn.execute("SELECT file_name, state FROM outbox WHERE message_type = 'F0401'").fetchone()
        assert state == "LOCKED"  # renamed into SRC, not recorded: the crash this test is about
        src = box.turnkey / F0401 / "SRC" / name
        assert src.is_file()
        target = box.turnkey / _moved(name, form, datetime.now(TAIPEI))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, target)  # Turnkey takes it (uploads it) while einvd is down

        again = box.start()
        again.drain(60)
        again.stop()
        with box.db() as conn:
            state, uncertain = conn.execute(
                "SELECT state, uncertain FROM outbox WHERE message_type = 'F0401'").fetchone()
        assert (state, uncertain) == ("DONE", 0)
        stem = name.removesuffix(".xml")
        copies = [p for p in (box.turnkey / F0401).rglob("*") if p.is_file() and p.name.startswith(stem)]
        assert copies == [target], f"uploaded more than once: {copies}"
    finally:
        box.close()
