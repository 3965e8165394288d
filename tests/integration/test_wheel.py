"""The wheel is the product: built from the checkout, installed into a fresh venv outside it, it carries the default
configuration, the systemd unit and the udev rules, and ``einvd run`` starts from the installed files alone.

The project's dependencies come from this interpreter's site-packages through a ``.pth`` file appended after the
wheel is installed (no network); ``daemon``, ``turnkey``, ``drivers`` and ``hw_sim`` come from the wheel. Every
command runs with a temporary working directory and no PYTHONPATH, so nothing can be read from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from daemon import resources

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGES = ("daemon", "turnkey", "drivers", "hw_sim")
SHIPPED = {"config": CHECKOUT / "daemon" / "default.toml", "unit": CHECKOUT / "systemd" / "einvd.service",
           "udev": CHECKOUT / "systemd" / "99-einvd.rules"}
SECRET = "wheel-test-secret-0123456789-abcdefghij"


def test_the_package_data_is_the_one_copy_in_systemd() -> None:
    """In the checkout daemon/data/ points at systemd/: there is one copy of the unit and the rules to edit."""
    for name, source in SHIPPED.items():
        assert resources.path(name).resolve() == source.resolve()
        assert resources.text(name) == source.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Installed:
    venv: Path
    python: Path
    einvd: Path
    work: Path  # an empty working directory outside the checkout
    env: dict[str, str]

    def run(self, *argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in argv], cwd=self.work, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _copy_tree(target: Path) -> None:
    """The checkout's files (tracked and new, not ignored) as they are, symlinks kept: no stale build/ leaks in."""
    listed = subprocess.run(["git", "-C", str(CHECKOUT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip(f"the wheel is built from a git checkout: git ls-files failed: {listed.stderr.decode()[:200]}")
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        source = CHECKOUT / name
        if not os.path.lexists(source):  # deleted in the work tree, not yet in the index
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)


def _build_wheel(source: Path, dist: Path) -> Path:
    # the project needs setuptools>=77 (PEP 639 license); without it here, let pip build in isolation
    isolated = int(metadata.version("setuptools").split(".")[0]) < 77
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)]
    built = subprocess.run(command + ([] if isolated else ["--no-build-isolation"]), capture_output=True, text=True,
                           timeout=600, check=False, cwd=source)
    if built.returncode != 0 and isolated and "No matching distribution found for setuptools" in built.stdout + \
            built.stderr:
        pytest.skip("setuptools>=77 is neither installed here nor reachable from pip's indexes")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("einvd-*.whl")
    return wheel


DEPENDENCY_PATHS = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
"""This interpreter's site-packages: where the installed wheel's dependencies are taken from (no network)."""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(CHECKOUT)
    source = root / "source"
    _copy_tree(source)
    wheel = _build_wheel(source, root / "dist")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    put = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                          str(wheel)], capture_output=True, text=True, timeout=300, check=False)
    assert put.returncode == 0, put.stdout[-3000:] + put.stderr[-3000:]
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, after the wheel's own packages: a plain path list (the .pth files there are not processed,
    # so an editable install of the checkout in this interpreter stays out)
    (site / "zz-einvd-test-dependencies.pth").write_text("".join(f"{p}\n" for p in DEPENDENCY_PATHS),
                                                         encoding="utf-8")
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "EINVD_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return Installed(venv, python, venv / "bin" / "einvd", work, env)


@pytest.mark.slow
def test_the_packages_come_from_the_wheel_not_the_checkout(installed: Installed) -> None:
    imports = ", ".join(("daemon.__main__", "daemon.runner", "daemon.wiring", "daemon.api.app", "turnkey.mig",
                         "drivers.drop", "drivers.printer", "drivers.scanner", "hw_sim.turnkey"))
    probe = (f"import json, sys, {imports}\n"
             "print(json.dumps({n: m.__file__ for n, m in sys.modules.items() if getattr(m, '__file__', None)}))")
    result = installed.run(installed.python, "-c", probe)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    site = installed.venv.resolve()
    for package in PACKAGES:
        assert Path(loaded[package]).resolve().is_relative_to(site), (package, loaded[package])
    # the dependencies come from this interpreter's site-packages, which may lie inside the checkout (.venv)
    dependencies = [Path(p).resolve() for p in DEPENDENCY_PATHS]
    from_checkout = sorted(n for n, f in loaded.items() if Path(f).resolve().is_relative_to(CHECKOUT)
                           and not any(Path(f).resolve().is_relative_to(d) for d in dependencies))
    assert from_checkout == []


@pytest.mark.slow
def test_the_wheel_ships_the_configuration_unit_and_udev_rules(installed: Installed) -> None:
    result = installed.run(installed.einvd, "files")
    assert result.returncode == 0, result.stderr
    where = {name: Path(entry["path"]) for name, entry in json.loads(result.stdout).items()}
    assert set(where) == set(SHIPPED)
    for name, source in SHIPPED.items():
        assert where[name].resolve().is_relative_to(installed.venv.resolve()), where[name]
        assert not where[name].is_symlink()
        assert where[name].read_bytes() == source.read_bytes(), name
        printed = installed.run(installed.einvd, "files", "--print", name)
        assert printed.returncode == 0 and printed.stdout == source.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_installed_unit_passes_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = Path(json.loads(installed.run(installed.einvd, "files").stdout)["unit"]["path"])
    lines = unit.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    assert len(starts) == 1
    # ExecStart names the venv of a real install (/usr/local/lib/einvd/venv); point it at this venv's einvd, as
    # `einvd setup` will, so verify checks the rest instead of stopping at a missing executable
    assert lines[starts[0]].split()[1:] == ["run", "--config", "/etc/einvd/einvd.toml"]
    lines[starts[0]] = f"ExecStart={installed.einvd} run --config /etc/einvd/einvd.toml\n"
    staged = tmp_path / "einvd.service"
    staged.write_text("".join(lines), encoding="utf-8")
    # as scripts/check-systemd: verify must print nothing (its exit code alone is not enough)
    result = installed.run(analyze, "verify", "--recursive-errors=no", staged)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as answer:
            return dict(json.loads(answer.read())) if answer.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.fixture
def running(installed: Installed, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    keys = tmp_path / "api-keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{SECRET}"\npermissions = ["admin"]\n', encoding="utf-8")
    keys.chmod(0o600)
    config = tmp_path / "einvd.toml"
    config.write_text(
        '[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
        f'[store]\npath = "{tmp_path / "store" / "einvd.sqlite3"}"\n\n'
        '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n'
        f'[turnkey]\ndrop = "sim:{tmp_path / "turnkey"}"\n\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\nkeys_file = "{keys}"\n',
        encoding="utf-8")
    with (tmp_path / "stderr.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen([str(installed.einvd), "--config", str(config), "run"], cwd=installed.work,
                                   env=installed.env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


@pytest.mark.slow
def test_einvd_run_starts_from_the_installed_files_and_stops_on_sigterm(
        running: tuple[subprocess.Popen[str], int], tmp_path: Path) -> None:
    process, port = running
    deadline = time.monotonic() + 60
    health = None
    while health is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        health = _health(port)
    log = tmp_path / "stderr.log"
    assert health is not None, log.read_text(encoding="utf-8")[-3000:]
    assert (tmp_path / "store" / "einvd.sqlite3").is_file()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, log.read_text(encoding="utf-8")[-3000:]
    assert str(CHECKOUT) not in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_einvd_setup_from_the_wheel_stages_files_that_einvd_run_starts_from(installed: Installed,
                                                                            tmp_path: Path) -> None:
    """The installed einvd sets up a staged root; the unit names the installed einvd and passes verify; einvd run
    starts from the staged files and answers a request signed with the key setup printed."""
    from daemon.api.keys import load_keys
    from daemon.client import Client

    root, port = tmp_path / "R", _free_port()
    done = installed.run(installed.einvd, "setup", "--non-interactive", "--root", root, "--seller-ban", "12345676",
                         "--seller-name", "測試商店", "--seller-address", "台北市信義區測試路1號", "--turnkey-drop",
                         f"sim:{tmp_path / 'turnkey'}", "--qr-key", "FE05F029154F6AA67A78B338ED2F6601",
                         "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 0, done.stderr
    pos = json.loads(done.stdout)["pos"]
    etc = root / "etc" / "einvd"
    modes = {etc / "einvd.toml": 0o644, etc / "api-keys.toml": 0o600, etc / "credentials" / "qr-key": 0o600,
             root / "etc/systemd/system/einvd.service": 0o644, root / "etc/udev/rules.d/99-einvd.rules": 0o644}
    for path, mode in modes.items():
        assert path.stat().st_mode & 0o777 == mode, path
        assert path.stat().st_uid == os.getuid()  # staged: no chown (the intended owner einvd is in the output)
    assert load_keys(etc / "api-keys.toml")[pos["key_id"]].secret.decode() == pos["secret"]
    unit = root / "etc/systemd/system/einvd.service"
    assert f"ExecStart={installed.einvd} run --config /etc/einvd/einvd.toml\n" in unit.read_text(encoding="utf-8")
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        verified = installed.run(analyze, "verify", "--recursive-errors=no", unit)
        assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    credentials = tmp_path / "credentials"  # what LoadCredential= hands the service
    credentials.mkdir()
    shutil.copy(etc / "credentials" / "qr-key", credentials / "einvd-qr-key")
    log = tmp_path / "run.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen([str(installed.einvd), "--config", str(etc / "einvd.toml"), "run"],
                                   cwd=installed.work, env=dict(installed.env, CREDENTIALS_DIRECTORY=str(credentials)),
                                   stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    try:
        deadline = time.monotonic() + 60
        while _health(port) is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        client = Client(pos["url"], pos["key_id"], pos["secret"].encode(), timeout=5)
        assert client.request("GET", "/v1/health")[0] == 200, log.read_text(encoding="utf-8")[-3000:]
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text(encoding="utf-8")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert (root / "var/lib/einvd/einvd.sqlite3").is_file()
    assert str(CHECKOUT) not in log.read_text(encoding="utf-8")
