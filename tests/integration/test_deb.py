"""The Debian package: ``scripts/build-deb`` puts its files where Debian expects them and passes lintian.

One build per module (about a minute: the wheel, a venv of the system python3 with every dependency from PyPI or
pip's cache, dpkg-deb) and one lintian run (about 20 s). Nothing is installed on this machine (``dpkg -i`` would
create the einvd user on the host): the package is listed with ``dpkg-deb -c`` and unpacked with ``dpkg-deb -x``,
and the unpacked venv's python runs einvd from there with no PYTHONPATH, in a directory outside the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
FINAL = "/usr/lib/einvd"
# lintian warnings accepted without an override, with the reason in packaging/debian/lintian-overrides
ACCEPTED_WARNINGS = {"initial-upload-closes-no-bugs", "no-manual-page"}


def _system_python_has_venv() -> bool:
    python = Path("/usr/bin/python3")
    return python.exists() and subprocess.run([str(python), "-c", "import venv, ensurepip"], capture_output=True,
                                              check=False).returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(tool) for tool in ("dpkg-deb", "dpkg", "lintian")),
                       reason="needs dpkg-deb and lintian (scripts/apt-packages.txt: dpkg-dev, lintian)"),
    pytest.mark.skipif(not _system_python_has_venv(),
                       reason="needs the system python3 with venv (scripts/apt-packages.txt: python3-venv)"),
]


@dataclass(frozen=True)
class Built:
    deb: Path
    listing: dict[str, tuple[str, str, str]]  # path -> (mode, owner, link target or "")
    unpacked: Path


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def _listing(deb: Path) -> dict[str, tuple[str, str, str]]:
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    entries: dict[str, tuple[str, str, str]] = {}
    for line in out.splitlines():
        mode, owner, _size, _date, _time, rest = line.split(None, 5)
        name, _, target = rest.partition(" -> ")
        entries[name.removeprefix(".").rstrip("/") or "/"] = (mode, owner, target)
    return entries


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("deb")
    build = subprocess.run([str(CHECKOUT / "scripts" / "build-deb"), str(out)], cwd=CHECKOUT, capture_output=True,
                           text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr[-4000:]
    deb = Path(build.stdout.strip().splitlines()[-1])
    assert deb.parent == out and deb.is_file(), build.stdout
    unpacked = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    return Built(deb, _listing(deb), unpacked)


def test_lintian_reports_no_error_and_only_the_documented_warnings(built: Built) -> None:
    lint = subprocess.run(["lintian", "--tag-display-limit", "0", str(built.deb)], capture_output=True, text=True,
                          timeout=600, check=False)
    tags = [line for line in lint.stdout.splitlines() if re.match(r"[EW]: ", line)]
    errors = [line for line in tags if line.startswith("E: ")]
    assert not errors, "\n".join(errors)
    warnings = {line.split()[2] for line in tags if line.startswith("W: ")}
    assert warnings <= ACCEPTED_WARNINGS, "\n".join(tags)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_files_are_where_debian_expects_them(built: Built) -> None:
    files = built.listing
    assert files["/usr/lib/einvd/bin/einvd"][0] == "-rwxr-xr-x"
    assert files["/usr/lib/einvd/bin/python"][2] in {"python3", "/usr/bin/python3"}
    assert files["/usr/lib/systemd/system/einvd.service"][0] == "-rw-r--r--"
    assert files["/usr/lib/udev/rules.d/99-einvd.rules"][0] == "-rw-r--r--"
    assert files["/usr/bin/einvd"] == ("lrwxrwxrwx", "root/root", "../lib/einvd/bin/einvd")
    for doc in ("copyright", "changelog.Debian.gz"):
        assert files[f"/usr/share/doc/einvd/{doc}"][0] == "-rw-r--r--"
    assert files["/usr/share/lintian/overrides/einvd"][0] == "-rw-r--r--"
    assert any(re.fullmatch(r"/usr/lib/einvd/lib/python3\.\d+/site-packages/daemon/__main__\.py", p) for p in files)
    # root owns everything; configuration is einvd setup's (no /etc), nothing under /usr/local, no byte-code
    assert {owner for _, owner, _ in files.values()} == {"root/root"}
    assert not [p for p in files if p.startswith(("/etc", "/usr/local", "/var")) or "__pycache__" in p]
    # only the venv's scripts execute; extension modules and bundled libraries are 0644
    executable = {p for p, (mode, _, _) in files.items() if mode.startswith("-") and "x" in mode}
    assert executable and all(p.startswith("/usr/lib/einvd/bin/") for p in executable), sorted(executable)


def test_the_unit_runs_the_packaged_einvd_and_the_rules_are_the_shipped_ones(built: Built) -> None:
    unit = (built.unpacked / "usr/lib/systemd/system/einvd.service").read_text(encoding="utf-8")
    shipped = (CHECKOUT / "systemd" / "einvd.service").read_text(encoding="utf-8")
    assert [line for line in unit.splitlines() if line.startswith("ExecStart=")] == [
        f"ExecStart={FINAL}/bin/einvd run --config /etc/einvd/einvd.toml"]
    assert "/usr/local" not in unit
    # every other directive is the shipped unit's
    directives = [line for line in unit.splitlines() if line and not line.startswith(("#", "ExecStart="))]
    assert directives == [line for line in shipped.splitlines() if line and not line.startswith(("#", "ExecStart="))]
    rules = built.unpacked / "usr/lib/udev/rules.d/99-einvd.rules"
    assert rules.read_text(encoding="utf-8") == (CHECKOUT / "systemd" / "99-einvd.rules").read_text(encoding="utf-8")


def test_the_venv_scripts_name_the_final_path_and_the_unpacked_venv_runs(built: Built, tmp_path: Path) -> None:
    venv = built.unpacked / FINAL.lstrip("/")
    assert (venv / "bin" / "einvd").read_text(encoding="utf-8").splitlines()[0] == f"#!{FINAL}/bin/python"
    config = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    assert "/tmp" not in config and "home = /usr/bin" in config
    # the wheel of this checkout, from the venv and not from the checkout: the package's own files are listed
    python = venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import daemon; print(daemon.__file__)"], cwd=tmp_path,
                           env=_clean_env(), capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    shown = subprocess.run([str(python), "-m", "daemon", "--help"], cwd=tmp_path, env=_clean_env(),
                           capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "usage: einvd" in shown.stdout and "files" in shown.stdout


def test_control_and_maintainer_scripts(built: Built) -> None:
    control = subprocess.run(["dpkg-deb", "-f", str(built.deb), "Package", "Architecture", "Depends"],
                             capture_output=True, text=True, check=True).stdout
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    assert "Package: einvd" in control and f"Architecture: {arch}" in control
    assert "python3 (>= 3.11)" in control and "adduser" in control
    scripts = built.unpacked / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", str(built.deb), str(scripts)], check=True)
    for name in ("postinst", "prerm", "postrm"):
        text = (scripts / name).read_text(encoding="utf-8")
        assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text, name
        assert subprocess.run(["sh", "-n", str(scripts / name)], check=False).returncode == 0, name
        assert "/run/systemd/system" in text or name != "prerm", name
    postinst = (scripts / "postinst").read_text(encoding="utf-8")
    assert "install -d -m 0750 -o root -g einvd /etc/einvd" in postinst
    assert "/var/lib/einvd" in postinst and "adduser --quiet --system" in postinst
