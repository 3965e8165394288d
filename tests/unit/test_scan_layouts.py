"""Every listed keyboard layout garbles a table of mobile barcodes the way a real host (or a scanner set to that
layout) does, derived from the layout database by the simulator (libxkbcommon over xkb-data, hw_sim/keyboard.py,
independent of turnkey/keymaps.py); the normaliser restores each code or refuses it, never another carrier.

Run with ``-s`` to see the counts per layout (restored/refused out of the table).
"""

from __future__ import annotations

import random

import pytest

from hw_sim import keyboard
from hw_sim.scanner import garble
from hw_sim.scanner import keyboard as compiled
from turnkey.carrier import BUSINESS, MOBILE, UNKNOWN, normalise_scan

LAYOUTS = ["us", "de", "ch", "fr", "be", "it", "es", "pt", "gb", "se", "no", "dk", "fi", "jp(106)", "us(dvorak)"]
HOST = ["compose", "spacing", "drop"]  # how the host treats a dead key the next key cannot follow (hw_sim.keyboard)
SCANNER = ["", "shift-lost"]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
_rng = random.Random(16)
CODES = [
    "/17MEWYP", "/17MEWZP", "/AB.C+12", "/AB.C-12", "/XY-Z.+9", "/ABC1234", "/-.+9ZZ0", "/YYYYYYY", "/ZZZZZZZ",
    "/YZYZYZY", "/1234567", "/+++----", "/.......", "/Y+Z-Y.0", "/QWERTYZ", "/AZERTY1", "/0000000", "/9.9.9.9",
] + ["/" + "".join(_rng.choice(ALPHABET) for _ in range(7)) for _ in range(110)]


@pytest.fixture(scope="module", autouse=True)
def _libxkbcommon() -> None:
    try:
        compiled("us")
    except keyboard.KeyboardUnavailable as error:
        pytest.skip(str(error))


def _outcome(code: str, how: str, only: list[str] | None = None) -> str:
    garbled = garble(code, how)
    scan = normalise_scan(garbled, only)
    if scan.kind == MOBILE and scan.value == code:
        return "restored"
    if scan.kind == UNKNOWN:
        return "refused"
    if how.endswith("shift-lost") and scan.kind == BUSINESS and code[1:].isdigit():
        return "refused"  # "/1234567" with Shift lost is "71234567", a valid 統一編號: the number is not a carrier
    return f"WRONG: {code} typed as {garbled!r} read as {scan.kind} {scan.value} ({scan.note})"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_layout_turns_a_code_into_another_carrier(layout: str) -> None:
    counts = []
    wrong = []
    for how in [f"host:{layout}:{composer}" for composer in HOST] + [f"scanner:{layout}:{s}" for s in SCANNER]:
        outcomes = [_outcome(code, how) for code in CODES]
        wrong += [o for o in outcomes if o.startswith("WRONG")]
        restored = outcomes.count("restored")
        counts.append(f"{how.replace(':' + layout, '').rstrip(':')} {restored}/{len(CODES) - restored}")
        if how.startswith("host:"):
            assert restored > len(CODES) / 2, f"{how}: only {restored} of {len(CODES)} restored"
    print(f"\n{layout:11} restored/refused of {len(CODES)}: " + ", ".join(counts))
    assert wrong == []


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_shops_layout_configured_restores_more_and_never_wrongly(layout: str) -> None:
    """[scanner] layouts = [LAYOUT]: only that layout is undone, so what several layouts share is no longer
    ambiguous; what its dead keys may have eaten is still refused."""
    counts = []
    for how in [f"host:{layout}:{composer}" for composer in HOST] + [f"scanner:{layout}:{s}" for s in SCANNER]:
        hinted = [_outcome(code, how, [layout]) for code in CODES]
        unhinted = [_outcome(code, how) for code in CODES]
        assert [o for o in hinted if o.startswith("WRONG")] == []
        assert hinted.count("restored") >= unhinted.count("restored")
        counts.append(f"{how.replace(':' + layout, '').rstrip(':')} {hinted.count('restored')}/{len(CODES)}")
    print(f"\n{layout:11} restored with layouts = [{layout!r}]: " + ", ".join(counts))


def test_a_configured_layout_reads_german_z_as_y() -> None:
    assert normalise_scan("-17MEWZP").kind == UNKNOWN  # German, Swiss: /17MEWYP; Italian, Nordic: /17MEWZP
    assert normalise_scan("-17MEWZP", ["de"]).value == "/17MEWYP"
    assert normalise_scan("-17MEWZP", ["it", "se"]).value == "/17MEWZP"
    assert normalise_scan("-17MEWZP", ["de", "it"]).kind == UNKNOWN
    assert normalise_scan("-AB.C2", ["de"]).kind == UNKNOWN  # "+" was a dead key: characters are gone


def test_the_table_exercises_every_character() -> None:
    assert set("".join(CODES)) == set(ALPHABET) | {"/"}
    assert len(set(CODES)) > 100


@pytest.mark.parametrize("layout", ["us", "gb", "fr", "be", "jp(106)", "us(dvorak)"])
def test_layouts_with_a_recognisable_slash_and_no_dead_keys_restore_everything(layout: str) -> None:
    assert {_outcome(code, f"host:{layout}") for code in CODES} == {"restored"}
