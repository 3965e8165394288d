"""`einvd doctor` on a working demo directory, then with parts taken away; the host checks (clock sync, folders,
the API keys file, the Turnkey folders' owner and mode, free disk) on real temp folders with real modes. The
tests run as root, which access(2) always lets through, so the checks go by mode bits and owner ids: a folder
given to another uid with mode 0700 is out of reach of a service user that is not that uid."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from conftest import START, hold

from daemon import __main__ as cli
from daemon import doctor as doc
from daemon.config import Settings, load
from daemon.doctor import User, clock_check, range_alerts
from daemon.store import Store
from turnkey.period import TAIPEI, Period


def doctor(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    code = cli.main(["--config", str(config), "doctor"])
    checks = json.loads(capsys.readouterr().out)
    return code, {c["check"]: (c["level"], c["detail"]) for c in checks}


def test_doctor_reports_what_needs_a_person(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doc, "SYNC_PROBES", (lambda: True,))  # this box's own clock state is its own affair
    root = tmp_path / "box"
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    capsys.readouterr()
    config = root / "einvd.toml"
    code, checks = doctor(capsys, config)
    assert code == 0
    assert checks.pop("turnkey results")[0] in ("ok", "warn")  # depends on the demo's results: test_doctor_turnkey
    assert {name: level for name, (level, _) in checks.items()} == {
        "configuration": "ok", "clock": "ok", "store": "ok", "ranges": "warn", "turnkey": "ok", "printer": "ok",
        "scanner": "ok", "folders": "ok", "turnkey access": "ok", "api keys": "ok", "disk": "ok",
        "turnkey database": "ok", "turnkey files": "ok",
    }
    assert "45 numbers left" in checks["ranges"][1]
    shutil.rmtree(root / "turnkey" / "UpCast" / "B2SSTORAGE" / "F0401" / "SRC")
    assert 'url = "sim:dev"' in config.read_text()  # the demo scans with a simulated scanner
    config.write_text(config.read_text().replace('url = "sim:dev"', 'url = "/dev/einvd-no-such-scanner"'),
                      encoding="utf-8")
    code, checks = doctor(capsys, config)
    assert code == 1
    assert checks["turnkey"][0] == "fail" and "F0401" in checks["turnkey"][1]
    assert checks["scanner"][0] == "fail" and "/dev/einvd-no-such-scanner does not exist" in checks["scanner"][1]


def test_range_alerts_are_raised_once_per_period(store: Store) -> None:
    now = datetime(2026, 12, 27, 10, 0, tzinfo=TAIPEI)
    hold(store, Period.of(now), "AB", 0, 9)
    assert range_alerts(store, now) == 2
    assert range_alerts(store, now) == 0
    alerts = {(r["kind"], r["entity_id"]) for r in store.read("SELECT kind, entity_id FROM alerts")}
    assert alerts == {("ranges.low", "11512"), ("ranges.next_missing", "11602")}


SERVICE = User(4242, frozenset({4242}), "einvd")
"""A service user that is not root (the tests run as root: these ids and modes are what decides)."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("doctor") / "box"
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    return load(root / "einvd.toml")


def given(path: Path, uid: int, gid: int, mode: int) -> Path:
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def test_clock_synchronisation_from_the_first_probe_that_can_tell() -> None:
    def never() -> bool | None:
        raise AssertionError("a later probe is not asked once one answered")

    assert clock_check(START, [lambda: None, lambda: True, never]).level == "ok"
    unsynced = clock_check(START, [lambda: False, never])
    assert unsynced.level == "warn" and "NOT synchronised" in unsynced.detail and "set-ntp" in unsynced.detail
    unknown = clock_check(START, [lambda: None, lambda: None])
    assert unknown.level == "warn" and "cannot tell" in unknown.detail
    assert clock_check(datetime(2020, 1, 1, tzinfo=TAIPEI), [lambda: True]).level == "fail"


def test_the_kernel_flag_agrees_with_timedatectl_when_both_answer() -> None:
    kernel, systemd = doc.kernel_sync(), doc.timedatectl_sync()
    assert kernel in (True, False), "adjtimex with modes 0 is allowed to any process on Linux"
    assert systemd is None or kernel == systemd  # None: no systemd running here, timedatectl cannot answer


def test_report_archive_and_quarantine_folders(demo: Settings, tmp_path: Path) -> None:
    reports, archive = tmp_path / "reports", tmp_path / "parent" / "archive"
    reports.mkdir()
    archive.parent.mkdir()
    settings = replace(demo, schedule=replace(demo.schedule, report_dir=reports, archive_dir=archive))
    given(reports, 4242, 4242, 0o700)
    given(archive.parent, 0, 4242, 0o770)  # archive itself is missing: the group may create it
    quarantine_parent = doc.local_drop(settings)
    assert quarantine_parent is not None
    unpack = quarantine_parent / "Unpack"
    given(unpack, 4242, 0, 0o755)
    assert doc.folders_check(settings, SERVICE).level == "ok"
    assert doc.folders_check(settings, User(0, frozenset({0}), "root")).level == "fail", "root by the bits too"

    given(reports, 0, 0, 0o755)
    given(archive.parent, 0, 0, 0o775)
    found = doc.folders_check(settings, SERVICE)
    assert found.level == "fail"
    assert f"einvd cannot use {reports} (owner 0:0, mode 755): chown einvd {reports}" in found.detail
    assert f"einvd cannot create {archive} in {archive.parent}" in found.detail
    assert "Unpack" not in found.detail


def test_turnkey_folders_owner_and_mode(demo: Settings) -> None:
    root = doc.local_drop(demo)
    assert root is not None
    folders = [root, *(root / f for f in demo.turnkey.layout.required())]
    for folder in folders:
        given(folder, 0, 4242, 0o770)
    assert doc.turnkey_access_check(demo, SERVICE).level == "ok", "through the group"
    given(folders[3], 0, 0, 0o755)
    found = doc.turnkey_access_check(demo, SERVICE)
    assert found.level == "fail" and f"{folders[3]} (owner 0:0, mode 755)" in found.detail
    assert found.detail.count("mode") == 1
    for folder in folders:
        given(folder, 0, 0, 0o755)


@pytest.mark.parametrize(("owner", "mode", "level", "says"), [
    (4242, 0o600, "ok", "mode 600, owner einvd"), (4242, 0o400, "ok", "mode 400"),
    (4242, 0o640, "fail", "chmod 600"), (4242, 0o604, "fail", "others can read"),
    (0, 0o600, "fail", "chown einvd"), (4242, 0o700, "warn", "mode 700")])
def test_api_keys_file_mode_and_owner(demo: Settings, tmp_path: Path, owner: int, mode: int, level: str,
                                      says: str) -> None:
    keys = tmp_path / "api-keys.toml"
    keys.write_text("# keys\n", encoding="utf-8")
    settings = replace(demo, api=replace(demo.api, keys_file=given(keys, owner, 0, mode)))
    found = doc.keys_file_check(settings, SERVICE)
    assert (found.level, says in found.detail) == (level, True), found.detail
    missing = replace(demo, api=replace(demo.api, keys_file=tmp_path / "none.toml"))
    assert doc.keys_file_check(missing, SERVICE).level == "fail"


def test_free_disk_against_the_store(tmp_path: Path) -> None:
    db = tmp_path / "einvd.sqlite3"
    db.write_bytes(b"\0" * (200 << 20 >> 4))  # 12.5 MiB
    assert doc.disk_check(db, 4 << 30).level == "ok"
    assert doc.disk_check(db, 900 << 20).level == "warn", "under the 1 GiB floor"
    assert doc.disk_check(db, 70 << 20).level == "fail", "no room for a backup of the store"
    db.write_bytes(b"\0" * (200 << 20))
    warn = doc.disk_check(db, 1500 << 20)
    assert warn.level == "warn" and "under 2000 MiB" in warn.detail, "ten times the store's size"
    assert "MiB free beside" in doc.disk_check(db).detail, "the free space of the real filesystem"
