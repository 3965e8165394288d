"""Turnkey's own database, read only (domain.md §5.4, §5.5a): per dropped document its STATUS and, for E, the
reason from TURNKEY_SYSEVENT_LOG.

SQLAlchemy Core with the site's driver (extras: psycopg for PostgreSQL, pymysql for MySQL/MariaDB, pyodbc for
MS SQL, oracledb for Oracle). Every read runs in a read-only transaction (``postgresql_readonly``, or ``SET
TRANSACTION READ ONLY`` where the dialect has it) and this module has no statement that writes.

Turnkey creates its tables with unquoted names: PostgreSQL folds them to lower case, the others keep (or
compare without regard to) upper case, so the names are lower case on PostgreSQL and upper case elsewhere.

A document is found by its INVOICE_IDENTIFIER, ``<MSG><number><yyyyMMdd>``: the reader takes prefixes
(``<MSG><number>``, or the whole identifier) and returns the newest row of each (MESSAGE_DTS, then SEQNO). A
number repeats only every two years and Turnkey deletes its rows after ``data-keep-days`` (30 by default), so
a prefix names one document. The reason of an E row is the SYSEVENT_LOG text of its (SEQNO, SUBSEQNO), else of
its UUID (a whole-message failure); MESSAGE1..6 are 60-character pieces of one text, joined back as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "mssql": "pyodbc",
           "oracle": "oracledb"}
"""Scheme -> the DBAPI driver einvd uses (the optional extras of the same names)."""
BATCH = 100
"""Identifiers per query (an OR of LIKE prefixes)."""
Row = tuple[Any, ...]
CODE = re.compile(r"\[?([A-Z]\d{4}|\d{5})\]?")


@dataclass(frozen=True, slots=True)
class TurnkeyRecord:
    """One document as Turnkey's database knows it."""

    identifier: str
    status: str
    uuid: str
    seqno: str
    subseqno: str
    at: str
    filename: str
    error_code: str
    reason: str

    @property
    def code(self) -> str:
        """The MOF code the reason names (``E0107``, ``00000``...), or ''."""
        match = CODE.search(self.reason)
        return match.group(1) if match else ""


def database_url(url: str, password: str | None = None) -> URL:
    """The SQLAlchemy URL of ``url`` (``postgresql://user@host/db``) with einvd's driver and ``password``;
    ValueError for a scheme einvd has no driver for."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in DRIVERS:
        raise ValueError(f"turnkey.database: {backend!r} is not one of {', '.join(sorted(DRIVERS))}")
    if "+" not in parsed.drivername:  # a URL naming its driver keeps it
        parsed = parsed.set(drivername=f"{backend}+{DRIVERS[backend]}")
    return parsed.set(password=password) if password is not None else parsed


def _tables(upper: bool) -> tuple[sa.TableClause, sa.TableClause, sa.TableClause]:
    def name(text: str) -> str:
        return text.upper() if upper else text

    def table(title: str, *columns: str) -> sa.TableClause:
        return sa.table(name(title), *(sa.column(name(c)) for c in columns))

    log = table("turnkey_message_log", "seqno", "subseqno", "uuid", "message_type", "message_dts", "status",
                "invoice_identifier")
    detail = table("turnkey_message_log_detail", "seqno", "subseqno", "task", "process_dts", "filename")
    events = table("turnkey_sysevent_log", "eventdts", "seqno", "subseqno", "errorcode", "uuid",
                   *(f"message{n}" for n in range(1, 7)))
    return log, detail, events


class TurnkeyDbReader:
    """Reads Turnkey's database; ``repr`` and errors never show the password."""

    def __init__(self, url: URL, connect_timeout: int = 10, engine: sa.Engine | None = None) -> None:
        self.url = url
        args: dict[str, Any] = {"connect_timeout": connect_timeout} if url.get_backend_name() == "postgresql" else {}
        self.engine = engine or sa.create_engine(url, connect_args=args, pool_pre_ping=True, pool_size=1,
                                                 max_overflow=0, hide_parameters=True)
        self.upper = url.get_backend_name() != "postgresql"
        self.log, self.detail, self.events = _tables(self.upper)

    def __repr__(self) -> str:
        return f"TurnkeyDbReader({self.url.render_as_string(hide_password=True)!r})"

    def _c(self, table: sa.TableClause, column: str) -> sa.ColumnClause[Any]:
        return table.c[column.upper() if self.upper else column]

    def _read(self, statement: sa.Executable) -> list[Row]:
        """One read-only transaction."""
        backend = self.url.get_backend_name()
        options = {"postgresql_readonly": True} if backend == "postgresql" else {}
        with self.engine.connect().execution_options(**options) as conn:
            if backend in ("mysql", "mariadb", "oracle"):
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                return [tuple(row) for row in conn.execute(statement)]
            finally:
                conn.rollback()

    def check(self) -> str:
        """'' when the three tables answer a read; else what went wrong (no password in it)."""
        try:
            for table in (self.log, self.detail, self.events):
                self._read(sa.select(sa.literal(1)).select_from(table).limit(1))
        except sa.exc.SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            return f"{self!r}: {type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}"
        return ""

    def statuses(self, prefixes: Sequence[str]) -> dict[str, TurnkeyRecord]:
        """The newest row of each identifier prefix found, with its file and, for E, its reason."""
        found: dict[str, TurnkeyRecord] = {}
        for start in range(0, len(prefixes), BATCH):
            found |= self._batch(prefixes[start:start + BATCH])
        return found

    def _batch(self, prefixes: Sequence[str]) -> dict[str, TurnkeyRecord]:
        c = self._c
        log = self.log
        ident = c(log, "invoice_identifier")
        query = (sa.select(c(log, "seqno"), c(log, "subseqno"), c(log, "uuid"), c(log, "message_dts"),
                           c(log, "status"), ident)
                 .where(sa.or_(*(ident.like(f"{p}%") for p in prefixes))))
        newest: dict[str, Row] = {}
        for row in self._read(query):
            identifier = (row[5] or "").strip()
            prefix = next((p for p in prefixes if identifier.startswith(p)), None)
            if prefix is not None and (prefix not in newest or _order(row) > _order(newest[prefix])):
                newest[prefix] = row
        files = self._files([(r[0], r[1]) for r in newest.values()])
        failed = [r for r in newest.values() if (r[4] or "").strip().upper().startswith("E")]
        reasons = self._reasons(failed)
        return {prefix: TurnkeyRecord((r[5] or "").strip(), (r[4] or "").strip(), (r[2] or "").strip(),
                                      r[0], r[1], (r[3] or "").strip(), files.get((r[0], r[1]), ""),
                                      *reasons.get((r[0], r[1]), ("", "")))
                for prefix, r in newest.items()}

    def _files(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        if not keys:
            return {}
        c, d = self._c, self.detail
        query = (sa.select(c(d, "seqno"), c(d, "subseqno"), c(d, "process_dts"), c(d, "filename"))
                 .where(sa.tuple_(c(d, "seqno"), c(d, "subseqno")).in_(keys)))
        latest: dict[tuple[str, str], tuple[str, str]] = {}
        for row in self._read(query):
            key, value = (row[0], row[1]), ((row[2] or ""), (row[3] or "").strip())
            if key not in latest or value[0] >= latest[key][0]:
                latest[key] = value
        return {key: value[1] for key, value in latest.items()}

    def _reasons(self, rows: list[Row]) -> dict[tuple[str, str], tuple[str, str]]:
        """(error code, text) of the newest event of each row's (SEQNO, SUBSEQNO), else of its UUID."""
        if not rows:
            return {}
        c, e = self._c, self.events
        keys = [(r[0], r[1]) for r in rows]
        uuids = sorted({r[2] for r in rows if r[2]})
        where: sa.ColumnElement[bool] = sa.tuple_(c(e, "seqno"), c(e, "subseqno")).in_(keys)
        if uuids:
            where = sa.or_(where, c(e, "uuid").in_(uuids))
        query = sa.select(c(e, "eventdts"), c(e, "seqno"), c(e, "subseqno"), c(e, "errorcode"), c(e, "uuid"),
                          *(c(e, f"message{n}") for n in range(1, 7))).where(where).order_by(c(e, "eventdts"))
        by_key: dict[tuple[str, str], tuple[str, str]] = {}
        by_uuid: dict[str, tuple[str, str]] = {}
        for event in self._read(query):
            text = "".join(str(piece or "") for piece in event[5:11]).strip()
            value = ((event[3] or "").strip(), text)
            if event[2] is not None:
                by_key[(event[1], event[2])] = value
            elif event[4]:  # an event of the whole message (no document named)
                by_uuid[event[4]] = value
        return {(r[0], r[1]): by_key.get((r[0], r[1])) or by_uuid.get(r[2]) or ("", "") for r in rows}

    def close(self) -> None:
        self.engine.dispose()


def _order(row: Row) -> tuple[str, str, str]:
    return ((row[3] or ""), row[0], row[1])
