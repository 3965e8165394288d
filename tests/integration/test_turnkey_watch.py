"""Following Turnkey itself (issue 19): its database on a real PostgreSQL server gives each dropped invoice its
status and refusal reason; a file Turnkey will not take raises ``turnkey.stuck`` with the likely cause; a
Turnkey whose download flow never answers raises ``turnkey.silent``. Real SQLite, real folders, a fake clock."""

from __future__ import annotations

import inspect
import os
import pwd
import random
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SELLER, sale, spec_dir, spec_schemas
from pg_server import READER, READER_PASSWORD, PgServer, start_or_skip

from daemon.services import InvoiceService
from daemon.store import Store, results, stamp
from daemon.turnkey_watch import REFUSED, SILENT, STUCK, TurnkeyWatch
from daemon.wiring.turnkeydb import GuardedReader
from daemon.workers import Pump, Watch
from drivers.drop.local import LocalDrop
from drivers.turnkey_db import TurnkeyDbReader, database_url
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from hw_sim.turnkey_db import PgTurnkeyLog, create_tables
from turnkey.layout import Layout

LAYOUT = Layout()
F0401 = "UpCast/B2SSTORAGE/F0401"
REASON = "[E0107] 買方統一編號錯誤，請確認買受人統一編號是否正確 (Main/Buyer/Identifier)"


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_or_skip()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Site:
    store: Store
    clock: FakeClock
    service: InvoiceService
    root: Path
    drop: LocalDrop
    pump: Pump
    watch: Watch
    turnkey: TurnkeyWatch

    def issue(self) -> str:
        self.clock.advance(seconds=1)
        order = f"TK-{random.Random().getrandbits(40):x}"
        number: str = self.service.issue(sale(order)).body["invoice_number"]
        return number

    def file_of(self, number: str) -> str:
        rows = self.store.read("SELECT file_name FROM outbox WHERE reference = ? AND message_type = 'F0401'",
                               (number,))
        name: str = rows[0][0]
        return name

    def status(self, number: str) -> tuple[str, str]:
        row = self.store.read("SELECT status, result_code FROM invoices WHERE number = ?", (number,))[0]
        return row[0], row[1]

    def history(self, number: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.store.read(
            "SELECT kind, reason FROM events WHERE entity_id = ? ORDER BY id", (number,))]

    def alerts(self, kind: str) -> list[tuple[str, str, str | None]]:
        return [(r[0], r[1], r[2]) for r in self.store.read(
            "SELECT entity_id, message, cleared_at FROM alerts WHERE kind = ? ORDER BY id", (kind,))]

    def take(self, name: str, which: str = "BAK") -> str:
        """Turnkey 3.2.0 takes a file: ``<which>/<yyyyMMdd>/<HH>/<name>`` (domain.md §5.5a)."""
        now = self.clock.now()
        path = f"{F0401}/{which}/{now:%Y%m%d}/{now:%H}/{name}"
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.root / F0401 / "SRC" / name, self.root / path)
        return path


def _site(store: Store, clock: FakeClock, service: InvoiceService, tmp_path: Path,
          database: GuardedReader | None, **drop_options: object) -> Site:
    root = tmp_path / "turnkey"
    SimTurnkey(root, spec_dir(), party=SELLER.identifier).install()  # its folders only: Turnkey is played here
    drop = LocalDrop(root, LAYOUT, **drop_options)  # type: ignore[arg-type]
    pump = Pump(store, drop, SELLER, spec_schemas(), random.Random(1))
    watch = Watch(store, drop, SELLER.identifier, deadlines=False)
    return Site(store, clock, service, root, drop, pump, watch, TurnkeyWatch(store, drop, database, LAYOUT))


@pytest.fixture
def turnkey_db(pg: PgServer) -> Iterator[tuple[PgTurnkeyLog, GuardedReader]]:
    owner = sa.create_engine(pg.owner_url.replace("/einvturnkey", "/postgres"), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS einvturnkey WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE einvturnkey"))
        conn.execute(sa.text(f"GRANT CONNECT ON DATABASE einvturnkey TO {READER}"))
    owner.dispose()
    engine = sa.create_engine(pg.owner_url)
    create_tables(engine, READER)
    reader = GuardedReader(TurnkeyDbReader(database_url(f"postgresql://{READER}@127.0.0.1:{pg.port}/einvturnkey",
                                                        READER_PASSWORD)))
    try:
        yield PgTurnkeyLog(engine, SELLER.identifier), reader
    finally:
        reader.close()
        engine.dispose()


def _identifier(site: Site, number: str) -> str:
    day = site.store.read("SELECT issued_at FROM invoices WHERE number = ?", (number,))[0][0][:10].replace("-", "")
    return f"F0401{number}{day}"


def test_statuses_and_reasons_from_turnkeys_database_reach_the_history_and_alerts(
        store: Store, clock: FakeClock, service: InvoiceService, tmp_path: Path,
        turnkey_db: tuple[PgTurnkeyLog, GuardedReader]) -> None:
    log, reader = turnkey_db
    site = _site(store, clock, service, tmp_path, reader)
    good, refused, platform = site.issue(), site.issue(), site.issue()
    site.pump.tick(clock.now())
    bak = site.take(site.file_of(good))
    err = site.take(site.file_of(refused), "ERR")
    bak2 = site.take(site.file_of(platform))
    site.watch.tick(clock.now())
    assert (site.status(good)[0], site.status(refused)[0]) == ("accepted_local", "rejected_local")

    now = clock.now()
    log.logged(uuid="m-1", message_type="F0401", identifier=_identifier(site, good), status="G", filename=bak, at=now)
    log.logged(uuid="m-1", message_type="F0401", identifier=_identifier(site, platform), status="G", filename=bak2,
               at=now)
    log.logged(uuid="m-2", message_type="F0401", identifier=_identifier(site, refused), status="E", filename=err,
               at=now)
    log.event(uuid="m-2", identifier=_identifier(site, refused), error_code="-008", message=REASON, at=now)
    assert site.turnkey.read_database(clock.now()) == {"uploaded": 2, "refused_local": 1}
    assert site.history(good)[-1] == ("uploaded", f"Turnkey uploaded {site.file_of(good)} (message m-1)")
    text = f"Turnkey refused F0401_{refused}: {REASON}"
    assert site.history(refused)[-1] == ("turnkey refused", text)
    assert site.alerts(REFUSED) == [(refused, text, None)]
    assert site.turnkey.read_database(clock.now()) == {}  # each status once

    clock.advance(timedelta(hours=2))
    log.logged(uuid="m-1", message_type="F0401", identifier=_identifier(site, good), status="C", filename=bak,
               at=clock.now())
    log.logged(uuid="m-1", message_type="F0401", identifier=_identifier(site, platform), status="E", filename=bak2,
               at=clock.now())
    log.event(uuid="m-1", identifier="", error_code="-022", message=f"[E0501] 發票號碼不存在|{platform}",
              at=clock.now())
    assert site.turnkey.read_database(clock.now()) == {"confirmed": 1, "rejected": 1, "refused": 1}
    assert site.status(good) == ("confirmed", "")
    assert site.status(platform) == ("rejected", "E0501")
    assert site.turnkey.read_database(clock.now()) == {}
    assert READER_PASSWORD not in repr(reader)


def test_an_unreachable_database_is_an_error_not_a_crash(store: Store, clock: FakeClock, service: InvoiceService,
                                                        tmp_path: Path, pg: PgServer) -> None:
    reader = GuardedReader(TurnkeyDbReader(database_url(f"postgresql://{READER}@127.0.0.1:{pg.port}/nosuchdb",
                                                        "bad-secret-1"), connect_timeout=3))
    site = _site(store, clock, service, tmp_path, reader)
    site.issue()
    site.pump.tick(clock.now())
    try:
        assert site.turnkey.read_database(clock.now()) == {"errors": 1}
    finally:
        reader.close()
    assert "nosuchdb" in site.turnkey.last_error and "bad-secret-1" not in site.turnkey.last_error


def test_the_end_to_end_refusal_reason_comes_from_the_simulators_database(
        store: Store, clock: FakeClock, service: InvoiceService, tmp_path: Path,
        turnkey_db: tuple[PgTurnkeyLog, GuardedReader]) -> None:
    """The simulated Turnkey 3.2.0 (helper TK's hw_sim/turnkey.py) refuses a file to ERR and writes its reason
    only to its database through ``PgTurnkeyLog``; einvd's history and alert carry that reason."""
    log, reader = turnkey_db
    port = [name for name, p in inspect.signature(SimTurnkey).parameters.items() if "TurnkeyLog" in str(p.annotation)]
    if not port:
        pytest.skip("hw_sim/turnkey.py has no TurnkeyLog port yet (helper TK's Turnkey 3.2.0 simulator)")
    root = tmp_path / "turnkey"
    sim = SimTurnkey(root, spec_dir(), party=SELLER.identifier, **{port[0]: log}).install()  # type: ignore[arg-type]
    site = _site(store, clock, service, tmp_path, reader)
    number = site.issue()
    sim.refusals[number] = "買方統一編號錯誤"
    site.pump.tick(clock.now())
    sim.tick(clock.now())
    site.watch.tick(clock.now())
    site.turnkey.read_database(clock.now())
    assert site.status(number)[0] == "rejected_local"
    assert site.history(number)[-1][0] == "turnkey refused"
    assert "買方統一編號錯誤" in site.history(number)[-1][1]
    assert [a[0] for a in site.alerts(REFUSED)] == [number]


# --- files Turnkey will not take, a Turnkey that never answers -----------------------------------------------

def test_dropped_files_get_the_mode_and_group_turnkey_needs(store: Store, clock: FakeClock, service: InvoiceService,
                                                            tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file another group needs root or membership of that group")
    site = _site(store, clock, service, tmp_path, None, file_mode=0o660, file_group="postgres")
    old = os.umask(0o077)
    try:
        number = site.issue()
        site.pump.tick(clock.now())
    finally:
        os.umask(old)
    st = (site.root / F0401 / "SRC" / site.file_of(number)).stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, pwd.getpwnam("postgres").pw_gid)


def test_a_file_left_in_src_names_its_mode_owner_and_likely_cause(store: Store, clock: FakeClock,
                                                                  service: InvoiceService, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the SRC folder is given to another user (Turnkey's) here, which needs root")
    site = _site(store, clock, service, tmp_path, None, file_mode=0o600)
    turnkey_user = pwd.getpwnam("postgres")
    os.chown(site.root / F0401 / "SRC", turnkey_user.pw_uid, turnkey_user.pw_gid)
    private, fine = site.issue(), site.issue()
    site.pump.tick(clock.now())
    os.chmod(site.root / F0401 / "SRC" / site.file_of(fine), 0o666)
    clock.advance(timedelta(minutes=29))
    assert site.turnkey.check_folders(clock.now())[STUCK] == 0
    clock.advance(timedelta(minutes=2))
    assert site.turnkey.check_folders(clock.now())[STUCK] == 2
    messages = {entity: message for entity, message, _ in site.alerts(STUCK)}
    assert len(messages) == 2
    first, second = (messages[str(i)] for i in sorted(int(k) for k in messages))
    assert site.file_of(private) in first and "mode 0600" in first and "likely cause: permissions" in first
    assert f"owner {turnkey_user.pw_uid} (postgres)" in first  # the folder's owner: Turnkey's user
    assert "mode 0666" in second and "not running" in second
    site.take(site.file_of(fine))
    site.watch.tick(clock.now())
    counts = site.turnkey.check_folders(clock.now())
    assert (counts[STUCK], counts["cleared"]) == (0, 1)
    assert [cleared is None for _, _, cleared in site.alerts(STUCK)] == [True, False]


def test_a_turnkey_whose_download_flow_never_answers_is_called_silent(store: Store, clock: FakeClock,
                                                                     service: InvoiceService, tmp_path: Path) -> None:
    site = _site(store, clock, service, tmp_path, None)
    number = site.issue()
    site.pump.tick(clock.now())
    site.take(site.file_of(number))
    site.watch.tick(clock.now())
    clock.advance(timedelta(hours=25))
    assert site.turnkey.check_folders(clock.now())[SILENT] == 0
    clock.advance(timedelta(hours=2))
    assert site.turnkey.check_folders(clock.now())[SILENT] == 1
    (_, message, _), = site.alerts(SILENT)
    assert "SummaryResult in Unpack/BAK/SummaryResult" in message
    assert "ProcessResult in Unpack/BAK/ProcessResult" in message
    assert "download flow" in message and "none has ever been seen" in message
    assert site.turnkey.check_folders(clock.now())[SILENT] == 0  # once
    with site.store.write() as tx:  # a result file arrives and is applied (the watcher records it as seen)
        results.record_seen(tx, "Unpack/BAK/SummaryResult/x", "SummaryResult", 1, stamp(clock.now()), "applied")
    counts = site.turnkey.check_folders(clock.now())
    assert (counts[SILENT], counts["cleared"]) == (0, 1)
