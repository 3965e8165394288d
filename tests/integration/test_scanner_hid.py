"""A USB HID scanner end to end: hw_sim writes the kernel's ``struct input_event`` records into a raw pty standing
in for /dev/input/by-id/...-event-kbd, the production reader (configured through the wiring) grabs the node,
decodes the keys and hands the scans to the hub; unplug and replug included. Only the two ioctls a pty cannot
answer (grab, name) go through hw_sim's stand-in."""

from __future__ import annotations

import configparser
import contextlib
import errno
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from daemon import wiring
from daemon.config import Settings, load
from daemon.scans import Delivery, ScanHub
from drivers.scanner.hid import EVENT, EVIOCGNAME, EVIOCGRAB, HidScanner, KernelIoctls, KeyDecoder, parse_events
from hw_sim import keyboard
from hw_sim.hid import SimHidScanner, SimIoctls
from hw_sim.scanner import keyboard as compiled
from turnkey.period import TAIPEI

ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0


@pytest.fixture(scope="module", autouse=True)
def _libxkbcommon() -> None:
    try:
        compiled("us")
    except keyboard.KeyboardUnavailable as error:
        pytest.skip(str(error))


class Rig:
    def __init__(self, tmp_path: Path, url_query: str = "", layout: str = "us") -> None:
        config = tmp_path / "einvd.toml"
        config.write_text('[store]\npath = "einvd.sqlite3"\n', encoding="utf-8")
        self.sim = SimHidScanner(tmp_path, layout=layout)
        self.ioctls = SimIoctls()
        self.hub = ScanHub(lambda: datetime.now(TAIPEI))
        settings: Settings = load(config)
        settings = replace(settings, scanner=replace(settings.scanner, url=f"hid:{self.sim.path}{url_query}"))
        opened = wiring.open_scanner(settings, lambda raw: self.hub.publish("front", raw))
        assert opened is not None and isinstance(opened.scanner, HidScanner)
        self.driver = opened.scanner
        self.driver.ioctls, self.driver.backoff, self.driver.poll = self.ioctls, (0.02, 0.1), 0.02

    def take(self, count: int) -> list[Delivery]:
        found: list[Delivery] = []
        while len(found) < count:
            batch = self.hub.take(WAIT)
            assert batch, f"only {len(found)} of {count} scans arrived"
            found += batch
        return found

    def close(self) -> None:
        self.driver.stop()
        self.sim.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    made.driver.start()
    assert made.driver.connected.wait(WAIT)
    yield made
    made.close()


def test_the_record_is_the_kernels_struct_input_event() -> None:
    assert EVENT.size == struct.calcsize("llHHi")
    record = struct.pack("llHHi", 5, 6, 1, 30, 1)
    events, rest = parse_events(record * 2 + record[:7])
    assert [(e.sec, e.usec, e.type, e.code, e.value) for e in events] == [(5, 6, 1, 30, 1)] * 2
    assert rest == record[:7]


def test_scans_arrive_grabbed_decoded_and_normalised(rig: Rig) -> None:
    assert len(rig.ioctls.grabs) == 1, "the node is grabbed once, before anything is read"
    assert rig.driver.device_name == "hw_sim Barcode Scanner"
    for text in ("/AB.C+12", "/17MEWYP", "168001", "/-.+9ZZ0", "53538851"):
        rig.sim.scan(text)
    found = rig.take(5)
    assert [(d.scan.kind, d.scan.value, d.scan.raw) for d in found] == [
        ("mobile_barcode", "/AB.C+12", "/AB.C+12"), ("mobile_barcode", "/17MEWYP", "/17MEWYP"),
        ("love_code", "168001", "168001"), ("mobile_barcode", "/-.+9ZZ0", "/-.+9ZZ0"),
        ("business_number", "53538851", "53538851"),
    ]


def test_a_scan_split_across_reads_and_records_is_reassembled(rig: Rig) -> None:
    data = rig.sim.record(rig.sim.events("/XYZ.987"))
    for start in range(0, len(data), 10):  # 10-byte writes cut every 24-byte record
        rig.sim.write(data[start:start + 10])
    assert [d.scan.value for d in rig.take(1)] == ["/XYZ.987"]


def test_unplug_mid_scan_then_replug(rig: Rig) -> None:
    rig.sim.scan("/BEFORE1")
    assert [d.scan.value for d in rig.take(1)] == ["/BEFORE1"]
    old_node = os.readlink(rig.sim.path)
    half = rig.sim.events("/LOST123")
    rig.sim.write(rig.sim.record(half[: len(half) // 2]))  # Shift may be held when the cable comes out
    rig.sim.unplug()
    rig.sim.plug()
    assert _wait_for(lambda: rig.driver.reconnects == 1 and rig.driver.connected.is_set())
    rig.sim.scan("/AFTER01")
    assert [d.scan.value for d in rig.take(1)] == ["/AFTER01"], "the half scan before the unplug is dropped"
    assert len(rig.ioctls.grabs) == 2, "the new node is grabbed too"
    first, second = rig.ioctls.grabs
    assert first == second or _target(first) != old_node, "the unplugged node was closed (which ends its grab)"
    assert rig.hub.take(0.1) == []


def test_end_of_file_on_a_fifo_node_is_an_unplug_too(tmp_path: Path) -> None:
    """A named pipe as the node: the writer closing it gives the reader end of file, which it treats like ENODEV."""
    sim = SimHidScanner(tmp_path)
    fifo = tmp_path / "fifo-event-kbd"
    os.mkfifo(fifo)
    hub = ScanHub(lambda: datetime.now(TAIPEI))
    driver = HidScanner(str(fifo), lambda raw: hub.publish("front", raw), backoff=(0.02, 0.1), poll=0.02,
                        ioctls=SimIoctls())
    driver.start()
    try:
        for count, text in enumerate(("/FIRST01", "/SECOND2"), start=1):
            writer = os.open(fifo, os.O_WRONLY)  # waits for the reader's open, like a device appearing
            os.write(writer, sim.record(sim.events(text)))
            os.close(writer)
            assert [d.scan.value for d in hub.take(WAIT)] == [text]
            assert _wait_for(lambda: driver.reconnects == count)  # noqa: B023  (waited for here, in the loop)
    finally:
        driver._stop.set()
        with contextlib.suppress(OSError):  # ENXIO: no reader waiting in open()
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # lets a reader waiting in open() see the stop
        driver.stop()
        sim.close()


def test_stopping_closes_the_node(tmp_path: Path) -> None:
    made = Rig(tmp_path)
    made.driver.start()
    assert made.driver.connected.wait(WAIT)
    node = os.readlink(made.sim.path)
    made.driver.stop()
    try:
        assert not made.driver.connected.is_set()
        assert [_target(fd) for fd in made.ioctls.grabs] != [node]
    finally:
        made.sim.close()


def _target(fd: int) -> str | None:
    """What ``fd`` is open on (a pty whose master is closed reads "/dev/pts/N (deleted)"), None when closed."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)")
    except FileNotFoundError:
        return None


def test_a_scanner_grabbed_by_another_program_is_not_read_until_released(tmp_path: Path) -> None:
    made = Rig(tmp_path)
    made.ioctls.held_elsewhere = True
    made.driver.start()
    try:
        assert not made.driver.connected.wait(0.3)
        assert made.ioctls.grabs == []
        made.ioctls.held_elsewhere = False
        assert made.driver.connected.wait(WAIT)
        made.sim.scan("/ABC1234")
        assert [d.scan.value for d in made.take(1)] == ["/ABC1234"]
    finally:
        made.close()


def test_a_scanner_programmed_for_german_is_decoded_as_german(tmp_path: Path) -> None:
    made = Rig(tmp_path, "?layout=de", layout="de")
    made.driver.start()
    try:
        assert made.driver.connected.wait(WAIT)
        made.sim.scan("/17MEWYP")
        made.sim.scan("/XY-Z.+9")
        assert [(d.scan.value, d.scan.raw) for d in made.take(2)] == [("/17MEWYP", "/17MEWYP"),
                                                                      ("/XY-Z.+9", "/XY-Z.+9")]
    finally:
        made.close()


def test_a_german_scanner_read_as_us_is_restored_or_refused_never_wrong(tmp_path: Path) -> None:
    made = Rig(tmp_path, layout="de")
    made.driver.start()
    try:
        assert made.driver.connected.wait(WAIT)
        for text in ("/AB.C+12", "/17MEWYP"):
            made.sim.scan(text)
        found = made.take(2)
    finally:
        made.close()
    assert [(d.scan.kind, d.scan.value, d.scan.raw) for d in found] == [
        ("mobile_barcode", "/AB.C+12", "&AB.C]12"),
        ("unknown", "&17MEWZP", "&17MEWZP"),  # Y or Z? a German or an Italian scanner: the cashier rescans
    ]


def test_the_shift_key_is_tracked_across_both_shift_keys() -> None:
    class Event:
        def __init__(self, code: int, value: int) -> None:
            self.type, self.code, self.value = 1, code, value

    keys = [(42, 1), (54, 1), (30, 1), (30, 0), (42, 0), (30, 1), (30, 0), (54, 0), (30, 1), (30, 2), (28, 1)]
    assert KeyDecoder().feed(Event(code, value) for code, value in keys) == ["AAa"]


def test_the_real_ioctls_are_issued(tmp_path: Path) -> None:
    """On anything but an input device the kernel answers ENOTTY: the requests reach the kernel."""
    assert (EVIOCGRAB, EVIOCGNAME) == (0x40044590, 0x81004506)  # linux/input.h on x86-64 and arm64
    read, write = os.pipe()
    try:
        for call in (KernelIoctls().grab, KernelIoctls().name):
            with pytest.raises(OSError) as failed:
                call(read)
            assert failed.value.errno == errno.ENOTTY
    finally:
        os.close(read)
        os.close(write)


def test_the_unit_and_the_udev_rule_agree_on_the_input_group() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "systemd" / "einvd.service").read_text(encoding="utf-8"))
    groups = unit["Service"]["SupplementaryGroups"].split()
    rules = (ROOT / "systemd" / "99-einvd.rules").read_text(encoding="utf-8")
    hid = next(line for line in rules.splitlines() if 'SUBSYSTEM=="input"' in line)
    group = re.search(r'GROUP="(\w+)"', hid)
    mode = re.search(r'MODE="0(\d)(\d)(\d)"', hid)
    assert group is not None and mode is not None
    assert group.group(1) == "input" and "input" in groups
    assert int(mode.group(2)) & 4, "the group must be able to read the node"
    assert "char-input r" in unit["Service"]["DeviceAllow"] or "DeviceAllow=char-input r" in (
        ROOT / "systemd" / "einvd.service").read_text(encoding="utf-8")


def _wait_for(condition: object, timeout: float = WAIT) -> bool:
    import time

    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
