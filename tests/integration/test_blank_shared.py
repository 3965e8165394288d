"""E0402 for a track shared between boxes (#15 item 9), through the CLI and the E0402 job on real SQLite files.

Three boxes of one seller hold parts of track AB of period 11508: box A 1000-1049, box B 1050-1074, the reporting
box R 1075-1149 (and track AC whole). The platform keeps one E0402 per (BranchBan, InvoiceType, YearMonth,
InvoiceTrack): the parts must not report AB alone; the reporter merges every export into the one E0402.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SELLER, spec_schemas

from daemon import __main__ as cli
from daemon import wiring
from daemon.config import load
from daemon.messages import BUILDERS
from daemon.outbox import Claimed
from daemon.periodic import EXPORT, MERGE
from daemon.store import Store
from turnkey.mig import render_checked
from turnkey.model import BlankReport
from turnkey.period import TAIPEI

AFTER = datetime(2026, 9, 2, 10, 0, tzinfo=TAIPEI)  # period 11508 (Jul-Aug 2026) ended a day and more ago


def box(tmp: Path, name: str, role: str, *ranges: tuple[str, str, str, int | None],
        whole: tuple[str, ...] = ()) -> str:
    """A box's configuration and store with ``ranges`` (track, begin, end, last used) of period 11508."""
    folder = tmp / name
    folder.mkdir()
    config = folder / "einvd.toml"
    config.write_text(
        f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "台北市"\n\n'
        '[store]\npath = "einvd.sqlite3"\n\n[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n'
        f'[e0402]\nrole = "{role}"\nwhole_tracks = {json.dumps(list(whole))}\n', encoding="utf-8")
    for track, begin, end, _ in ranges:
        assert cli.main(["--config", str(config), "tracks", "add", "--period", "11508", "--track", track, "--begin",
                         begin, "--end", end]) == 0
    conn = sqlite3.connect(folder / "einvd.sqlite3")
    for track, begin, _, last in ranges:
        conn.execute("UPDATE tracks SET last_no = ? WHERE track = ? AND begin_no = ?", (last, track, int(begin)))
    conn.commit()
    conn.close()
    return str(config)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else out


def tick(config: str) -> dict[str, int]:
    """The E0402 job of ``einvd run``, built by the composition root from the box's configuration."""
    settings = load(Path(config))
    store = Store(settings.store_path)
    try:
        job = wiring.blank_job(settings, store)
        assert job is not None
        return job.tick(AFTER)
    finally:
        store.close()


def queued(config: str) -> list[tuple[BlankReport, bytes]]:
    """Every E0402 in the box's outbox, built by the pump's builder and checked against the XSD."""
    store = Store(load(Path(config)).store_path)
    try:
        conn = store.connection()
        rows = conn.execute("SELECT id FROM outbox WHERE message_type = 'E0402' ORDER BY id").fetchall()
        built = []
        for (outbox_id,) in rows:
            report = BUILDERS["E0402"](conn, Claimed(outbox_id, "E0402", "", None, 0, "", False), SELLER)
            assert isinstance(report, BlankReport)
            built.append((report, render_checked(report, spec_schemas())))
        return built
    finally:
        store.close()


def open_alerts(config: str) -> dict[str, str]:
    store = Store(load(Path(config)).store_path)
    try:
        return {r[0]: r[1] for r in store.read("SELECT kind, message FROM alerts WHERE cleared_at IS NULL")}
    finally:
        store.close()


@pytest.fixture
def boxes(tmp_path: Path) -> dict[str, str]:
    return {
        "a": box(tmp_path, "a", "part", ("AB", "00001000", "00001049", 1009)),
        "b": box(tmp_path, "b", "part", ("AB", "00001050", "00001074", None)),
        "r": box(tmp_path, "r", "reporter", ("AB", "00001075", "00001149", 1099), ("AC", "00000000", "00000049", 9),
                 whole=("AC",)),
    }


def test_parts_export_the_reporter_merges_one_e0402_per_key(boxes: dict[str, str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b", "r"):
        tick(boxes[name])
    assert queued(boxes["a"]) == [] and queued(boxes["b"]) == []  # a part never reports a shared track alone
    assert "einvd blank-report --export --period 11508" in open_alerts(boxes["a"])[EXPORT]
    (whole,) = queued(boxes["r"])  # the reporter's whole track AC is reported alone
    assert (whole[0].track, whole[0].ranges) == ("AC", ((10, 49),))
    assert "--merge" in open_alerts(boxes["r"])[MERGE]

    files = []
    for name in ("a", "b", "r"):
        out = tmp_path / f"{name}.json"
        code, doc = run(capsys, "--config", boxes[name], "blank-report", "--export", "--period", "11508", "-o",
                        str(out))
        assert code == 0 and doc["file"] == str(out)
        files.append(str(out))
    exported = json.loads(Path(files[0]).read_text(encoding="utf-8"))
    assert exported == {"format": "einvd-blank-export/1", "seller_ban": SELLER.identifier,
                        "head_ban": SELLER.identifier, "period": "11508",
                        "tracks": [{"invoice_type": "07", "track": "AB", "held": [["00001000", "00001049"]],
                                    "unused": [["00001010", "00001049"]]}]}
    assert EXPORT not in open_alerts(boxes["a"])
    assert [t["track"] for t in json.loads(Path(files[2]).read_text(encoding="utf-8"))["tracks"]] == ["AB"]

    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", *files, "--queue")
    assert code == 0 and out["queued"] is True
    assert [m["blank"] for m in out["messages"]] == [["00001010-00001074", "00001100-00001149"]]
    reports = queued(boxes["r"])
    assert [(r.track, r.ranges) for r, _ in reports] == [("AC", ((10, 49),)), ("AB", ((1010, 1074), (1100, 1149)))]
    assert b"<InvoiceTrack>AB</InvoiceTrack>" in reports[1][1] and b"<YearMonth>11508</YearMonth>" in reports[1][1]
    assert MERGE not in open_alerts(boxes["r"])
    assert run(capsys, "--config", boxes["r"], "blank-report", "--merge", *files, "--queue")[0] == 0
    assert len(queued(boxes["r"])) == 2  # the same merge again queues nothing
    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", files[0], files[2], "--allocation",
                    "AB00001000-AB00001049", "--allocation", "AB00001075-AB00001149", "--queue")
    assert code == 1 and [e["code"] for e in out["errors"]] == ["blank_merge.queued"]


def test_overlapping_and_missing_spans_are_refused_by_number(boxes: dict[str, str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    files = {}
    for name in ("a", "b", "r"):
        files[name] = str(tmp_path / f"{name}.json")
        assert run(capsys, "--config", boxes[name], "blank-report", "--export", "--period", "11508", "-o",
                   files[name])[0] == 0
    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", files["a"], files["a"], files["b"],
                    files["r"])
    assert code == 1 and out["errors"][0]["code"] == "blank_merge.overlap"
    assert "AB00001000-AB00001049 is claimed by both a.json and a.json" in out["errors"][0]["message"]
    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", files["a"], files["r"])
    assert code == 1 and [e["code"] for e in out["errors"]] == ["blank_merge.missing"]
    assert out["errors"][0]["message"].startswith("AB00001050-AB00001074 of the 50-number booklets")
    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", *files.values(), "--allocation",
                    "AB00001000-AB00001199")
    assert code == 1 and "AB00001150-AB00001199 of the allocation" in out["errors"][0]["message"]
    assert run(capsys, "--config", boxes["r"], "blank-report", "--merge", *files.values(), "--allocation",
               "AB1-2")[1]["errors"][0]["code"] == "allocation.format"
    assert [r.track for r, _ in queued(boxes["r"])] == ["AC"]  # its whole track, closed by its export; no merge
    code, out = run(capsys, "--config", boxes["r"], "blank-report", "--merge", *files.values(), "-o",
                    str(tmp_path / "mig"))
    assert code == 0 and out["queued"] is False
    written = Path(out["messages"][0]["file"]).read_bytes()
    assert b"<InvoiceBeginNo>00001010</InvoiceBeginNo>" in written and len(queued(boxes["r"])) == 1


def test_a_box_that_reports_alone_does_not_export_and_a_bad_export_names_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alone = box(tmp_path, "alone", "alone", ("AB", "00001000", "00001049", None))
    capsys.readouterr()
    code, out = run(capsys, "--config", alone, "blank-report", "--export", "--period", "11508")
    assert code == 1 and out["errors"][0]["code"] == "e0402.role"
    tick(alone)
    assert [r.track for r, _ in queued(alone)] == ["AB"]  # today's behaviour: it reports the track itself
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "einvd-blank-export/1", "seller_ban": "1", "head_ban": "12345676"}', encoding="utf-8")
    code, out = run(capsys, "--config", alone, "blank-report", "--merge", str(bad))
    assert code == 1 and out["errors"][0]["field"] == "bad.json: seller_ban"
    part = box(tmp_path, "part", "part", ("AB", "00001000", "00001049", None))
    capsys.readouterr()
    code, out = run(capsys, "--config", part, "blank-report", "--export", "--period", "99912")
    assert code == 1 and out["errors"][0]["code"] == "period.not_ended"
    assert run(capsys, "--config", part, "blank-report", "--period", "11508") == (
        0, {"period": "11508", "messages": []})  # a part previews no E0402 of its shared track
