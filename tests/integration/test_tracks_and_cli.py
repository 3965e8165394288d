"""Tracks (E0501, CSV, by hand, parts, overlaps), configuration and the CLI verbs, run in process."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SCHEMA_DIR, SPEC, START, hold, needs_spec, sale

from daemon import __main__ as cli
from daemon import tracks
from daemon.config import EXIT_CONFIG, ConfigError, load
from daemon.store import SchemaTooNew, Store
from daemon.store.db import _classify
from turnkey.errors import TrackError
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

E0501 = SPEC / "samples" / "E0501-envelope-inferred.xml"
needs_e0501 = pytest.mark.skipif(not E0501.is_file(), reason=f"{E0501} not found (shared spec folder absent)")


def write_config(tmp: Path, **seller: str) -> Path:
    ban = seller.get("ban", "12345676")
    config = tmp / "einvd.toml"
    config.write_text(
        f'[seller]\nban = "{ban}"\nname = "測試商店"\naddress = "台北市"\n\n[store]\npath = "db/einvd.sqlite3"\n\n'
        '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n',
        encoding="utf-8",
    )
    return config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith(("{", "[")) else out


def test_overlapping_ranges_are_refused_whatever_the_type(store: Store) -> None:
    period = Period(2026, 12)
    hold(store, period, "AB", 1000, 1049)
    with pytest.raises(TrackError) as refused:
        hold(store, period, "AB", 1049, 1099, invoice_type="08")
    assert refused.value.problems[0].code == "tracks.overlap"
    hold(store, period, "AB", 1050, 1099)
    hold(store, period.next(), "AB", 1000, 1049)
    assert [h.range.begin for h in tracks.held(store)] == [1000, 1050, 1000]


def test_a_batch_with_an_internal_overlap_adds_nothing(store: Store) -> None:
    period = Period(2026, 12)
    batch = [TrackRange(period, "07", "AB", 0, 49), TrackRange(period, "07", "AB", 40, 99)]
    with pytest.raises(TrackError):
        tracks.add(store, batch, "test", START)
    assert tracks.held(store) == []


def test_a_box_may_own_part_of_an_allocation() -> None:
    allocation = [TrackRange(Period(2026, 12), "07", "AB", 1000, 1999)]
    assert tracks.restrict(allocation, (1100, 1149)) == [TrackRange(Period(2026, 12), "07", "AB", 1100, 1149)]
    assert tracks.restrict(allocation, None) == allocation
    with pytest.raises(TrackError) as refused:
        tracks.restrict(allocation, (1990, 2049))
    assert refused.value.problems[0].code == "tracks.part"


@needs_e0501
def test_cli_imports_e0501_part_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    code, out = run(capsys, "--config", config, "tracks", "import", str(E0501), "--begin", "00001000", "--end",
                    "00001049")
    assert code == 0 and out == {"added": ["11402 07 AB00001000-00001049"]}
    code, out = run(capsys, "--config", config, "tracks", "list")
    assert out[0]["next"] == "AB00001000" and out[0]["remaining"] == 50
    code, out = run(capsys, "--config", config, "tracks", "import", str(E0501))
    assert code == 1 and out["errors"][0]["code"] == "tracks.overlap"


@needs_e0501
def test_e0501_for_another_business_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, ban="53538851"))
    code, out = run(capsys, "--config", config, "tracks", "import", str(E0501))
    assert code == 1 and out["errors"][0]["code"] == "tracks.ban"


def test_cli_csv_import_add_and_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    period = Period.of(datetime.now(TAIPEI)).code
    csv_file = tmp_path / "ranges.csv"
    csv_file.write_text(f"period,invoice_type,track,begin,end\n{period},07,AB,00000000,00000001\n", encoding="utf-8")
    assert run(capsys, "--config", config, "tracks", "import", str(csv_file))[0] == 0
    code, out = run(capsys, "--config", config, "tracks", "add", "--period", period, "--track", "AC", "--begin",
                    "00000100", "--end", "00000149")
    assert code == 0 and out["added"] == [f"{period} 07 AC00000100-00000149"]
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("CLI-1")), encoding="utf-8")
    code, out = run(capsys, "--config", config, "invoice", "issue", str(doc))
    assert code == 0 and out["invoice_number"] == "AB00000000" and len(out["qr_left"]) > 77
    code, out = run(capsys, "--config", config, "invoice", "issue", str(doc))
    assert out["invoice_number"] == "AB00000000"
    code, out = run(capsys, "--config", config, "tracks", "add", "--period", "11513", "--track", "AC", "--begin",
                    "00000100", "--end", "00000149")
    assert code == 1 and out["errors"][0]["code"] == "tracks.range"


def test_cli_validate_prints_normalised_document_or_errors(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, junk = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "junk.json"
    good.write_text('{"order_id": "A", "items": [{"description": "茶", "quantity": 1.50, "unit_price": 20}]}')
    bad.write_text('{"order_id": "A", "print": 1, "items": [{"description": "茶", "quantity": 0, "unit_price": 20}]}')
    junk.write_text('{"order_id": "A", "order_id": "B"}')
    config = str(write_config(tmp_path))
    store = Store(tmp_path / "db" / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)  # validate applies issue's rules, the ranges included
    store.close()
    code, out = run(capsys, "--config", config, "invoice", "validate", str(good), "--now", START.isoformat())
    assert code == 0 and out["amounts"]["total"] == 30 and out["items"][0]["quantity"] == "1.5"
    code, out = run(capsys, "invoice", "validate", str(bad))
    assert code == 1
    assert {e["code"] for e in out["errors"]} == {"print.type", "items.quantity.zero", "amounts.total.zero"}
    code, out = run(capsys, "invoice", "validate", str(junk))
    assert code == 1 and out["errors"][0]["code"] == "body.json"


def test_bad_configuration_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[seller]\nban = "12345676"\nnmae = "typo"\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "tracks", "list"]) == EXIT_CONFIG
    assert "seller.nmae" in capsys.readouterr().err
    unset = write_config(tmp_path, ban="")
    assert cli.main(["--config", str(unset), "invoice", "issue", str(config)]) == EXIT_CONFIG


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[seller]\nban = "12345678"\n', "seller.ban"),
        ('[seller]\nban = "12345676"\nname = "n"\n', "seller.address"),
        ('[seller]\nban = "12345676"\naddress = "a"\n', "seller.name"),
        ('[qr]\nkey = "ABC"\n', "qr.key"),
        ('[qr]\nencoding = "5"\n', "qr.encoding"),
        ("[numbering]\nvoid_cutoff_day = 16\n", "void_cutoff_day"),
        ('[numbering]\nbackdate_limit = "2 days"\n', "numbering.backdate_limit"),
        ('[numbering]\nbackdate_limit = "0h"\n', "numbering.backdate_limit"),
        ('[numbering]\nbackdate_limit = "h"\n', "numbering.backdate_limit"),
        ('[numbering]\nbackdate_limit = "３h"\n', "numbering.backdate_limit"),
        ("[numbering]\nbackdate_limit = 48\n", "numbering.backdate_limit must be a str"),
        ('[store]\npath = 5\n', "store.path must be a str"),
        ('store = "x"\n', "store must be a table"),
        ("[seller\n", "cannot read"),
    ],
)
def test_configuration_errors_name_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load(config)


@pytest.mark.parametrize(("text", "limit"), [
    ("", None), ('backdate_limit = "deadline"\n', None), ('backdate_limit = "90m"\n', timedelta(minutes=90)),
    ('backdate_limit = "12h"\n', timedelta(hours=12)), ('backdate_limit = "3d"\n', timedelta(days=3)),
])
def test_the_back_dating_limit_is_read(tmp_path: Path, text: str, limit: timedelta | None) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[numbering]\n" + text, encoding="utf-8")
    assert load(config).backdate_limit == limit


def test_qr_key_from_seed_password_or_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[qr]\nseed_password = "24634102"\n', encoding="utf-8")
    assert load(config).qr_key == bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
    (tmp_path / "einvd-qr-key").write_text("C03458ECE7485C884AC42D3ED8198A4C\n", encoding="ascii")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config.write_text("", encoding="utf-8")
    assert load(config).qr_key == bytes.fromhex("C03458ECE7485C884AC42D3ED8198A4C")
    assert load(None).store_path.name == "einvd.sqlite3"


def test_store_errors_are_classified() -> None:
    full = _classify(sqlite3.OperationalError("database or disk is full"))
    assert full is not None and full.code == "store.full"
    readonly = _classify(sqlite3.OperationalError("attempt to write a readonly database"))
    assert readonly is not None and readonly.code == "store.unavailable"
    assert _classify(sqlite3.OperationalError("no such table: x")) is None


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(SchemaTooNew, match="schema version 99, written by a newer einvd"):
        Store(path)


def test_demo_runs_once_in_a_fresh_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--dir", str(tmp_path / "demo"), "--once"]) == 0
    out = capsys.readouterr().out
    assert "replayed order" in out and "messages by delivery state" in out and "confirmed" in out
    assert (tmp_path / "demo" / "einvd.sqlite3").is_file()
    assert len(list((tmp_path / "demo" / "proofs").glob("*.png"))) >= 5
    assert list((tmp_path / "demo" / "turnkey").rglob("BAK/*/*/F0401_*.xml"))


@needs_spec
def test_cli_render_prints_checked_f0401(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + f'\n[mig]\nschema_dir = "{SCHEMA_DIR}"\n', encoding="utf-8")
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("R-1", issued_at="2026-11-21T14:03:00+08:00")), encoding="utf-8")
    base = ["--config", str(config), "invoice", "render", str(doc)]
    assert cli.main([*base, "--number", "AB12345678", "--random-number", "1234"]) == 0
    xml = capsysbinary.readouterr().out
    assert xml.startswith(b"<?xml") and b"<InvoiceNumber>AB12345678</InvoiceNumber>" in xml
    assert b"<InvoiceDate>20261121</InvoiceDate>" in xml and b"<Identifier>12345676</Identifier>" in xml
    assert cli.main([*base, "--number", "ab12345678", "--random-number", "1234"]) == 1
    assert b"number.format" in capsysbinary.readouterr().out
    assert cli.main([*base, "--number", "AB12345678", "--random-number", "１２３４"]) == 1
    assert b"random_number.format" in capsysbinary.readouterr().out
    assert not (tmp_path / "db" / "einvd.sqlite3").exists(), "render must not store anything"


def test_cli_render_never_renders_a_refused_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("R-1", buyer={"name": "0000"})), encoding="utf-8")
    code, out = run(capsys, "--config", str(config), "invoice", "render", str(doc), "--number", "AB12345678",
                    "--random-number", "1234")
    assert code == 1 and out["errors"][0]["code"] == "buyer.name.placeholder"


def test_cli_blank_report_for_a_finished_period(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    assert run(capsys, "--config", config, "tracks", "add", "--period", "11508", "--track", "QQ", "--begin",
               "00000000", "--end", "00000049")[0] == 0
    conn = sqlite3.connect(tmp_path / "db" / "einvd.sqlite3")
    conn.execute("UPDATE tracks SET last_no = 9")
    conn.commit()
    conn.close()
    code, out = run(capsys, "--config", config, "blank-report", "--period", "11508", "--out", str(tmp_path / "out"))
    assert code == 0 and out["messages"][0]["blank"] == ["00000010-00000049"]
    written = Path(out["messages"][0]["file"]).read_bytes()
    assert b"<InvoiceBeginNo>00000010</InvoiceBeginNo>" in written and b"<YearMonth>11508</YearMonth>" in written
    code, out = run(capsys, "--config", config, "blank-report", "--period", "11508")
    assert "<BranchTrackBlank" in out["messages"][0]["xml"]
    code, out = run(capsys, "--config", config, "blank-report", "--period", "99912")
    assert code == 1 and out["errors"][0]["code"] == "period.not_ended"
    code, out = run(capsys, "--config", config, "blank-report", "--period", "11507")
    assert code == 1 and out["errors"][0]["code"] == "period.format"


def test_unreadable_schema_dir_is_a_configuration_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + '\n[mig]\nschema_dir = "nowhere"\n', encoding="utf-8")
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("R-1")), encoding="utf-8")
    assert cli.main(["--config", str(config), "invoice", "render", str(doc), "--number", "AB12345678",
                     "--random-number", "1234"]) == EXIT_CONFIG
