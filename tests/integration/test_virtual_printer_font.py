"""Issue #16: the virtual printer refuses to start, naming the package to install, rather than draw Chinese as
empty boxes (a font file that is missing, or one without Han glyphs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hw_sim import printer
from hw_sim.escpos_decode import FONT_PACKAGE, MissingFont, draws_chinese, load_font
from hw_sim.printer import SimPrinter

LATIN_ONLY = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian fonts-dejavu-core: no Han glyphs


def test_no_font_file_refuses_with_the_package_name(tmp_path: Path) -> None:
    with pytest.raises(MissingFont, match=f"install the Debian package {FONT_PACKAGE}"):
        SimPrinter(fonts=((str(tmp_path / "none.ttc"), 0),))


@pytest.mark.skipif(not LATIN_ONLY.is_file(), reason=f"{LATIN_ONLY} absent (fonts-dejavu-core): no Latin-only font")
def test_a_font_without_chinese_is_refused_too() -> None:
    with pytest.raises(MissingFont, match=FONT_PACKAGE):
        SimPrinter(fonts=((str(LATIN_ONLY), 0),))


def test_the_command_says_why_it_did_not_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert printer.main(["--port", "0", "--out", str(tmp_path), "--font", str(tmp_path / "none.ttf")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("virtual printer not started:") and f"apt-get install {FONT_PACKAGE}" in err


def test_the_installed_font_draws_chinese() -> None:
    font = load_font()  # this machine has fonts-wqy-microhei (scripts/system-packages installs it)
    assert draws_chinese(font)


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("setpriv") is None or os.getuid() != 0, reason="needs root and setpriv (util-linux) "
                    "to run scripts/system-packages as an unprivileged user")
def test_system_packages_takes_a_list_and_names_the_missing_ones() -> None:
    """scripts/demo runs ``scripts/system-packages fonts-wqy-microhei``: only the named packages are checked, and a
    user who cannot install them is told the command (as root it would install them; not done here)."""
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           str(ROOT / "scripts" / "system-packages"), FONT_PACKAGE, "einvd-no-such-package"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0
    assert done.stderr.strip() == ("warning: missing Debian packages: einvd-no-such-package "
                                   "(install them with: sudo apt-get install einvd-no-such-package)")
    assert f"scripts/system-packages\" {FONT_PACKAGE}" in (ROOT / "scripts" / "demo").read_text()
