"""``Drop.find`` and ``Drop.inspect`` on every drop (local directory, SFTP against a real sshd, the in-memory twin):
a dropped file is found in SRC or wherever Turnkey moved it (domain.md §5.5a: 3.2.0 ``BAK/<yyyyMMdd>/<HH>/name``
and ``name.001``, ERR; §5.2: the older ``HH-HH`` folder and ``_<epoch ms>`` suffix), and the dropped file gets
the mode Turnkey's user needs whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sshd_peer import Sshd

from daemon.ports import Drop
from drivers.drop.local import LocalDrop
from drivers.drop.names import is_copy_of
from drivers.drop.sftp import SftpDrop, SftpTarget
from hw_sim.drop import MemoryDrop
from turnkey.layout import Layout

XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="urn:GEINV:eInvoiceMessage:F0401:4.1"/>\n'
LAYOUT = Layout()
NAME = "F0401_AB00001000_7.xml"


@dataclass
class World:
    drop: Drop
    move: Callable[[str, str], str]  # (which, "<sub folders>/<file name>") -> the path the drop reports
    mode_of: Callable[[str], int]


def _tree(root: Path, drop: Drop) -> World:
    for folder in LAYOUT.required():
        (root / folder).mkdir(parents=True, exist_ok=True)

    def move(which: str, rest: str) -> str:
        path = f"{LAYOUT.folder(which, 'F0401')}/{rest}"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / LAYOUT.folder("SRC", "F0401") / NAME, root / path)
        return path

    return World(drop, move, lambda name: stat.S_IMODE((root / LAYOUT.folder("SRC", "F0401") / name).stat().st_mode))


@pytest.fixture(params=["local", "sftp", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "local":
        yield _tree(tmp_path / "turnkey", LocalDrop(tmp_path / "turnkey", LAYOUT))
    elif request.param == "sftp":
        server = Sshd.start_or_skip(tmp_path / "sshd")
        drop = SftpDrop(SftpTarget.from_url(server.url, server.client_key, server.known_hosts, timeout=10), LAYOUT)
        try:
            yield _tree(server.root, drop)
        finally:
            drop.close()
            server.kill()
    else:
        memory = MemoryDrop()

        def move(which: str, rest: str) -> str:
            path = f"{which}/F0401/{rest}"
            memory.files[path] = memory.src["F0401"].pop(NAME)
            return path

        yield World(memory, move, lambda name: stat.S_IMODE(memory.modes.get(("F0401", name), 0o100660)))


@pytest.mark.parametrize(("which", "rest"), [
    ("BAK", f"20261203/18/{NAME}"),  # Turnkey 3.2.0
    ("BAK", f"20261203/18/{NAME}.001"),  # 3.2.0, a name already there (the first since removed)
    ("ERR", f"20261203/18/{NAME}"),
    ("BAK", "20261203/18-19/F0401_AB00001000_7_1787020405256.xml"),  # an older Turnkey
    ("ERR", "20261203/18-19/F0401_AB00001000_7_1787020405256.xml"),
])
def test_a_dropped_file_is_found_wherever_turnkey_put_it(world: World, which: str, rest: str) -> None:
    assert world.drop.find("F0401", NAME) is None
    world.drop.put("F0401", NAME, XML)
    world.drop.sync()
    assert world.drop.find("F0401", NAME) is not None and NAME in str(world.drop.find("F0401", NAME))
    path = world.move(which, rest)
    assert world.drop.find("F0401", NAME) == path
    assert world.drop.find("F0401", "F0401_AB00001000_70.xml") is None  # a longer number is another file
    assert world.drop.find("F0501", NAME) is None


def test_a_dropped_file_has_the_mode_turnkey_needs_and_inspect_reports_it(world: World) -> None:
    old = os.umask(0o077)  # a service umask that would leave the file to its owner alone
    try:
        world.drop.put("F0401", NAME, XML)
        world.drop.sync()
    finally:
        os.umask(old)
    assert world.mode_of(NAME) == 0o660
    facts = world.drop.inspect("F0401", NAME)
    assert facts is not None and stat.S_IMODE(facts.mode) == 0o660 and stat.S_ISREG(facts.mode)
    folder = world.drop.inspect("F0401", "")
    assert folder is not None and stat.S_ISDIR(folder.mode)
    assert world.drop.inspect("F0401", "F0401_AB00009999_1.xml") is None


def test_turnkeys_name_forms() -> None:
    assert is_copy_of(NAME, NAME) and is_copy_of(f"{NAME}.001", NAME) and is_copy_of(f"{NAME}.012", NAME)
    assert is_copy_of("F0401_AB00001000_7_1787020405256.xml", NAME)
    assert not is_copy_of(f"{NAME}.01", NAME) and not is_copy_of(f"{NAME}.0001", NAME)
    assert not is_copy_of("F0401_AB00001000_7_178702040525.xml", NAME)  # 12 digits: not epoch millis
    assert not is_copy_of("F0401_AB00001000_70.xml", NAME) and not is_copy_of("F0401_AB00001000_7.xml.log", NAME)


def test_many_files_are_found_in_one_pass(world: World) -> None:
    others = [f"F0401_AB0000100{n}_{n}.xml" for n in range(1, 4)]
    for name in [NAME, *others]:
        world.drop.put("F0401", name, XML)
    world.drop.sync()
    moved = world.move("BAK", f"20261203/18/{NAME}.001")
    found = world.drop.find_many("F0401", [NAME, others[0], "F0401_AB00009999_9.xml"])
    assert found == {NAME: moved, others[0]: found[others[0]]}
    assert found[others[0]].endswith(others[0]) and "SRC" in found[others[0]].split("/")
