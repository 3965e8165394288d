"""Backups and upgrades: a database of every earlier schema version, with rows in it, upgraded by opening a
``Store``; the copy taken before the migration restorable; ``einvd backup`` while another process writes;
``einvd restore`` refused while the store is open, with a bad file, and with a newer schema; a database from a
newer einvd left untouched. Real files, real processes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, SELLER, START, sale

from daemon import __main__ as cli
from daemon import tracks
from daemon.config import EXIT_CONFIG
from daemon.services import InvoiceService, canonical
from daemon.store import MIGRATIONS, BackupError, SchemaTooNew, Store
from daemon.store.backup import StoreLock, restore
from daemon.store.schema import apply_script
from hw_sim.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
LATEST = len(MIGRATIONS)
AT = "2026-11-21T14:03:00+08:00"
LATER = "2026-11-21T15:00:00+08:00"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def build(path: Path, version: int) -> None:
    """A database at schema ``version``: the first ``version`` migrations, as that einvd applied them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        conn.execute("BEGIN IMMEDIATE")
        apply_script(conn, script)
        conn.execute(f"PRAGMA user_version={number}")
        conn.execute("COMMIT")
    conn.close()


def _invoice(n: int, status: str, lifecycle: str) -> dict[str, Any]:
    return {"id": n, "number": f"AB{1000 + n - 1:08d}", "period": "11512", "order_id": f"old-{n}",
            "document": canonical(sale(f"old-{n}")), "issued_at": AT, "random_number": f"{n:04d}",
            "invoice_type": "07", "buyer_ban": None, "total": 130, "print_requested": 1, "print_status": "printed",
            "status": status, "track_id": 1, "created_at": AT, "status_at": LATER, "result_code": "",
            "result_reason": "", "lifecycle": lifecycle, "lifecycle_at": LATER if lifecycle != "issued" else None}


def _outbox(n: int, message: str, invoice: int, state: str) -> dict[str, Any]:
    done = state == "DONE"
    return {"id": n, "message_type": message, "reference": f"AB{1000 + invoice - 1:08d}", "invoice_id": invoice,
            "state": state, "attempts": 1 if done else 0, "not_before": AT, "last_error": None, "created_at": AT,
            "updated_at": LATER, "file_name": f"{message}_{n}.xml" if done else None,
            "dropped_at": LATER if done else None, "outcome": "accepted_local" if done else None,
            "outcome_at": LATER if done else None, "uncertain": 0}


ROWS: dict[str, list[dict[str, Any]]] = {
    "tracks": [
        {"id": 1, "period": "11512", "invoice_type": "07", "track": "AB", "begin_no": 1000, "end_no": 1049,
         "last_no": 1002, "last_issued_at": AT, "source": "import E0501.xml", "created_at": AT},
        {"id": 2, "period": "11512", "invoice_type": "07", "track": "AC", "begin_no": 0, "end_no": 49,
         "last_no": None, "last_issued_at": None, "source": "manual", "created_at": AT},
        {"id": 3, "period": "11602", "invoice_type": "07", "track": "AD", "begin_no": 500, "end_no": 999,
         "last_no": None, "last_issued_at": None, "source": "manual", "created_at": AT},
    ],
    "invoices": [_invoice(1, "confirmed", "issued"), _invoice(2, "dropped", "voided"),
                 _invoice(3, "queued", "issued")],
    "invoice_lines": [
        {"invoice_id": n, "sequence": "1", "description": "拿鐵", "quantity": "2", "unit": "杯", "unit_price": "65",
         "amount": "130", "tax_type": "1", "remark": ""} for n in (1, 2, 3)],
    "outbox": [_outbox(1, "F0401", 1, "DONE"), _outbox(2, "F0401", 2, "DONE"), _outbox(3, "F0501", 2, "READY"),
               _outbox(4, "F0401", 3, "READY"), _outbox(5, "G0401", 1, "READY")],
    "events": [{"id": 1, "at": AT, "entity": "invoice", "entity_id": "1", "kind": "issued", "reason": "",
                "data": None},
               {"id": 2, "at": LATER, "entity": "invoice", "entity_id": "2", "kind": "voided", "reason": "typo",
                "data": '{"by": "pos"}'}],
    "results_seen": [{"path": "BAK/F0401/F0401_1.xml", "kind": "bak", "size": 812, "seen_at": LATER,
                      "outcome": "accepted_local", "detail": ""}],
    "alerts": [{"id": 1, "kind": "deadline.near", "entity": "invoice", "entity_id": "3", "raised_at": LATER,
                "due_at": "2026-11-23T14:03:00+08:00", "message": "F0401 of AB00001002 due soon", "cleared_at": None},
               {"id": 2, "kind": "ranges.low", "entity": "track", "entity_id": "1", "raised_at": AT, "due_at": None,
                "message": "few numbers left", "cleared_at": LATER}],
    "invoice_actions": [{"id": 1, "invoice_id": 2, "kind": "void", "at": LATER, "reason": "typo", "document": None,
                         "outbox_id": 3}],
    "allowances": [{"id": 1, "number": "ALW0000001", "sequence": 1, "invoice_id": 1, "request_id": "refund-1",
                    "request": '{"items": 1}', "allowance_at": LATER, "state": "live", "tax_amount": 3,
                    "total_amount": "62", "outbox_id": 5, "voided_at": None, "void_reason": None,
                    "void_outbox_id": None, "created_at": LATER}],
    "allowance_lines": [{"allowance_id": 1, "sequence": "1", "original_sequence": "1", "description": "拿鐵",
                         "quantity": "1", "unit": "杯", "unit_price": "62", "amount": "62", "tax": 3, "gross": "65",
                         "tax_type": "1"}],
    "api_nonces": [{"key_id": "pos-1", "nonce": "n-1", "seen_at": 1795327380}],
    "print_jobs": [{"id": 1, "invoice_id": 1, "kind": "proof", "copy": 0, "state": "printed", "attempts": 1,
                    "not_before": AT, "last_error": None, "created_at": AT, "updated_at": AT},
                   {"id": 2, "invoice_id": 3, "kind": "proof", "copy": 1, "state": "queued", "attempts": 0,
                    "not_before": LATER, "last_error": "paper out", "created_at": AT, "updated_at": LATER}],
    "job_runs": [{"job": "pump", "last_success": LATER}],
}


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def tables(conn: sqlite3.Connection) -> list[str]:
    return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'"))


def fill(path: Path) -> list[str]:
    """Every row of ``ROWS`` whose table exists at the file's version, with the columns that version has; the
    tables filled."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    filled = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        present = tables(conn)
        for table, rows in ROWS.items():
            if table not in present:
                continue
            have = columns(conn, table)
            for row in rows:
                names = [name for name in row if name in have]
                conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             [row[name] for name in names])
            filled.append(table)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return filled


def dump(path: Path, shape: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each table in ``shape``, with those columns only, in primary-key order."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {table: conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {', '.join(names)}").fetchall()
                for table, names in shape.items()}
    finally:
        conn.close()


def shape_of(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {table: columns(conn, table) for table in tables(conn)}
    finally:
        conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("version", range(1, LATEST))
def test_every_earlier_schema_upgrades_with_every_row_and_a_restorable_backup(tmp_path: Path, version: int) -> None:
    path = tmp_path / "einvd.sqlite3"
    build(path, version)
    filled = fill(path)
    assert {"tracks", "invoices", "invoice_lines", "outbox", "events"} <= set(filled)
    if version >= 3:
        assert {"invoice_actions", "allowances", "allowance_lines"} <= set(filled)
    if version >= 4:
        assert "print_jobs" in filled
    old_shape = shape_of(path)
    before = dump(path, old_shape)
    assert all(before[table] for table in filled)  # a test that compares empty tables shows nothing

    store = Store(path)
    try:
        assert store.backup_before_migration == tmp_path / f"einvd.sqlite3.v{version}.bak"
        assert version_of(path) == LATEST
        assert dump(path, old_shape) == before  # every old row, every old column, unchanged
        conn = store.connection()
        lifecycles = dict(conn.execute("SELECT number, lifecycle FROM invoices").fetchall())
        assert lifecycles == ({"AB00001000": "issued", "AB00001001": "voided", "AB00001002": "issued"}
                              if version >= 3 else dict.fromkeys(lifecycles, "issued"))
        outbox = conn.execute("SELECT id, message_type, reference, state, file_name FROM outbox ORDER BY id")
        assert [tuple(r) for r in outbox] == [(r["id"], r["message_type"], r["reference"], r["state"],
                                               r["file_name"] if version >= 2 else None) for r in ROWS["outbox"]]
        if 2 <= version < 6:  # an alert cleared before the upgrade is not sent again after it (migration 6)
            assert dict(conn.execute("SELECT id, notified_at FROM alerts").fetchall()) == {1: None, 2: LATER}
        held = [h.as_dict() for h in tracks.held(store)]
        assert [(h["track"], h["last_used"], h["next"], h["remaining"]) for h in held] == [
            ("AB", "AB00001002", "AB00001003", 47), ("AC", None, "AC00000000", 50), ("AD", None, "AD00000500", 500)]
        issued = InvoiceService(store, FakeClock(START), random.Random(1), SELLER, KEY).issue(sale("after-upgrade"))
        assert issued.body["invoice_number"] == "AB00001003"  # the number range goes on where it stopped
    finally:
        store.close()

    kept = tmp_path / f"einvd.sqlite3.v{version}.bak"
    assert version_of(kept) == version and dump(kept, old_shape) == before
    assert not (tmp_path / f"einvd.sqlite3.v{version}.bak-wal").exists()  # one self-contained file

    done = restore(kept, path, START, LATEST)
    assert done.version == version and done.replaced is not None and version_of(done.replaced.path) == LATEST
    assert version_of(path) == version and dump(path, old_shape) == before  # the old rows, read back
    assert not (tmp_path / "einvd.sqlite3-wal").exists()
    again = Store(path)  # and it upgrades again, after a second copy of its own
    try:
        assert again.backup_before_migration == tmp_path / f"einvd.sqlite3.v{version}-2.bak"
        assert dump(path, old_shape) == before
    finally:
        again.close()


def test_a_database_from_a_newer_einvd_is_refused_and_left_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "db"
    db.mkdir()
    path = db / "einvd.sqlite3"
    build(path, LATEST)
    fill(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version={LATEST + 3}")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    hashed, names = digest(path), sorted(p.name for p in db.iterdir())
    with pytest.raises(SchemaTooNew) as refused:
        Store(path)
    assert f"schema version {LATEST + 3}" in str(refused.value) and f"up to {LATEST}" in str(refused.value)
    assert digest(path) == hashed
    assert sorted(p.name for p in db.iterdir() if p.name != "einvd.sqlite3.lock") == names  # no backup, no -wal

    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "db/einvd.sqlite3"\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "tracks", "list", "--json"]) == EXIT_CONFIG == 78
    err = capsys.readouterr().err
    assert f"schema version {LATEST + 3}" in err and f"up to {LATEST}" in err
    assert digest(path) == hashed


def test_a_newer_database_in_use_by_its_einvd_is_left_untouched(tmp_path: Path) -> None:
    """The newer einvd has it open (a -wal beside it): still refused, and nothing written."""
    path = tmp_path / "einvd.sqlite3"
    build(path, LATEST)
    newer = sqlite3.connect(path, isolation_level=None)
    newer.execute("PRAGMA wal_autocheckpoint=0")
    newer.execute(f"PRAGMA user_version={LATEST + 1}")
    try:
        # the -shm is shared memory (readers mark it as they read), not the database: the file and the WAL are
        files = {p.name: digest(p) for p in tmp_path.iterdir() if not p.name.endswith("-shm")}
        assert "einvd.sqlite3-wal" in files
        with pytest.raises(SchemaTooNew):
            Store(path)
        assert {p.name: digest(p) for p in tmp_path.iterdir()
                if not p.name.endswith(("-shm", ".lock"))} == files
    finally:
        newer.close()


WRITER = textwrap.dedent("""
    import sys
    from daemon.store import Store
    store = Store(sys.argv[1])
    with store.write() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS pairs (n INTEGER, side TEXT)")
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        with store.write() as tx:
            tx.execute("INSERT INTO pairs VALUES (?, 'a')", (n,))
            tx.execute("INSERT INTO pairs VALUES (?, 'b')", (n,))
""")


def _writer(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env(), stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def _cli(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), *argv], env=env(),
                          capture_output=True, text=True, timeout=60, check=False)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "db/einvd.sqlite3"\n', encoding="utf-8")
    return config


def test_backup_is_consistent_while_another_process_writes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "db" / "einvd.sqlite3"
    Store(path).close()
    writer = _writer(path)
    try:
        counts = []
        for round_ in range(3):
            out = _cli(config, "backup", "--to", str(tmp_path / f"copy{round_}.sqlite3"))
            assert out.returncode == 0, out.stderr
            copy = json.loads(out.stdout)
            assert copy["path"] == str(tmp_path / f"copy{round_}.sqlite3") and copy["schema_version"] == LATEST
            conn = sqlite3.connect(f"file:{copy['path']}?mode=ro", uri=True)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            halves = conn.execute("SELECT count(*) FROM pairs GROUP BY n HAVING count(*) != 2").fetchall()
            counts.append(conn.execute("SELECT count(*) FROM pairs").fetchone()[0])
            conn.close()
            assert halves == []  # no transaction copied in part
        assert counts == sorted(counts) and counts[-1] > 0
        out = _cli(config, "backup")  # the default: beside the database, named by the time
        assert out.returncode == 0, out.stderr
        beside = Path(json.loads(out.stdout)["path"])
        assert beside.parent == path.parent and beside.name.startswith("einvd.sqlite3.") and beside.suffix == ".bak"
        assert writer.poll() is None  # the writer never stopped
    finally:
        writer.kill()
        writer.wait()


def test_restore_is_refused_while_an_einvd_has_the_store_open(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "db" / "einvd.sqlite3"
    build(path, LATEST)
    fill(path)
    assert _cli(config, "backup", "--to", str(tmp_path / "good.bak")).returncode == 0
    writer = _writer(path)
    try:
        out = _cli(config, "restore", str(tmp_path / "good.bak"))
        assert out.returncode == 1
        assert json.loads(out.stdout)["errors"][0]["code"] == "restore.running"
    finally:
        writer.kill()
        writer.wait()
    # killed mid-write: its WAL is left behind with committed pairs; the restore must not replay it
    assert (tmp_path / "db" / "einvd.sqlite3-wal").exists()
    out = _cli(config, "restore", str(tmp_path / "good.bak"))
    assert out.returncode == 0, out.stdout + out.stderr
    done = json.loads(out.stdout)
    replaced = Path(done["replaced_backup"]["path"])
    assert not (tmp_path / "db" / "einvd.sqlite3-wal").exists() and not (tmp_path / "db" / "einvd.sqlite3-shm").exists()
    conn = sqlite3.connect(replaced)
    assert conn.execute("SELECT count(*) FROM pairs").fetchone()[0] > 0  # the replaced one kept what was written
    conn.close()
    assert "pairs" not in tables(sqlite3.connect(path)) and shape_of(path) == shape_of(tmp_path / "good.bak")
    assert dump(path, shape_of(path)) == dump(tmp_path / "good.bak", shape_of(path))


def test_restore_is_refused_in_process_while_a_store_is_open(tmp_path: Path) -> None:
    path = tmp_path / "einvd.sqlite3"
    store = Store(path)
    good = tmp_path / "good.bak"
    from daemon.store.backup import backup

    backup(path, START, good)
    try:
        with pytest.raises(BackupError) as refused:
            restore(good, path, START, LATEST)
        assert refused.value.code == "restore.running"
    finally:
        store.close()
    assert restore(good, path, START, LATEST).version == LATEST


def test_a_store_waits_for_a_restore_and_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "einvd.sqlite3"
    held = StoreLock.exclusive(path)
    try:
        with pytest.raises(BackupError) as refused:
            StoreLock.shared(path, wait=0.2)
        assert refused.value.code == "store.restoring"
    finally:
        held.release()
    StoreLock.shared(path, wait=0.2).release()


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.sqlite3"
    build(good, LATEST)
    fill(good)
    corrupt = tmp_path / "corrupt.sqlite3"
    data = bytearray(good.read_bytes())
    page = 4096
    for offset in range(2 * page + 8, 2 * page + 200):  # scribble over a b-tree page's cells
        data[offset] ^= 0x5A
    corrupt.write_bytes(bytes(data))
    newer = tmp_path / "newer.sqlite3"
    build(newer, LATEST)
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version={LATEST + 1}")
    conn.close()
    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (x)")
    conn.execute("PRAGMA user_version=2")
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 400, encoding="utf-8")
    return {"restore.unreadable": corrupt, "restore.schema": newer, "restore.not_einvd": foreign,
            "restore.unreadable ": text}


def test_restore_refuses_a_bad_file_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db" / "einvd.sqlite3"
    build(path, LATEST)
    fill(path)
    hashed = digest(path)
    for code, bad in _bad_files(tmp_path).items():
        with pytest.raises(BackupError) as refused:
            restore(bad, path, START, LATEST)
        assert refused.value.code == code.strip(), (bad, refused.value)
        assert digest(path) == hashed
        assert sorted(p.name for p in path.parent.iterdir()) == ["einvd.sqlite3", "einvd.sqlite3.lock"]


def test_a_failed_copy_leaves_no_partial_file(tmp_path: Path) -> None:
    with pytest.raises(BackupError) as refused:
        restore(tmp_path / "absent.bak", tmp_path / "einvd.sqlite3", START, LATEST)
    assert refused.value.code == "restore.missing" and list(tmp_path.iterdir()) == []


def test_a_restore_onto_an_empty_box(tmp_path: Path) -> None:
    source = tmp_path / "old.sqlite3"
    build(source, LATEST - 1)
    fill(source)
    path = tmp_path / "new" / "einvd.sqlite3"
    done = restore(source, path, START, LATEST)
    assert done.replaced is None and version_of(path) == LATEST - 1
    store = Store(path)  # migrated, after its own copy
    try:
        assert store.backup_before_migration is not None and version_of(path) == LATEST
        assert [h.as_dict()["next"] for h in tracks.held(store)] == ["AB00001003", "AC00000000", "AD00000500"]
    finally:
        store.close()


def test_backup_of_a_missing_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "nothing/einvd.sqlite3"\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "backup", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "backup.missing"


def test_restore_is_refused_while_another_program_has_the_database_open(tmp_path: Path) -> None:
    """No einvd lock held (an older einvd, the sqlite3 shell), but a connection is open: the WAL it shares must
    not be replayed onto the restored file, so nothing is replaced."""
    path = tmp_path / "einvd.sqlite3"
    build(path, LATEST)
    good = tmp_path / "good.bak"
    from daemon.store.backup import backup

    backup(path, START, good)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA wal_autocheckpoint=0")
    other.execute("INSERT INTO job_runs VALUES ('pump', 'now')")
    try:
        hashed = digest(sidecar_wal := tmp_path / "einvd.sqlite3-wal")
        with pytest.raises(BackupError) as refused:
            restore(good, path, START, LATEST)
        assert refused.value.code == "restore.running"
        assert digest(sidecar_wal) == hashed
        assert other.execute("SELECT job FROM job_runs").fetchall() == [("pump",)]
    finally:
        other.close()


def test_einvd_run_on_a_newer_database_exits_78_and_leaves_it(tmp_path: Path) -> None:
    """The service refuses to start (and systemd does not restart it: RestartPreventExitStatus=78)."""
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.pos]\nsecret = "run-test-secret-0123456789-abcdefghij"\npermissions = ["admin"]\n',
                    encoding="utf-8")
    keys.chmod(0o600)
    config = tmp_path / "einvd.toml"
    config.write_text('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
                      '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n[store]\npath = "db/einvd.sqlite3"\n\n'
                      f'[api]\nlisten = "127.0.0.1:{free_port()}"\nkeys_file = "keys.toml"\n', encoding="utf-8")
    path = tmp_path / "db" / "einvd.sqlite3"
    build(path, LATEST)
    fill(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version={LATEST + 1}")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    hashed = digest(path)
    result = _cli(config, "run")
    assert result.returncode == 78, result.stderr
    assert f"schema version {LATEST + 1}" in result.stderr and f"up to {LATEST}" in result.stderr
    assert digest(path) == hashed and not list(path.parent.glob("*.bak"))


def test_opening_a_second_store_keeps_the_first_ones_sqlite_locks(tmp_path: Path) -> None:
    """The daemon opens the file twice (the store, the nonce guard). Looking at the schema version must not
    open and close a descriptor of the database (that drops every POSIX lock the process holds on it): while the
    first store is open, another process still cannot take the file out of WAL mode."""
    path = tmp_path / "einvd.sqlite3"
    first = Store(path)
    first.connection().execute("SELECT count(*) FROM invoices").fetchone()
    second = Store(path)
    try:
        probe = ("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=0)\n"
                 "try:\n    print(c.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
                 "except sqlite3.OperationalError as e:\n    print('refused', e)\n")
        out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        assert out.startswith("refused"), out
    finally:
        second.close()
        first.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can restore a file owned by another user")
def test_root_restores_with_the_owner_and_mode_of_the_replaced_database(tmp_path: Path) -> None:
    path = tmp_path / "einvd.sqlite3"
    build(path, LATEST)
    os.chown(path, 12345, 12346)
    path.chmod(0o600)
    good = tmp_path / "good.bak"
    build(good, LATEST)
    good.chmod(0o644)
    restore(good, path, START, LATEST)
    found = path.stat()
    assert (found.st_uid, found.st_gid, found.st_mode & 0o777) == (12345, 12346, 0o600)
