"""The local drop on real directories: a process killed while staging or before the rename leaves no partial
or duplicate file in SRC, and every message arrives once after the restart; missing folders are named."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SELLER, sale
from lxml import etree
from test_drop_contract import XML, install

from daemon.outbox import file_name
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.wiring import check_drop
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.layout import Layout

REPO = Path(__file__).resolve().parents[2]
DYING_PUMP = textwrap.dedent("""
    import itertools, os, random, signal, sys
    from datetime import datetime
    from pathlib import Path
    from daemon.store import Store
    from daemon.workers import Pump
    from drivers.drop.local import LocalDrop
    from turnkey.model import Party

    db, root, mode, at, now = sys.argv[1:]

    class Dying(LocalDrop):
        staged = itertools.count(1)
        renamed = itertools.count(1)

        def _stage(self, staged, data):
            if mode == "write" and next(Dying.staged) == int(at):
                staged.write_bytes(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            super()._stage(staged, data)

        def _rename(self, staged, target):
            if mode == "rename" and next(Dying.renamed) == int(at):
                os.kill(os.getpid(), signal.SIGKILL)
            super()._rename(staged, target)

    seller = Party("12345676", "測試商店", "台北市信義區測試路1號")
    pump = Pump(Store(db), Dying(Path(root)), seller, None, random.Random(1), batch=5)
    pump.start(datetime.fromisoformat(now))
    pump.tick(datetime.fromisoformat(now))
    print("survived")
""")


def issue(service: InvoiceService, clock: FakeClock, count: int) -> list[str]:
    numbers = []
    for n in range(count):
        clock.advance(seconds=1)
        numbers.append(service.issue(sale(f"POS1-{n:04d}")).body["invoice_number"])
    return numbers


@pytest.mark.parametrize("mode", ["write", "rename"])
def test_killed_mid_drop_leaves_no_partial_and_no_duplicate(mode: str, service: InvoiceService, store: Store,
                                                            clock: FakeClock, tmp_path: Path) -> None:
    numbers = issue(service, clock, 20)
    expected = [file_name("F0401", n, i) for i, n in enumerate(numbers, 1)]
    root = tmp_path / "turnkey"
    turnkey = SimTurnkey(root).install()
    store.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    died = subprocess.run([sys.executable, "-c", DYING_PUMP, str(store.path), str(root), mode, "8",
                           clock.now().isoformat()], env=env, capture_output=True, text=True, timeout=120)
    assert died.returncode == -9, died.stderr
    src = root / "UpCast/B2SSTORAGE/F0401/SRC"
    arrived = sorted(p.name for p in src.iterdir())
    if mode == "rename":
        assert arrived == sorted(expected[:7])  # 1-5 recorded as dropped, 6-7 renamed but not recorded
    else:  # killed while staging the second batch: its first files may have been renamed, in order
        assert sorted(expected[:5]) <= sorted(arrived) and arrived == sorted(expected[:len(arrived)])
    assert all(_parses(p.read_bytes()) for p in src.iterdir())  # never a partial file in SRC
    taken = turnkey.tick(clock.now())  # Turnkey takes what is in SRC while einvd is down
    assert len(taken) == len(arrived) and all(m.accepted for m in taken)

    restarted = Pump(store, LocalDrop(root), SELLER, None, random.Random(2), batch=5)
    assert restarted.start(clock.now()) == 5
    report = restarted.tick(clock.now())
    assert (report.found, report.dropped) == (len(arrived) - 5, 20 - len(arrived))  # taken ones: not again
    delivered = sorted(p.name for p in src.iterdir()) + [m.name for m in taken]
    assert sorted(delivered) == sorted(expected)
    assert all(_parses(p.read_bytes()) for p in src.iterdir())
    assert list((root / "UpCast/.einvd-staging").iterdir()) == []
    restarted.close()


def _parses(data: bytes) -> bool:
    try:
        etree.fromstring(data)
    except etree.XMLSyntaxError:
        return False
    return True


def test_an_unmounted_share_is_refused_not_recreated(tmp_path: Path) -> None:
    root = tmp_path / "mnt" / "turnkey"
    install(root)
    drop = LocalDrop(root)
    root.rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError):
        drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    assert not root.exists()
    problems = check_drop(drop)
    assert f"{root}/UpCast/B2SSTORAGE/F0401/SRC: missing" in problems


def test_startup_check_names_each_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "turnkey"
    install(root)
    (root / "UpCast/B2SSTORAGE/F0501/ERR").rmdir()
    for kind in ("E0501", "SummaryResult"):
        (root / "Unpack/BAK" / kind).rmdir()
    (root / "UpCast/.einvd-staging").rmdir()  # ours: created on the first drop, not a problem
    problems = LocalDrop(root).check()
    assert problems == [f"{root}/UpCast/B2SSTORAGE/F0501/ERR: missing", f"{root}/Unpack/BAK/SummaryResult: missing",
                        f"{root}/Unpack/BAK/E0501: missing"]
    LocalDrop(root).put("F0401", "F0401_AB00001000_1.xml", XML)
    assert (root / "UpCast/.einvd-staging").is_dir()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a tmpfs at /dev/shm")
def test_startup_check_refuses_staging_on_another_filesystem(tmp_path: Path) -> None:
    root = tmp_path / "turnkey"
    install(root)
    (root / "UpCast/.einvd-staging").rmdir()
    elsewhere = Path("/dev/shm") / f"einvd-staging-{os.getpid()}-{random.randrange(10**9)}"
    elsewhere.mkdir()
    try:
        (root / "UpCast/.einvd-staging").symlink_to(elsewhere)
        problems = LocalDrop(root).check()
        assert any("not on the staging folder's filesystem" in p for p in problems)
    finally:
        elsewhere.rmdir()


def test_layout_is_configurable_and_checked() -> None:
    layout = Layout(src="tasks/{code}/in", err="tasks/{code}/err", bak="tasks/{code}/done", staging="tasks/.tmp",
                    codes=("F0401", "E0402"))
    assert layout.folder("SRC", "E0402") == "tasks/E0402/in"
    assert "tasks/F0401/done" in layout.required()
    with pytest.raises(ValueError):
        Layout(staging="UpCast/B2SSTORAGE/F0401/SRC")
    with pytest.raises(KeyError):
        Layout(src="UpCast/{folder}/SRC")
    with pytest.raises(ValueError):
        Layout(codes=("X0000",))


def test_a_file_taken_while_its_folder_is_read_is_skipped_not_the_whole_folder(tmp_path: Path) -> None:
    """Turnkey moves files out of SRC while einvd lists it: the one that vanished between the directory read and its
    stat is not there any more; the folder and the files still in it are (a FileNotFoundError for the whole folder
    made a file still in SRC look lost, and the crash recovery dropped it a second time)."""
    from drivers.drop.watch import local_lister

    folder = tmp_path / "SRC"
    folder.mkdir()
    for n in range(5):
        (folder / f"F0401_AB0000100{n}_{n}.xml").write_bytes(b"<x/>")
    entries = local_lister(tmp_path)("SRC")
    first = next(iter(entries))
    for path in folder.iterdir():
        if path.name != first.name:
            path.unlink()  # taken by Turnkey after the directory was read, before each entry's stat
    assert list(entries) == []
    assert [e.name for e in local_lister(tmp_path)("SRC")] == [first.name]
