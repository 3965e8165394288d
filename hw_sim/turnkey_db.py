"""Turnkey 3.2.0's own database as the simulated Turnkey keeps it: its tables and ``PgTurnkeyLog``, which writes
the rows Turnkey writes when it takes, uploads, confirms or refuses a document.

Facts (domain.md §5.4, from ho600 ``turnkey_web/turnkey_wrapper/migrations/MariaDB.sql``; §5.5a, from the
Turnkey 3.2.0 jar's ``TaskTools``/``TurnkeyTools``):
- one TURNKEY_MESSAGE_LOG row per document, keyed by SEQNO (8) + SUBSEQNO (5): SEQNO numbers the message (one
  UUID, up to 1000 merged documents), SUBSEQNO the document inside it; STATUS P, G, C or E; INVOICE_IDENTIFIER
  ``<MSG><number><yyyyMMdd>``; MESSAGE_DTS ``yyyyMMddHHmmssSSS``;
- one TURNKEY_MESSAGE_LOG_DETAIL row per (SEQNO, SUBSEQNO, TASK) whose FILENAME is the BAK path, or the ERR path
  when STATUS is E;
- TURNKEY_SYSEVENT_LOG: EVENTDTS (primary key), PARTY_ID, SEQNO, SUBSEQNO, ERRORCODE (4: ``-008`` local
  validation, ``-022`` platform error, ...), UUID, INFORMATION1-3, MESSAGE1-6, the text in 60-character pieces.
- Names are unquoted in Turnkey's DDL, so PostgreSQL folds them to lower case.

This module shares nothing with einvd's reader (``drivers/turnkey_db.py``): it writes the tables as Turnkey
does, with its own SQL, and the tests check that the reader understands them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

DDL = (
    """CREATE TABLE TURNKEY_MESSAGE_LOG (
        SEQNO VARCHAR(8) NOT NULL, SUBSEQNO VARCHAR(5) NOT NULL, UUID VARCHAR(40), MESSAGE_TYPE VARCHAR(10),
        CATEGORY_TYPE VARCHAR(5), PROCESS_TYPE VARCHAR(10), FROM_PARTY_ID VARCHAR(10), TO_PARTY_ID VARCHAR(10),
        MESSAGE_DTS VARCHAR(17), CHARACTER_COUNT VARCHAR(10), STATUS VARCHAR(5), IN_OUT_BOUND VARCHAR(1),
        FROM_ROUTING_ID VARCHAR(39), TO_ROUTING_ID VARCHAR(39), INVOICE_IDENTIFIER VARCHAR(30),
        PRIMARY KEY (SEQNO, SUBSEQNO))""",
    """CREATE TABLE TURNKEY_MESSAGE_LOG_DETAIL (
        SEQNO VARCHAR(8) NOT NULL, SUBSEQNO VARCHAR(5) NOT NULL, TASK VARCHAR(30) NOT NULL, PROCESS_DTS VARCHAR(17),
        STATUS VARCHAR(5), FILENAME VARCHAR(300), UUID VARCHAR(40), PRIMARY KEY (SEQNO, SUBSEQNO, TASK))""",
    """CREATE TABLE TURNKEY_SYSEVENT_LOG (
        EVENTDTS VARCHAR(17) NOT NULL PRIMARY KEY, PARTY_ID VARCHAR(10), SEQNO VARCHAR(8), SUBSEQNO VARCHAR(5),
        ERRORCODE VARCHAR(4), UUID VARCHAR(40), INFORMATION1 VARCHAR(100), INFORMATION2 VARCHAR(100),
        INFORMATION3 VARCHAR(100), MESSAGE1 VARCHAR(60), MESSAGE2 VARCHAR(60), MESSAGE3 VARCHAR(60),
        MESSAGE4 VARCHAR(60), MESSAGE5 VARCHAR(60), MESSAGE6 VARCHAR(60))""",
    "CREATE INDEX TURNKEY_MESSAGE_LOG_IDENT ON TURNKEY_MESSAGE_LOG (INVOICE_IDENTIFIER)",
)
PIECE = 60
"""MESSAGE1..6 hold the event text in pieces of this many characters (§5.5a)."""


def create_tables(engine: sa.Engine, reader: str = "") -> None:
    """Turnkey's tables (as its installer creates them), SELECT granted to ``reader`` when given."""
    with engine.begin() as conn:
        for statement in DDL:
            conn.execute(sa.text(statement))
        if reader:
            for name in ("TURNKEY_MESSAGE_LOG", "TURNKEY_MESSAGE_LOG_DETAIL", "TURNKEY_SYSEVENT_LOG"):
                conn.execute(sa.text(f"GRANT SELECT ON {name} TO {reader}"))


def _dts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S") + f"{at.microsecond // 1000:03d}"


class PgTurnkeyLog:
    """``TurnkeyLog`` over a real database (PostgreSQL in the tests), written as Turnkey 3.2.0 writes it."""

    def __init__(self, engine: sa.Engine, party: str = "") -> None:
        self.engine, self.party = engine, party

    def logged(self, *, uuid: str, message_type: str, identifier: str, status: str, filename: str,
               at: datetime) -> None:
        """Insert or update the document's TURNKEY_MESSAGE_LOG row (by identifier + uuid) and its DETAIL row."""
        with self.engine.begin() as conn:
            found = conn.execute(sa.text(
                "SELECT SEQNO, SUBSEQNO FROM TURNKEY_MESSAGE_LOG WHERE INVOICE_IDENTIFIER = :i AND UUID = :u"),
                {"i": identifier, "u": uuid}).first()
            if found is None:
                seqno, subseqno = self._next_key(conn, uuid)
                conn.execute(sa.text(
                    "INSERT INTO TURNKEY_MESSAGE_LOG (SEQNO, SUBSEQNO, UUID, MESSAGE_TYPE, CATEGORY_TYPE, "
                    "PROCESS_TYPE, FROM_PARTY_ID, TO_PARTY_ID, MESSAGE_DTS, STATUS, IN_OUT_BOUND, INVOICE_IDENTIFIER) "
                    "VALUES (:s, :ss, :u, :m, 'B2S', 'STORAGE', :p, '', :d, :st, 'O', :i)"),
                    {"s": seqno, "ss": subseqno, "u": uuid, "m": message_type, "p": self.party, "d": _dts(at),
                     "st": status, "i": identifier})
            else:
                seqno, subseqno = found[0], found[1]
                conn.execute(sa.text("UPDATE TURNKEY_MESSAGE_LOG SET STATUS = :st WHERE SEQNO = :s AND SUBSEQNO = :ss"),
                             {"st": status, "s": seqno, "ss": subseqno})
            conn.execute(sa.text("DELETE FROM TURNKEY_MESSAGE_LOG_DETAIL WHERE SEQNO = :s AND SUBSEQNO = :ss "
                                 "AND TASK = 'UpCast'"), {"s": seqno, "ss": subseqno})
            conn.execute(sa.text(
                "INSERT INTO TURNKEY_MESSAGE_LOG_DETAIL (SEQNO, SUBSEQNO, TASK, PROCESS_DTS, STATUS, FILENAME, UUID) "
                "VALUES (:s, :ss, 'UpCast', :d, :st, :f, :u)"),
                {"s": seqno, "ss": subseqno, "d": _dts(at), "st": status, "f": filename, "u": uuid})

    @staticmethod
    def _next_key(conn: sa.Connection, uuid: str) -> tuple[str, str]:
        """The message's SEQNO (a new one for a new UUID) and the document's next SUBSEQNO in it."""
        same = conn.execute(sa.text("SELECT SEQNO, MAX(SUBSEQNO) FROM TURNKEY_MESSAGE_LOG WHERE UUID = :u "
                                    "GROUP BY SEQNO"), {"u": uuid}).first()
        if same is not None:
            return same[0], f"{int(same[1]) + 1:05d}"
        top = conn.execute(sa.text("SELECT MAX(SEQNO) FROM TURNKEY_MESSAGE_LOG")).scalar()
        return f"{int(top or 0) + 1:08d}", "00001"

    def event(self, *, uuid: str, identifier: str, error_code: str, message: str, at: datetime) -> None:
        """One TURNKEY_SYSEVENT_LOG row tied to the document's SEQNO/SUBSEQNO (when it has a row) and UUID."""
        pieces = [message[i:i + PIECE] for i in range(0, min(len(message), PIECE * 6), PIECE)]
        pieces += [""] * (6 - len(pieces))
        with self.engine.begin() as conn:
            found = conn.execute(sa.text(
                "SELECT SEQNO, SUBSEQNO FROM TURNKEY_MESSAGE_LOG WHERE INVOICE_IDENTIFIER = :i AND UUID = :u"),
                {"i": identifier, "u": uuid}).first()
            stamp = _dts(at)
            while conn.execute(sa.text("SELECT 1 FROM TURNKEY_SYSEVENT_LOG WHERE EVENTDTS = :e"),
                               {"e": stamp}).first() is not None:
                stamp = str(int(stamp) + 1)  # EVENTDTS is the key: two events in one millisecond take the next
            values = {"e": stamp, "p": self.party, "s": found[0] if found else None,
                      "ss": found[1] if found else None, "c": error_code, "u": uuid, "i1": identifier}
            values |= {f"m{n}": piece for n, piece in enumerate(pieces, 1)}
            conn.execute(sa.text(
                "INSERT INTO TURNKEY_SYSEVENT_LOG (EVENTDTS, PARTY_ID, SEQNO, SUBSEQNO, ERRORCODE, UUID, INFORMATION1, "
                "MESSAGE1, MESSAGE2, MESSAGE3, MESSAGE4, MESSAGE5, MESSAGE6) "
                "VALUES (:e, :p, :s, :ss, :c, :u, :i1, :m1, :m2, :m3, :m4, :m5, :m6)"), values)
