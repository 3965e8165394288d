"""Scanner normalisation: 40+ raw scans as scanners, keyboard layouts, IMEs and Code 39 Full ASCII deliver them."""

from __future__ import annotations

import pytest

from turnkey.carrier import (
    BUSINESS,
    CITIZEN,
    CITIZEN_CERTIFICATE,
    LOVE,
    MOBILE,
    MOBILE_BARCODE,
    UNKNOWN,
    normalise_scan,
)

# raw scan, expected kind, expected value, a fragment of the note ("" = no repair)
SCANS: list[tuple[str, str, str, str]] = [
    # clean reads and terminators
    ("/ABC1234", MOBILE, "/ABC1234", ""),
    ("/AB.C+12\r", MOBILE, "/AB.C+12", ""),
    ("/AB.C+12\n", MOBILE, "/AB.C+12", ""),
    ("/AB.C+12\r\n", MOBILE, "/AB.C+12", ""),
    ("/AB.C+12\t", MOBILE, "/AB.C+12", ""),
    ("  /17MEWYP  ", MOBILE, "/17MEWYP", ""),
    ("\x02/17MEWYP\x03", MOBILE, "/17MEWYP", ""),
    ("]A0/17MEWYP", MOBILE, "/17MEWYP", ""),
    ("/-.+9ZZ0", MOBILE, "/-.+9ZZ0", ""),
    # case and full-width input
    ("/abc1234", MOBILE, "/ABC1234", ""),
    ("/aBc.+-1", MOBILE, "/ABC.+-1", ""),
    ("／ＡＢ．Ｃ＋１２", MOBILE, "/AB.C+12", ""),
    ("／１７ＭＥＷＹＰ\r", MOBILE, "/17MEWYP", ""),
    # a whole keyboard layout undone (what real layouts type: tests/unit/test_scan_layouts.py derives them)
    ("!QB:C+&é", MOBILE, "/AB.C+12", "US scanner on a fr host"),
    ("!&è?EZYP", MOBILE, "/17MEWYP", "US scanner on a fr host"),
    ("=QB:C_&é", MOBILE, "/AB.C+12", "US scanner on a be host"),
    ("-AB.C^12", MOBILE, "/AB.C+12", "US scanner on a it host"),
    ("-AB.C¿12", MOBILE, "/AB.C+12", "US scanner on a es host"),
    ("-AB.C+12", MOBILE, "/AB.C-12", "US scanner on a se host, US scanner on a no host"),
    ("-XZßY.", UNKNOWN, "-XZßY.", "dead keys"),
    ("-AB.C`12", UNKNOWN, "-AB.C`12", "dead keys"),
    ("-ABÀÒZ", UNKNOWN, "-ABÀÒZ", "dead keys"),
    ("/AB.C~12", MOBILE, "/AB.C+12", "jp(106) host"),
    ("zAXvJ}12", MOBILE, "/AB.C+12", "us(dvorak) host"),
    (">QB<C+!@", MOBILE, "/AB.C+12", "fr scanner read as US"),
    ("&AB.C]12", MOBILE, "/AB.C+12", "de scanner read as US"),
    (".17;ezyp", MOBILE, "/17MEWYP", "fr scanner read as US, Shift lost"),
    ("7ABC.]12", MOBILE, "/ABC.+12", "de scanner read as US, Shift lost"),
    ("71234560", UNKNOWN, "71234560", "not a"),
    # the same layouts, where the code alone cannot tell which one it was: refused, never guessed
    ("-17MEWZP", UNKNOWN, "-17MEWZP", "ambiguous"),
    ("&17MEWZP", UNKNOWN, "&17MEWZP", "ambiguous"),
    ("&AB.C+12", UNKNOWN, "&AB.C+12", "not a"),
    (">AB.C+12", UNKNOWN, ">AB.C+12", "not a"),
    ("!AB.C+12", UNKNOWN, "!AB.C+12", "not a"),
    # the leading "/" replaced by an IME or a held Shift
    ("?AB.C+12", MOBILE, "/AB.C+12", "Shift held"),
    ("・AB.C+12", MOBILE, "/AB.C+12", "Japanese"),
    ("･AB.C+12", MOBILE, "/AB.C+12", "Japanese"),
    ("ㄥAB.C+12", MOBILE, "/AB.C+12", "Zhuyin"),
    ("ㄥㄇㄖㄏㄅㄉ˙ㄆ", MOBILE, "/ABC127Q", "Zhuyin"),
    # the "/" dropped
    ("AB.C+12", MOBILE, "/AB.C+12", "missing leading /"),
    ("17mewyp", MOBILE, "/17MEWYP", "missing leading /"),
    # Code 39 Full ASCII: "/A".."/N" and "/Z" become punctuation, "+X" becomes a lower-case letter
    ("!BC1234", MOBILE, "/ABC1234", "Full-ASCII"),
    ("#1MEWYP", MOBILE, "/C1MEWYP", "Full-ASCII"),
    ('"C1234', UNKNOWN, '"C1234', "not a"),
    ("!Bc123", MOBILE, "/AB+C123", "Full-ASCII"),
    (":ABCDEF", MOBILE, "/ZABCDEF", "Full-ASCII"),
    # other kinds
    ("AB12345678901234", CITIZEN, "AB12345678901234", ""),
    ("ab12345678901234\r\n", CITIZEN, "AB12345678901234", ""),
    ("168001", LOVE, "168001", ""),
    ("８９９９", LOVE, "8999", ""),
    ("123", LOVE, "123", ""),
    ("53538851", BUSINESS, "53538851", ""),
    ("62140097", BUSINESS, "62140097", ""),
    # ambiguous: never invented
    ("-ABC123", UNKNOWN, "-ABC123", "dead keys"),
    ("1234567", UNKNOWN, "1234567", "ambiguous"),
    (".ABC123", UNKNOWN, ".ABC123", "ambiguous"),
    # not a carrier at all
    ("/AB_C+12", UNKNOWN, "/AB_C+12", "not a"),
    ("/AB.C+1", UNKNOWN, "/AB.C+1", "not a"),
    ("/AB.C+123", UNKNOWN, "/AB.C+123", "not a"),
    ("12345678", UNKNOWN, "12345678", "not a"),
    ("12", UNKNOWN, "12", "not a"),
    ("拿鐵", UNKNOWN, "拿鐵", "not a"),
    ("", UNKNOWN, "", "empty"),
    ("\r\n", UNKNOWN, "", "empty"),
]


def test_the_table_is_large_enough() -> None:
    assert len(SCANS) >= 40


@pytest.mark.parametrize(("raw", "kind", "value", "note"), SCANS, ids=[repr(s[0]) for s in SCANS])
def test_scan_is_normalised(raw: str, kind: str, value: str, note: str) -> None:
    scan = normalise_scan(raw)
    assert (scan.kind, scan.value, scan.raw) == (kind, value, raw)
    if note:
        assert note in scan.note
    else:
        assert scan.note == ""


def test_carrier_type_codes() -> None:
    assert normalise_scan("/ABC1234").carrier_type == MOBILE_BARCODE
    assert normalise_scan("AB12345678901234").carrier_type == CITIZEN_CERTIFICATE
    assert normalise_scan("168001").carrier_type is None


def test_every_mobile_reading_is_a_valid_barcode() -> None:
    for raw, kind, value, _ in SCANS:
        if kind == MOBILE:
            assert len(value) == 8 and value[0] == "/", raw


def test_dead_keys_leave_their_spacing_accent() -> None:
    from turnkey.carrier import _spacing

    assert (_spacing("dead_grave"), _spacing("dead_acute"), _spacing("dead_tilde")) == ("`", "´", "~")
    assert _spacing("dead_belowdot") == ""  # no spacing form: only a changed length or a composed letter shows


def test_a_character_no_main_key_types() -> None:
    from turnkey.carrier import _key_of
    from turnkey.keymaps import LAYOUTS

    assert _key_of(LAYOUTS["us"], "€") is None
    assert _key_of(LAYOUTS["de"], "/") == (8, 1)  # KEY_7 with Shift
