"""One contract for every drop: local directory, SFTP against a real sshd, and the in-memory twin.

Each world gives the drop plus Turnkey's side of the folder (take a file to BAK/ERR, deliver a result file)
and a way to make the drop unreachable and bring it back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sshd_peer import Sshd

from daemon.policy.settlement import original_name
from daemon.ports import Drop
from drivers.drop.local import LocalDrop
from drivers.drop.sftp import SftpDrop, SftpTarget
from hw_sim.drop import MemoryDrop
from turnkey.layout import Layout

XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="urn:GEINV:eInvoiceMessage:F0401:4.1"/>\n'
LAYOUT = Layout()


def install(root: Path, layout: Layout = LAYOUT) -> None:
    for folder in layout.required():
        (root / folder).mkdir(parents=True, exist_ok=True)


@dataclass
class World:
    drop: Drop
    take: Callable[[str, str, bool], str]
    deliver: Callable[[str, str, bytes], str]
    src: Callable[[str], dict[str, bytes]]
    cut: Callable[[], None]
    mend: Callable[[], None]
    root: Path | None = None


def _tree_world(root: Path, drop: Drop, cut: Callable[[], None], mend: Callable[[], None]) -> World:
    def take(code: str, name: str, accept: bool) -> str:
        """As Turnkey 3.2.0 (domain.md §5.5a): ``<yyyyMMdd>/<HH>/<name>``, ``.001`` in BAK, no reason file."""
        folder = LAYOUT.folder("BAK" if accept else "ERR", code) + "/20261121/14"
        (root / folder).mkdir(parents=True, exist_ok=True)
        target, serial = f"{folder}/{name}", 0
        while accept and (root / target).exists():
            serial += 1
            target = f"{folder}/{name}.{serial:03d}"
        os.replace(root / LAYOUT.folder("SRC", code) / name, root / target)
        return target

    def deliver(kind: str, name: str, data: bytes) -> str:
        path = f"{LAYOUT.result_folder(kind)}/20261121/14/{name}"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        return path

    def src(code: str) -> dict[str, bytes]:
        folder = root / LAYOUT.folder("SRC", code)
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    return World(drop, take, deliver, src, cut, mend, root)


def local_world(tmp_path: Path) -> Iterator[World]:
    root = tmp_path / "turnkey"
    install(root)
    away = tmp_path / "unmounted"
    yield _tree_world(root, LocalDrop(root), lambda: root.rename(away), lambda: away.rename(root))


def sftp_world(tmp_path: Path) -> Iterator[World]:
    server = Sshd.start_or_skip(tmp_path / "sshd")
    install(server.root)
    drop = SftpDrop(SftpTarget.from_url(server.url, server.client_key, server.known_hosts, timeout=10))
    try:
        yield _tree_world(server.root, drop, server.kill, server.start_again)
    finally:
        drop.close()
        server.kill()


def memory_world(tmp_path: Path) -> Iterator[World]:
    drop = MemoryDrop()

    def cut() -> None:
        drop.down = ConnectionError("simulated outage")

    def mend() -> None:
        drop.down = None

    def src(code: str) -> dict[str, bytes]:
        return dict(drop.src.get(code, {}))

    yield World(drop, lambda c, n, a: drop.take(c, n, a), drop.deliver, src, cut, mend)


@pytest.fixture(params=["local", "sftp", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    factory = {"local": local_world, "sftp": sftp_world, "memory": memory_world}[request.param]
    yield from factory(tmp_path)


def test_put_lands_whole_in_src(world: World) -> None:
    world.drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    world.drop.sync()
    assert world.drop.pending("F0401") == {"F0401_AB00001000_1.xml"}
    assert world.src("F0401") == {"F0401_AB00001000_1.xml": XML}
    assert world.drop.pending("F0501") == set()


def test_the_same_name_replaces_never_duplicates(world: World) -> None:
    world.drop.put("F0401", "F0401_AB00001000_1.xml", b"first try")
    world.drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    world.drop.sync()
    assert world.src("F0401") == {"F0401_AB00001000_1.xml": XML}


def test_e0402_goes_to_the_message_family(world: World) -> None:
    world.drop.put("E0402", "E0402_12345676-11510-07-AB_3.xml", XML)
    assert world.drop.pending("E0402") == {"E0402_12345676-11510-07-AB_3.xml"}
    assert world.drop.pending("F0401") == set()


@pytest.mark.parametrize("code, name", [("F9999", "a.xml"), ("F0401", "../evil.xml"), ("F0401", ".hidden.xml"),
                                         ("F0401", "note.txt"), ("F0401", "發票.xml")])
def test_refuses_unknown_codes_and_bad_names(world: World, code: str, name: str) -> None:
    with pytest.raises(ValueError):
        world.drop.put(code, name, XML)


def test_lists_what_turnkey_moved_and_reads_it(world: World) -> None:
    for n in (1, 2):
        world.drop.put("F0401", f"F0401_AB0000100{n}_{n}.xml", XML)
    accepted = world.take("F0401", "F0401_AB00001001_1.xml", True)
    refused = world.take("F0401", "F0401_AB00001002_2.xml", False)
    assert world.drop.pending("F0401") == set()
    assert world.drop.moved("F0401", "BAK") == {accepted: len(XML)}
    assert set(world.drop.moved("F0401", "ERR")) == {refused}  # Turnkey 3.2.0 writes no reason file
    assert world.drop.read(refused) == XML
    world.drop.put("F0401", "F0401_AB00001001_1.xml", XML + b" ")  # dropped twice: Turnkey uploads it twice
    again = world.take("F0401", "F0401_AB00001001_1.xml", True)
    assert again == f"{accepted}.001" and original_name(again) == "F0401_AB00001001_1.xml"
    assert world.drop.moved("F0401", "BAK") == {accepted: len(XML), again: len(XML) + 1}


def test_lists_and_reads_result_files(world: World) -> None:
    assert world.drop.results("SummaryResult") == {}
    path = world.deliver("SummaryResult", "v41-F0401-x.SummaryResult", b"<SummaryResult/>")
    assert world.drop.results("SummaryResult") == {path: len(b"<SummaryResult/>")}
    assert world.drop.read(path) == b"<SummaryResult/>"
    process = world.deliver("ProcessResult", "v41-F0401-x_ProcessResult", b"<ProcessResult/>")  # no .xml
    assert world.drop.results("ProcessResult") == {process: len(b"<ProcessResult/>")}


def test_both_turnkey_layouts_are_listed_and_mapped_back(world: World) -> None:
    """3.2.0's ``<yyyyMMdd>/<HH>/<name>`` and an older Turnkey's ``<yyyyMMdd>/<HH-HH>/<stem>_<epoch ms>.xml``;
    SummaryResults below ``<transDate>/<yyyyMMddHH>/`` (domain.md §5.2, §5.5a)."""
    root = world.root
    if root is None:
        pytest.skip("the in-memory drop has no folder tree")
    err = LAYOUT.folder("ERR", "F0401")
    files = {f"{err}/20260818/10-11/F0401_LO99980950_1787020405256.xml": "F0401_LO99980950.xml",
             f"{err}/20261121/14/F0401_AB00001002_2.xml": "F0401_AB00001002_2.xml"}
    summary = f"{LAYOUT.result_folder('SummaryResult')}/20261121/2026112114/v41-F0401-20261121-x.SummaryResult"
    for path in (*files, summary):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(XML)
    assert {original_name(path) for path in world.drop.moved("F0401", "ERR")} == set(files.values())
    assert set(world.drop.results("SummaryResult")) == {summary}


def test_unreachable_drop_raises_oserror_then_recovers(world: World) -> None:
    assert world.drop.check() == []
    world.cut()
    with pytest.raises(OSError):
        world.drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    with pytest.raises(OSError):
        world.drop.pending("F0401")
    world.mend()
    for attempt in range(3):  # a restarted sshd on a loaded box may reset the first connection: the pump retries too
        try:
            world.drop.put("F0401", "F0401_AB00001000_1.xml", XML)
            break
        except OSError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    assert world.src("F0401") == {"F0401_AB00001000_1.xml": XML}


def test_put_many_keeps_order_and_stops_at_the_first_failure(world: World) -> None:
    files = [("F0401", f"F0401_AB0000100{n}_{n}.xml", XML) for n in range(4)]
    assert world.drop.put_many(files) == (4, None)
    done, failure = world.drop.put_many([files[0], ("F0401", "bad name.xml", XML), files[1]])
    assert done == 1 and isinstance(failure, ValueError)
    world.drop.sync()
    assert sorted(world.src("F0401")) == sorted(name for _, name, _ in files)
    world.cut()
    done, failure = world.drop.put_many(files)
    assert done == 0 and isinstance(failure, OSError)
    world.mend()
