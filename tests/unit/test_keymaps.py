"""turnkey/keymaps.py is what scripts/gen-keymaps makes of the XKB database, and what a real host types.

The generator is re-run and compared with the checked-in table; then every main key of every layout is compared
with libxkbcommon (hw_sim/keyboard.py), the library hosts type with, which reads the same files its own way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hw_sim import keyboard
from hw_sim.scanner import keyboard as compiled
from turnkey.keymaps import LAYOUTS

ROOT = Path(__file__).resolve().parents[2]
XKB_SYMBOLS = Path("/usr/share/X11/xkb/symbols")
KEYSYMDEF = Path("/usr/include/X11/keysymdef.h")
LISTED = {"us", "de", "ch", "fr", "be", "it", "es", "pt", "gb", "se", "no", "dk", "fi", "jp(106)", "us(dvorak)"}


def test_every_listed_layout_is_in_the_table() -> None:
    assert set(LAYOUTS) == LISTED
    for name, table in LAYOUTS.items():
        assert len(table) >= 47, name  # every main key of a pc105 keyboard
        assert all(len(level) == 1 or level == "" or level.startswith("dead_") for pair in table.values()
                   for level in pair), name


@pytest.mark.skipif(not XKB_SYMBOLS.is_dir(), reason="needs the XKB database (Debian xkb-data)")
@pytest.mark.skipif(not KEYSYMDEF.is_file(), reason="needs X11/keysymdef.h (Debian x11proto-dev)")
def test_the_checked_in_table_is_what_the_generator_makes() -> None:
    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-keymaps"), "-"], capture_output=True,
                          text=True, check=True).stdout
    checked_in = (ROOT / "turnkey" / "keymaps.py").read_text(encoding="utf-8")
    assert made == checked_in, "turnkey/keymaps.py is stale: run scripts/gen-keymaps"


def test_the_generator_writes_a_file(tmp_path: Path) -> None:
    if not (XKB_SYMBOLS.is_dir() and KEYSYMDEF.is_file()):
        pytest.skip("needs the XKB database (xkb-data) and X11/keysymdef.h (x11proto-dev)")
    out = tmp_path / "keymaps.py"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-keymaps"), str(out)], check=True)
    assert out.read_text(encoding="utf-8") == (ROOT / "turnkey" / "keymaps.py").read_text(encoding="utf-8")


def test_the_table_is_what_libxkbcommon_types() -> None:
    try:
        compiled("us")
    except keyboard.KeyboardUnavailable as error:
        pytest.skip(str(error))
    differences = []
    for name, table in LAYOUTS.items():
        host = compiled(name)
        for code in sorted(keyboard.MAIN_KEYS):
            typed = (host.character(keyboard.Stroke(code, False)), host.character(keyboard.Stroke(code, True)))
            if table.get(code, ("", "")) != typed:
                differences.append((name, code, table.get(code), typed))
    assert differences == []
