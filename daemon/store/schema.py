"""The schema: ``PRAGMA user_version`` migrations, each applied whole inside one transaction.

``apply_script`` cuts a script into statements with SQLite's own ``sqlite3.complete_statement`` (which knows
string literals, comments and ``CREATE TRIGGER ... BEGIN ... END``), never by splitting on ``;``.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        period TEXT NOT NULL,
        invoice_type TEXT NOT NULL CHECK (invoice_type IN ('07', '08')),
        track TEXT NOT NULL,
        begin_no INTEGER NOT NULL,
        end_no INTEGER NOT NULL,
        last_no INTEGER,
        last_issued_at TEXT,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        CHECK (begin_no <= end_no),
        CHECK (last_no IS NULL OR (last_no BETWEEN begin_no AND end_no))
    );
    CREATE INDEX tracks_by_period ON tracks (period, invoice_type, track, begin_no);
    CREATE TABLE invoices (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL,
        period TEXT NOT NULL,
        order_id TEXT NOT NULL UNIQUE,
        document TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        random_number TEXT NOT NULL,
        invoice_type TEXT NOT NULL,
        buyer_ban TEXT,
        total INTEGER NOT NULL,
        print_requested INTEGER NOT NULL,
        print_status TEXT NOT NULL,
        status TEXT NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks (id),
        created_at TEXT NOT NULL,
        UNIQUE (number, period)
    );
    CREATE TABLE invoice_lines (
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        sequence TEXT NOT NULL,
        description TEXT NOT NULL,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL,
        unit_price TEXT NOT NULL,
        amount TEXT NOT NULL,
        tax_type TEXT NOT NULL,
        remark TEXT NOT NULL,
        PRIMARY KEY (invoice_id, sequence)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        message_type TEXT NOT NULL,
        reference TEXT NOT NULL,
        invoice_id INTEGER REFERENCES invoices (id),
        state TEXT NOT NULL DEFAULT 'READY' CHECK (state IN ('READY', 'LOCKED', 'DONE', 'FAILED')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        data TEXT
    );
    CREATE INDEX events_by_entity ON events (entity, entity_id, id);
    """,
    # 2: Turnkey drops and results. The outbox row remembers the file name it was dropped as and what Turnkey
    # did with it (outcome); ``uncertain`` marks a row that was LOCKED when the process died. Invoices get the
    # time and platform code/reason of their last status change. ``results_seen`` makes every result file
    # count once, across restarts; ``alerts`` are raised once per (kind, entity) and shown in health.
    """
    ALTER TABLE outbox ADD COLUMN file_name TEXT;
    ALTER TABLE outbox ADD COLUMN dropped_at TEXT;
    ALTER TABLE outbox ADD COLUMN outcome TEXT;
    ALTER TABLE outbox ADD COLUMN outcome_at TEXT;
    ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_queue ON outbox (state, message_type, id);
    CREATE INDEX outbox_by_invoice ON outbox (invoice_id, id);
    CREATE INDEX outbox_by_file ON outbox (file_name) WHERE file_name IS NOT NULL;
    ALTER TABLE invoices ADD COLUMN status_at TEXT;
    ALTER TABLE invoices ADD COLUMN result_code TEXT NOT NULL DEFAULT '';
    ALTER TABLE invoices ADD COLUMN result_reason TEXT NOT NULL DEFAULT '';
    CREATE INDEX invoices_by_status ON invoices (status, issued_at);
    CREATE TABLE results_seen (
        path TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        seen_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        due_at TEXT,
        message TEXT NOT NULL,
        cleared_at TEXT,
        UNIQUE (kind, entity, entity_id)
    );
    """,
    # 3: the invoice lifecycle and the API. ``invoices.lifecycle`` (issued / voided / cancelled) is apart from the
    # delivery ``status``; ``invoice_actions`` keeps each void, cancel, re-issue and reprint with the outbox row
    # of its message; allowances with their lines (``gross`` is what a line took from the original line, in
    # the invoice's own terms); ``api_nonces`` guards against replayed requests, also across restarts.
    """
    ALTER TABLE invoices ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'issued'
        CHECK (lifecycle IN ('issued', 'voided', 'cancelled'));
    ALTER TABLE invoices ADD COLUMN lifecycle_at TEXT;
    CREATE TABLE invoice_actions (
        id INTEGER PRIMARY KEY,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        kind TEXT NOT NULL CHECK (kind IN ('void', 'cancel', 'reissue', 'reprint')),
        at TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        document TEXT,
        outbox_id INTEGER REFERENCES outbox (id)
    );
    CREATE INDEX invoice_actions_by_invoice ON invoice_actions (invoice_id, id);
    CREATE INDEX invoice_actions_by_outbox ON invoice_actions (outbox_id);
    CREATE TABLE allowances (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL UNIQUE,
        sequence INTEGER NOT NULL UNIQUE,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        request_id TEXT UNIQUE,
        request TEXT NOT NULL,
        allowance_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'voided')),
        tax_amount INTEGER NOT NULL,
        total_amount TEXT NOT NULL,
        outbox_id INTEGER REFERENCES outbox (id),
        voided_at TEXT,
        void_reason TEXT,
        void_outbox_id INTEGER REFERENCES outbox (id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX allowances_by_invoice ON allowances (invoice_id, id);
    CREATE TABLE allowance_lines (
        allowance_id INTEGER NOT NULL REFERENCES allowances (id),
        sequence TEXT NOT NULL,
        original_sequence TEXT NOT NULL,
        description TEXT NOT NULL,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL,
        unit_price TEXT NOT NULL,
        amount TEXT NOT NULL,
        tax INTEGER NOT NULL,
        gross TEXT NOT NULL,
        tax_type TEXT NOT NULL,
        PRIMARY KEY (allowance_id, sequence)
    ) WITHOUT ROWID;
    CREATE TABLE api_nonces (
        key_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        seen_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)
    ) WITHOUT ROWID;
    CREATE INDEX api_nonces_by_time ON api_nonces (seen_at);
    """,
    # Print jobs (daemon/printing.py): one row per slip to print for an invoice, ``proof`` (the 證明聯 with its
    # detail slip) or ``info`` (donated/carrier invoices); ``copy`` = 1 prints 補印. queued -> printed | failed,
    # ``printing`` while a worker has it. The partial indexes find the invoices that still owe a job.
    """
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        kind TEXT NOT NULL CHECK (kind IN ('proof', 'info')),
        copy INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'printing', 'printed', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX print_jobs_queue ON print_jobs (state, not_before, id);
    CREATE INDEX print_jobs_by_invoice ON print_jobs (invoice_id, id);
    CREATE INDEX invoices_print_pending ON invoices (id) WHERE print_status = 'pending';
    CREATE INDEX invoices_unprinted_by_time ON invoices (created_at) WHERE print_requested = 0;
    """,
    """
    CREATE TABLE job_runs (
        job TEXT PRIMARY KEY,
        last_success TEXT NOT NULL
    );
    """,
    # 6: scheduled work and alerts (daemon/periodic.py, reports.py, archive.py, notify.py). A period is closed
    # for E0402 once: ``blank_periods`` marks it, each message's spans are kept in ``blank_reports`` (the pump
    # rebuilds the XML from them) and the period's ranges are exhausted (``last_no = end_no``; the real last
    # number stays in ``used_last_no``) so nothing can be issued into numbers already reported blank.
    # ``exports`` records reports and archives written; ``alert_deliveries`` the webhook/printer notices of
    # each alert, ``alerts.notified_at`` when the notifier took it (already-cleared alerts count as taken).
    """
    ALTER TABLE tracks ADD COLUMN closed_at TEXT;
    ALTER TABLE tracks ADD COLUMN used_last_no INTEGER;
    CREATE TABLE blank_periods (
        period TEXT PRIMARY KEY,
        closed_at TEXT NOT NULL,
        messages INTEGER NOT NULL
    );
    CREATE TABLE blank_reports (
        id INTEGER PRIMARY KEY,
        period TEXT NOT NULL REFERENCES blank_periods (period),
        invoice_type TEXT NOT NULL,
        track TEXT NOT NULL,
        part INTEGER NOT NULL,
        head_ban TEXT NOT NULL,
        branch_ban TEXT NOT NULL,
        spans TEXT NOT NULL,
        outbox_id INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
        UNIQUE (period, invoice_type, track, part)
    );
    CREATE TABLE exports (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        path TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    ALTER TABLE alerts ADD COLUMN notified_at TEXT;
    UPDATE alerts SET notified_at = cleared_at WHERE cleared_at IS NOT NULL;
    CREATE INDEX alerts_unnotified ON alerts (id) WHERE notified_at IS NULL;
    CREATE TABLE alert_deliveries (
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        channel TEXT NOT NULL CHECK (channel IN ('webhook', 'printer')),
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT,
        PRIMARY KEY (alert_id, channel)
    ) WITHOUT ROWID;
    """,
    # Delivery states of every message (daemon/deliveries.py): ``deliveries`` holds the platform's word on one
    # outbox row (confirmed / rejected with its code, or unknown when none came by the deadline); before that the
    # state is read from the outbox row (queued, dropped, accepted_local, rejected_local, failed). The partial
    # index finds refused rows (for their alerts) without reading the whole outbox. ``foreign_verdicts`` counts,
    # per Taipei day, verdicts on numbers outside this box's ranges (other boxes sharing the Turnkey).
    """
    CREATE TABLE deliveries (
        outbox_id INTEGER PRIMARY KEY REFERENCES outbox (id),
        state TEXT NOT NULL CHECK (state IN ('confirmed', 'rejected', 'unknown')),
        at TEXT NOT NULL,
        code TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_refused ON outbox (id) WHERE outcome = 'rejected_local' OR state = 'FAILED';
    CREATE INDEX deliveries_rejected ON deliveries (outbox_id) WHERE state = 'rejected';
    CREATE INDEX outbox_corrections ON outbox (id) WHERE message_type IN ('F0501', 'F0701', 'G0401', 'G0501');
    CREATE TABLE foreign_verdicts (
        day TEXT NOT NULL,
        message_type TEXT NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (day, message_type, status)
    ) WITHOUT ROWID;
    """,
    # corr: a re-issue under a cancelled number (註銷重開) is a new version of the invoice, its own row with its own
    # lines, F0401 and delivery status; the cancelled version keeps the facts it was issued with, so its F0701 names
    # them. ``version`` counts the versions of (number, period), ``replaces`` is the row a version re-issues. SQLite
    # cannot drop the old UNIQUE (number, period), so the table is rebuilt: the foreign keys of lines, outbox rows,
    # actions, allowances and print jobs are deferred while the rows are copied back under the same ids. An order id
    # still names one invoice: only the versions of that invoice's number may share it (the trigger).
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE invoices_before_versions AS SELECT * FROM invoices;
    DROP TABLE invoices;
    CREATE TABLE invoices (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL,
        period TEXT NOT NULL,
        order_id TEXT NOT NULL,
        document TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        random_number TEXT NOT NULL,
        invoice_type TEXT NOT NULL,
        buyer_ban TEXT,
        total INTEGER NOT NULL,
        print_requested INTEGER NOT NULL,
        print_status TEXT NOT NULL,
        status TEXT NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks (id),
        created_at TEXT NOT NULL,
        status_at TEXT,
        result_code TEXT NOT NULL DEFAULT '',
        result_reason TEXT NOT NULL DEFAULT '',
        lifecycle TEXT NOT NULL DEFAULT 'issued' CHECK (lifecycle IN ('issued', 'voided', 'cancelled')),
        lifecycle_at TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        replaces INTEGER REFERENCES invoices (id),
        UNIQUE (number, period, version)
    );
    INSERT INTO invoices (id, number, period, order_id, document, issued_at, random_number, invoice_type, buyer_ban,
        total, print_requested, print_status, status, track_id, created_at, status_at, result_code, result_reason,
        lifecycle, lifecycle_at)
    SELECT id, number, period, order_id, document, issued_at, random_number, invoice_type, buyer_ban, total,
        print_requested, print_status, status, track_id, created_at, status_at, result_code, result_reason, lifecycle,
        lifecycle_at FROM invoices_before_versions ORDER BY id;
    DROP TABLE invoices_before_versions;
    CREATE INDEX invoices_by_status ON invoices (status, issued_at);
    CREATE INDEX invoices_print_pending ON invoices (id) WHERE print_status = 'pending';
    CREATE INDEX invoices_unprinted_by_time ON invoices (created_at) WHERE print_requested = 0;
    CREATE INDEX invoices_by_replaced ON invoices (replaces) WHERE replaces IS NOT NULL;
    CREATE INDEX invoices_by_order ON invoices (order_id, id);
    CREATE TRIGGER invoices_order_once BEFORE INSERT ON invoices
    WHEN EXISTS (SELECT 1 FROM invoices o WHERE o.order_id = NEW.order_id
                 AND (NEW.replaces IS NULL OR o.number <> NEW.number OR o.period <> NEW.period))
    BEGIN
        SELECT RAISE(ABORT, 'UNIQUE constraint failed: invoices.order_id');
    END;
    """,
    # Turnkey's own database (issue 19, helper TKDB): the last STATUS einvd read there for a dropped message (P,
    # G, C or E) and when; rows still P/G (or never read) are read again until C or E.
    """
    ALTER TABLE outbox ADD COLUMN turnkey_status TEXT;
    ALTER TABLE outbox ADD COLUMN turnkey_status_at TEXT;
    CREATE INDEX outbox_turnkey_open ON outbox (dropped_at) WHERE state = 'DONE';
    """,
    # Turnkey messages (issue 19, daemon/results.py): what the ProcessResult and the SummaryResult of one
    # uploaded message (by its Info/Id) said, kept until both are joined. ``verdict`` '' until the ProcessResult
    # arrives, then confirmed/failed/documents; ``failures`` and ``documents`` are JSON lists.
    """
    CREATE TABLE turnkey_messages (
        message_id TEXT PRIMARY KEY,
        message_type TEXT NOT NULL DEFAULT '',
        verdict TEXT NOT NULL DEFAULT '',
        code TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        failures TEXT NOT NULL DEFAULT '[]',
        documents TEXT,
        process_at TEXT,
        summary_at TEXT,
        settled_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX turnkey_messages_waiting ON turnkey_messages (summary_at)
        WHERE settled_at IS NULL AND documents IS NOT NULL AND verdict = '';
    """,
    # print helper (#15.7): what a job printed differently from the configuration (text outside a code page)
    """
    ALTER TABLE print_jobs ADD COLUMN note TEXT;
    """,
    # mails: the consumer's e-mail notice of an invoice (daemon/mail.py), one row per request (the issue, each
    # resend), written in the transaction that issues or asks again: READY -> SENT | FAILED.
    """
    CREATE TABLE mails (
        id INTEGER PRIMARY KEY,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        address TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (reason IN ('issue', 'resend')),
        state TEXT NOT NULL DEFAULT 'READY' CHECK (state IN ('READY', 'SENT', 'FAILED')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX mails_ready ON mails (not_before, id) WHERE state = 'READY';
    CREATE INDEX mails_by_invoice ON mails (invoice_id);
    """,
    # Ranges a POS numbers from itself (issue 18, helper SL: e首發票's invoice mode, ``tracks add --numbered-by``):
    # einvd's own allocation never takes a number from a range with ``numbered_by`` set.
    """
    ALTER TABLE tracks ADD COLUMN numbered_by TEXT;
    """,
)


def statements(script: str) -> list[str]:
    """The complete SQL statements of ``script``, in order (a trailing fragment without ``;`` is one too)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        found.append(pending.strip())
    return found


def apply_script(conn: sqlite3.Connection, script: str) -> None:
    """Run every statement of ``script`` on ``conn`` (inside the caller's transaction)."""
    for statement in statements(script):
        conn.execute(statement)
