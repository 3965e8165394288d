"""Turnkey's database on a real PostgreSQL server (tests/integration/pg_server.py): the simulator's
``PgTurnkeyLog`` writes rows as Turnkey 3.2.0 does, einvd's read-only reader finds each document's status and
reason, and it cannot write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pg_server import OWNER_PASSWORD, READER, READER_PASSWORD, PgServer, start_or_skip

from drivers.turnkey_db import TurnkeyDbReader, database_url
from hw_sim.turnkey_db import PgTurnkeyLog, create_tables

AT = datetime(2026, 11, 20, 10, 15, 0, 123000, tzinfo=UTC)
LONG = ("[E0107] 買方統一編號 12345678 錯誤，請確認買受人統一編號是否正確；本張發票未通過 Turnkey 上傳前檢核，"
        "請修正後以新檔重送 (F0401 欄位 Main/Buyer/Identifier)")


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_or_skip()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def turnkey_db(pg: PgServer) -> Iterator[tuple[PgTurnkeyLog, TurnkeyDbReader]]:
    owner = sa.create_engine(pg.owner_url.replace("/einvturnkey", "/postgres"), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS einvturnkey WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE einvturnkey"))
        conn.execute(sa.text(f"GRANT CONNECT ON DATABASE einvturnkey TO {READER}"))
    owner.dispose()
    engine = sa.create_engine(pg.owner_url)
    create_tables(engine, READER)
    reader = TurnkeyDbReader(database_url(f"postgresql://{READER}@127.0.0.1:{pg.port}/einvturnkey",
                                          READER_PASSWORD))
    try:
        yield PgTurnkeyLog(engine, "24549210"), reader
    finally:
        reader.close()
        engine.dispose()


def test_statuses_follow_the_document_from_upload_to_confirmation(
        turnkey_db: tuple[PgTurnkeyLog, TurnkeyDbReader]) -> None:
    log, reader = turnkey_db
    bak = "UpCast/B2SSTORAGE/F0401/BAK/20261120/18/F0401_AB00001234_7.xml"
    log.logged(uuid="u-1", message_type="F0401", identifier="F0401AB0000123420261120", status="P", filename=bak, at=AT)
    log.logged(uuid="u-1", message_type="F0401", identifier="F0401AB0000123520261120", status="P",
               filename=bak.replace("1234_7", "1235_8"), at=AT)
    found = reader.statuses(["F0401AB00001234", "F0401AB00001235", "F0401AB00009999"])
    assert {p: r.status for p, r in found.items()} == {"F0401AB00001234": "P", "F0401AB00001235": "P"}
    log.logged(uuid="u-1", message_type="F0401", identifier="F0401AB0000123420261120", status="G", filename=bak,
               at=AT + timedelta(minutes=1))
    first = reader.statuses(["F0401AB00001234"])["F0401AB00001234"]
    assert (first.status, first.uuid, first.filename, first.reason) == ("G", "u-1", bak, "")
    log.logged(uuid="u-1", message_type="F0401", identifier="F0401AB0000123420261120", status="C", filename=bak,
               at=AT + timedelta(hours=3))
    assert reader.statuses(["F0401AB0000123420261120"])["F0401AB0000123420261120"].status == "C"


def test_a_local_refusal_carries_its_reason_in_pieces(turnkey_db: tuple[PgTurnkeyLog, TurnkeyDbReader]) -> None:
    log, reader = turnkey_db
    err = "UpCast/B2SSTORAGE/F0401/ERR/20261120/18/F0401_AB00001234_7.xml"
    log.logged(uuid="u-2", message_type="F0401", identifier="F0401AB0000123420261120", status="E", filename=err, at=AT)
    log.logged(uuid="u-2", message_type="F0401", identifier="F0401AB0000123520261120", status="E",
               filename=err.replace("1234_7", "1235_8"), at=AT)
    log.event(uuid="u-2", identifier="F0401AB0000123420261120", error_code="-008", message=LONG, at=AT)
    log.event(uuid="u-2", identifier="F0401AB0000123520261120", error_code="-008", message="[E0201] other", at=AT)
    found = reader.statuses(["F0401AB00001234", "F0401AB00001235"])
    first = found["F0401AB00001234"]
    assert (first.status, first.error_code, first.filename, first.code) == ("E", "-008", err, "E0107")
    assert first.reason == LONG.strip() and len(LONG) > 60  # the 60-character pieces joined back whole
    assert found["F0401AB00001235"].reason == "[E0201] other"


def test_a_platform_failure_of_the_whole_message_is_found_by_uuid(
        turnkey_db: tuple[PgTurnkeyLog, TurnkeyDbReader]) -> None:
    log, reader = turnkey_db
    log.logged(uuid="u-3", message_type="G0401", identifier="G0401AL0000000120261120", status="E", filename="b",
               at=AT)
    log.event(uuid="u-3", identifier="", error_code="-022", message="[E0501] 發票號碼不存在|AL00000001", at=AT)
    found = reader.statuses(["G0401AL00000001"])["G0401AL00000001"]
    assert (found.status, found.error_code, found.code) == ("E", "-022", "E0501")
    assert found.reason.startswith("[E0501]")


def test_the_newest_row_of_a_number_wins(turnkey_db: tuple[PgTurnkeyLog, TurnkeyDbReader]) -> None:
    log, reader = turnkey_db
    log.logged(uuid="old", message_type="F0401", identifier="F0401AB0000123420261120", status="E", filename="e",
               at=AT)
    log.logged(uuid="new", message_type="F0401", identifier="F0401AB0000123420261120", status="G", filename="b",
               at=AT + timedelta(minutes=5))
    assert reader.statuses(["F0401AB00001234"])["F0401AB00001234"].uuid == "new"


def test_the_reader_reads_in_read_only_transactions_even_as_the_owner(
        pg: PgServer, turnkey_db: tuple[PgTurnkeyLog, TurnkeyDbReader]) -> None:
    _, reader = turnkey_db
    assert reader.check() == ""
    assert READER_PASSWORD not in repr(reader)
    owner = TurnkeyDbReader(database_url(f"postgresql://{pg.owner}@127.0.0.1:{pg.port}/einvturnkey", OWNER_PASSWORD))
    try:
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            owner._read(sa.text("INSERT INTO turnkey_sysevent_log (eventdts) VALUES ('1')"))
    finally:
        owner.close()


def test_an_unreachable_database_is_a_finding_without_the_password(pg: PgServer) -> None:
    url = database_url(f"postgresql://{READER}@127.0.0.1:{pg.port}/nosuchdb", "wrong-secret-99")
    reader = TurnkeyDbReader(url, connect_timeout=3)
    try:
        problem = reader.check()
    finally:
        reader.close()
    assert "nosuchdb" in problem and "wrong-secret-99" not in problem


def test_database_url_picks_the_driver_and_refuses_unknown_schemes() -> None:
    assert database_url("postgresql://einvd_ro@h/einvturnkey").drivername == "postgresql+psycopg"
    assert database_url("mariadb://einvd_ro@h/t").drivername == "mariadb+pymysql"
    assert database_url("mssql://u@h/t").drivername == "mssql+pyodbc"
    assert database_url("oracle://u@h/t", "pw").password == "pw"
    assert database_url("postgresql+psycopg2://u@h/t").drivername == "postgresql+psycopg2"
    with pytest.raises(ValueError, match=r"turnkey\.database"):
        database_url("sqlite:///x.db")
