"""The composition root's URL tables: each scheme opens its kind of device, unknown schemes are refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from daemon import wiring
from daemon.config import ConfigError, Settings, TurnkeySettings, load
from daemon.scans import ScanHub
from daemon.wiring.scanner import device_path
from drivers.drop.local import LocalDrop
from drivers.scanner.hid import HidScanner, keymap
from drivers.scanner.serial import SerialScanner
from hw_sim.drop import MemoryDrop
from turnkey.period import TAIPEI


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "einvd.sqlite3"\n', encoding="utf-8")
    return load(config)


def _with_scanner(settings: Settings, url: str) -> Settings:
    return replace(settings, scanner=replace(settings.scanner, url=url))


def test_a_sim_printer_prints_into_the_virtual_printer(settings: Settings) -> None:
    opened = wiring.open_printer(settings, "sim:")
    assert opened.sim is not None
    opened.printer.print_job(b"\x1b@hello\n\x1dV\x00")
    assert opened.sim.slips


@pytest.mark.parametrize("url", ["lpt:1", "http://printer", "/dev/usb/lp0"])
def test_a_printer_url_of_no_known_scheme_is_refused(settings: Settings, url: str) -> None:
    with pytest.raises(ValueError, match="tcp://"):
        wiring.open_printer(settings, url)
    with pytest.raises(ValueError, match="tcp://"):
        wiring.open_transport(url, 0.1)


@pytest.mark.parametrize(("url", "port"), [("/dev/ttyACM0", "/dev/ttyACM0"), ("serial:///dev/ttyACM0", "/dev/ttyACM0"),
                                           ("serial:rfc2217://host:2217", "rfc2217://host:2217"),
                                           ("rfc2217://host:2217", "rfc2217://host:2217")])
def test_serial_scanner_urls(settings: Settings, url: str, port: str) -> None:
    """A bare path or another pyserial URL stays a serial scanner, as before the URL table."""
    opened = wiring.open_scanner(_with_scanner(settings, url), lambda raw: None)
    assert opened is not None and opened.sim is None
    assert isinstance(opened.scanner, SerialScanner) and opened.scanner.url == port


def test_no_scanner_url_opens_nothing(settings: Settings) -> None:
    assert wiring.open_scanner(settings, lambda raw: None) is None


def test_a_hid_scanner_is_the_input_event_reader(settings: Settings) -> None:
    opened = wiring.open_scanner(_with_scanner(settings, "hid:/dev/input/event3"), lambda raw: None)
    assert opened is not None and isinstance(opened.scanner, HidScanner) and opened.sim is None
    assert opened.scanner.path == "/dev/input/event3" and opened.scanner.keymap == keymap("us")
    german = wiring.open_scanner(_with_scanner(settings, "hid:///dev/input/by-id/x-event-kbd?layout=de"), print)
    assert german is not None and isinstance(german.scanner, HidScanner)
    assert german.scanner.path == "/dev/input/by-id/x-event-kbd" and german.scanner.keymap == keymap("de")


def test_a_hid_scanner_of_an_unknown_layout_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"scanner.url .*unknown keyboard layout 'klingon'"):
        wiring.open_scanner(_with_scanner(settings, "hid:/dev/input/event3?layout=klingon"), print)


def test_a_sim_scanner_is_read_by_the_serial_driver(settings: Settings) -> None:
    hub = ScanHub(lambda: datetime.now(TAIPEI))

    def publish(raw: str) -> None:
        hub.publish("front", raw)

    opened = wiring.open_scanner(_with_scanner(settings, "sim:dev"), publish)
    assert opened is not None and opened.sim is not None
    opened.scanner.start()
    try:
        assert opened.scanner.connected.wait(5)
        opened.sim.scan("/AB.C+12")
        delivered = hub.take(5, "front")
    finally:
        opened.scanner.stop()
        opened.sim.close()
    assert [d.scan.value for d in delivered] == ["/AB.C+12"]


@pytest.mark.parametrize(("url", "path"), [("/dev/x", "/dev/x"), ("serial:///dev/x?baudrate=9600", "/dev/x"),
                                           ("hid:/dev/input/event3", "/dev/input/event3"), ("sim:dev", None),
                                           ("rfc2217://h:1", None), ("serial:socket://h:1", None)])
def test_the_device_file_doctor_checks(url: str, path: str | None) -> None:
    assert device_path(url) == path


def test_drop_schemes(settings: Settings, tmp_path: Path) -> None:
    def drop(url: str) -> object:
        return wiring.open_drop(replace(settings, turnkey=TurnkeySettings(drop=url)))

    assert drop("") is None
    assert isinstance(drop("memory:"), MemoryDrop)
    local = drop(str(tmp_path / "tk"))
    assert isinstance(local, LocalDrop) and local.root == tmp_path / "tk"
    by_url = drop(f"file://{tmp_path}/tk")
    assert isinstance(by_url, LocalDrop) and by_url.root == tmp_path / "tk"
    sim = drop(f"sim:{tmp_path}/tk")
    assert isinstance(sim, LocalDrop) and sim.root == tmp_path / "tk"


def test_the_shops_keyboard_layouts_are_configured(tmp_path: Path) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text('[scanner]\nlayouts = ["de", "jp(106)"]\n', encoding="utf-8")
    assert load(config).scanner.layouts == ("de", "jp(106)")
    assert load(None).scanner.layouts == ()
    config.write_text('[scanner]\nlayouts = ["de", "klingon"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scanner.layouts must be a list of us, de, ch"):
        load(config)
    config.write_text('[scanner]\nlayouts = "de"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scanner.layouts"):
        load(config)


def test_the_hub_undoes_only_the_shops_layouts() -> None:
    german = ScanHub(lambda: datetime.now(TAIPEI), layouts=("de",))
    anywhere = ScanHub(lambda: datetime.now(TAIPEI))
    assert german.publish("front", "-17MEWZP").scan.value == "/17MEWYP"
    assert anywhere.publish("front", "-17MEWZP").scan.kind == "unknown"
