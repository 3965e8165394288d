"""The daily reconciliation report: what happened on one Taipei day, for a machine (JSON) and a person
(Markdown), in ``reports.dir`` as ``einvd-YYYY-MM-DD.json`` and ``.md``.

It says: invoices issued that day by delivery status and lifecycle, the messages queued that day by type and
state, the result files read, the rejections (with platform codes), the alerts open when it was written, and
per range the numbers used that day with any gap (a number between the first and last of the day that no
invoice holds: it should never happen, and a person must find out why). Statuses are as at writing time.

The job writes yesterday's report once after ``daily_after`` (00:30 by default); a box that was down writes
the missing yesterday at start, and only that one (older days can be written with ``einvd report --date``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.periodic import record_export, write_atomic
from daemon.store import Store, stamp
from turnkey.numbers import format_number
from turnkey.period import taipei

GAPS_LISTED = 50


def _day(column: str) -> str:
    return f"substr({column}, 1, 10) = ?"


def _grouped(store: Store, sql: str, params: tuple[object, ...]) -> dict[str, int]:
    return {str(r[0]): r[1] for r in store.read(sql, params)}


def daily(store: Store, day: date, now: datetime) -> dict[str, Any]:
    """The report of ``day`` (a Taipei date) as one JSON-able dict."""
    key = day.isoformat()
    issued = store.read(f"SELECT count(*), coalesce(sum(total), 0) FROM invoices WHERE {_day('issued_at')}", (key,))
    messages: dict[str, dict[str, int]] = {}
    for row in store.read(f"SELECT message_type, state, outcome, count(*) FROM outbox WHERE {_day('created_at')} "
                          "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (key,)):
        state = row[1] if row[2] is None else f"{row[1]}/{row[2]}"
        messages.setdefault(row[0], {})[state] = row[3]
    results: dict[str, dict[str, int]] = {}
    for row in store.read(f"SELECT kind, outcome, count(*) FROM results_seen WHERE {_day('seen_at')} "
                          "GROUP BY 1, 2 ORDER BY 1, 2", (key,)):
        results.setdefault(row[0], {})[row[1]] = row[2]
    rejections = [
        {"number": r["number"], "status": r["status"], "code": r["result_code"], "reason": r["result_reason"],
         "at": r["status_at"]}
        for r in store.read("SELECT number, status, result_code, result_reason, status_at FROM invoices "
                            f"WHERE status IN ('rejected', 'rejected_local') AND {_day('status_at')} ORDER BY id",
                            (key,))
    ]
    alerts = [dict(r) for r in store.read("SELECT kind, entity, entity_id, raised_at, due_at, message FROM alerts "
                                          "WHERE cleared_at IS NULL ORDER BY id")]
    raised = store.read(f"SELECT count(*) FROM alerts WHERE {_day('raised_at')}", (key,))[0][0]
    return {
        "date": key, "generated_at": stamp(now),
        "invoices": {
            "issued": issued[0][0], "total_amount": issued[0][1],
            "by_status": _grouped(store, f"SELECT status, count(*) FROM invoices WHERE {_day('issued_at')} "
                                  "GROUP BY 1 ORDER BY 1", (key,)),
            "by_lifecycle": _grouped(store, f"SELECT lifecycle, count(*) FROM invoices WHERE {_day('issued_at')} "
                                     "GROUP BY 1 ORDER BY 1", (key,)),
        },
        "messages": messages,
        "results": results,
        "rejections": rejections,
        "alerts": {"raised": raised, "open": alerts},
        "numbers": _numbers(store, key),
    }


def _numbers(store: Store, key: str) -> list[dict[str, Any]]:
    used = []
    for track in store.read(
            "SELECT t.id, t.period, t.invoice_type, t.track, t.begin_no, t.end_no, count(i.id) AS used "
            f"FROM tracks t JOIN invoices i ON i.track_id = t.id WHERE {_day('i.issued_at')} "
            "GROUP BY t.id ORDER BY t.period, t.invoice_type, t.track, t.begin_no", (key,)):
        today = sorted(int(r[0][2:]) for r in store.read(
            f"SELECT number FROM invoices WHERE track_id = ? AND {_day('issued_at')}", (track["id"], key)))
        held = {int(r[0][2:]) for r in store.read(
            "SELECT number FROM invoices WHERE track_id = ? AND number BETWEEN ? AND ?",
            (track["id"], format_number(track["track"], today[0]), format_number(track["track"], today[-1])))}
        gaps = [n for n in range(today[0], today[-1] + 1) if n not in held]
        used.append({
            "period": track["period"], "invoice_type": track["invoice_type"],
            "range": f"{format_number(track['track'], track['begin_no'])}-{track['end_no']:08d}",
            "first": format_number(track["track"], today[0]), "last": format_number(track["track"], today[-1]),
            "used": track["used"], "gaps": len(gaps),
            "gap_numbers": [format_number(track["track"], n) for n in gaps[:GAPS_LISTED]],
        })
    return used


def markdown(report: dict[str, Any]) -> str:
    """The short table a person reads."""
    inv = report["invoices"]
    lines = [f"# einvd daily report {report['date']}", "", f"Written {report['generated_at']}.", "",
             "| What | Count |", "|---|---|", f"| Invoices issued | {inv['issued']} (total {inv['total_amount']}) |"]
    lines += [f"| status {status} | {count} |" for status, count in inv["by_status"].items()]
    lines += [f"| lifecycle {state} | {count} |" for state, count in inv["by_lifecycle"].items()]
    for code, states in report["messages"].items():
        lines += [f"| {code} {state} | {count} |" for state, count in states.items()]
    for kind, outcomes in report["results"].items():
        lines += [f"| result {kind} {outcome} | {count} |" for outcome, count in outcomes.items()]
    lines += [f"| Rejections | {len(report['rejections'])} |", f"| Alerts open | {len(report['alerts']['open'])} |"]
    if report["numbers"]:
        lines += ["", "| Range | First | Last | Used | Gaps |", "|---|---|---|---|---|"]
        lines += [f"| {n['period']} {n['invoice_type']} {n['range']} | {n['first']} | {n['last']} | {n['used']} | "
                  f"{n['gaps']} |" for n in report["numbers"]]
    if report["rejections"]:
        lines += ["", "| Rejected | Code | Reason |", "|---|---|---|"]
        lines += [f"| {r['number']} | {r['code']} | {r['reason']} |" for r in report["rejections"]]
    if report["alerts"]["open"]:
        lines += ["", "| Alert | Raised | Message |", "|---|---|---|"]
        lines += [f"| {a['kind']} | {a['raised_at']} | {a['message']} |" for a in report["alerts"]["open"]]
    return "\n".join(lines) + "\n"


def paths(directory: Path, day: date) -> tuple[Path, Path]:
    return directory / f"einvd-{day.isoformat()}.json", directory / f"einvd-{day.isoformat()}.md"


def write_daily(store: Store, directory: Path, day: date | None, now: datetime) -> dict[str, Any]:
    """Write the report of ``day`` (default yesterday) atomically; returns it with the two paths."""
    day = day or taipei(now).date() - timedelta(days=1)
    report = daily(store, day, now)
    json_path, md_path = paths(directory, day)
    write_atomic(md_path, markdown(report).encode("utf-8"))
    write_atomic(json_path, (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    with store.write() as tx:
        record_export(tx, "report", day.isoformat(), json_path, now)
    return {"report": report, "json": str(json_path), "markdown": str(md_path)}


@dataclass
class DailyReports:
    """``tick(now)``: after ``after`` (hour, minute) write yesterday's report unless it is there already."""

    store: Store
    directory: Path
    after: tuple[int, int] = (0, 30)

    def tick(self, now: datetime) -> str | None:
        """The path written, or None when the latest due report exists (before ``after`` that is the day
        before yesterday's: a box started at 00:10 still writes it if a stop at 23:50 missed it)."""
        local = taipei(now)
        day = local.date() - timedelta(days=1 if (local.hour, local.minute) >= self.after else 2)
        json_path, _ = paths(self.directory, day)
        if json_path.exists():
            return None
        return str(write_daily(self.store, self.directory, day, now)["json"])
