"""`einvd doctor` on a working demo directory, then with parts taken away."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from conftest import hold

from daemon import __main__ as cli
from daemon.doctor import range_alerts
from daemon.store import Store
from turnkey.period import TAIPEI, Period


def doctor(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    code = cli.main(["--config", str(config), "doctor"])
    checks = json.loads(capsys.readouterr().out)
    return code, {c["check"]: (c["level"], c["detail"]) for c in checks}


def test_doctor_reports_what_needs_a_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "box"
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    capsys.readouterr()
    config = root / "einvd.toml"
    code, checks = doctor(capsys, config)
    assert code == 0
    assert {name: level for name, (level, _) in checks.items()} == {
        "configuration": "ok", "clock": "ok", "store": "ok", "ranges": "warn", "turnkey": "ok", "printer": "ok",
        "scanner": "ok",
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
