"""Framing scanner bytes into scans, and decoding HID key events (synthetic, as evdev delivers them)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from drivers.scanner.framing import MAX_SCAN, Framer
from drivers.scanner.hid import EV_KEY, KEY_ENTER, KEY_LEFTSHIFT, KEY_TAB, KeyDecoder

EV_SYN, EV_MSC = 0, 4
KEY_SLASH, KEY_A, KEY_B, KEY_1, KEY_DOT, KEY_EQUAL, KEY_KPSLASH, KEY_F1 = 53, 30, 48, 2, 52, 13, 98, 59


@pytest.mark.parametrize(
    ("chunks", "scans"),
    [
        ([b"/ABC1234\r"], ["/ABC1234"]),
        ([b"/ABC1234\n"], ["/ABC1234"]),
        ([b"/ABC1234\r\n"], ["/ABC1234"]),
        ([b"/ABC1234\t"], ["/ABC1234"]),
        ([b"/AB", b"C12", b"34\r"], ["/ABC1234"]),
        ([b"/ABC1234\r\n168001\r\n"], ["/ABC1234", "168001"]),
        ([b"\r\n\r\n"], []),
        (["／ＡＢ".encode() + b"\r"], ["／ＡＢ"]),
    ],
)
def test_terminated_scans(chunks: list[bytes], scans: list[str]) -> None:
    framer = Framer()
    found = [scan for n, chunk in enumerate(chunks) for scan in framer.feed(chunk, float(n))]
    assert found == scans


def test_silence_ends_a_scan_only_when_a_gap_is_configured() -> None:
    framer = Framer(gap=0.08)
    assert framer.feed(b"/ABC1234", 10.0) == []
    assert framer.idle(10.05) == []
    assert framer.idle(10.09) == ["/ABC1234"]
    assert framer.idle(10.5) == []
    plain = Framer()
    plain.feed(b"/ABC", 0.0)
    assert plain.idle(99.0) == []
    assert plain.flush() == ["/ABC"] and plain.flush() == []


def test_a_runaway_partial_is_bounded_and_bad_bytes_do_not_crash() -> None:
    framer = Framer()
    framer.feed(b"x" * (MAX_SCAN * 4), 0.0)
    assert framer.feed(b"\xff\xfe\r", 1.0) == ["x" * MAX_SCAN + "\ufffd\ufffd"]
    assert len(Framer().feed(b"y" * (MAX_SCAN * 2) + b"\r", 0.0)[0]) == MAX_SCAN * 2


class Ev(NamedTuple):
    type: int
    code: int
    value: int


def keys(*codes: int, shift: bool = False) -> list[Ev]:
    events = [Ev(EV_KEY, KEY_LEFTSHIFT, 1)] if shift else []
    for code in codes:
        events += [Ev(EV_KEY, code, 1), Ev(EV_SYN, 0, 0), Ev(EV_KEY, code, 0)]
    if shift:
        events.append(Ev(EV_KEY, KEY_LEFTSHIFT, 0))
    return events


def test_hid_events_become_text() -> None:
    decoder = KeyDecoder()
    events = [*keys(KEY_SLASH), *keys(KEY_A, KEY_B, shift=True), *keys(KEY_1, KEY_DOT), Ev(EV_MSC, 4, 458792),
              *keys(KEY_EQUAL, shift=True), *keys(KEY_KPSLASH, shift=True), *keys(KEY_F1), *keys(KEY_ENTER)]
    assert decoder.feed(events) == ["/AB1.+/"]


def test_hid_autorepeat_shift_and_empty_scans() -> None:
    decoder = KeyDecoder()
    events = [Ev(EV_KEY, KEY_LEFTSHIFT, 1), Ev(EV_KEY, KEY_LEFTSHIFT, 2), Ev(EV_KEY, KEY_A, 1),
              Ev(EV_KEY, KEY_A, 2), Ev(EV_KEY, KEY_LEFTSHIFT, 0), Ev(EV_KEY, KEY_B, 1), *keys(KEY_TAB), *keys(KEY_TAB)]
    assert decoder.feed(events) == ["Ab"]


def test_a_german_scanner_read_through_the_us_keymap_gives_ampersand() -> None:
    decoder = KeyDecoder()
    seven = 8
    assert decoder.feed([*keys(seven, shift=True), *keys(KEY_A), *keys(KEY_ENTER)]) == ["&a"]
