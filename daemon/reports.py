"""The daily reconciliation report: what happened on one Taipei day, for a machine (JSON) and a person
(Markdown), in ``reports.dir`` as ``einvd-YYYY-MM-DD.json`` and ``.md``.

It says: invoices issued that day by delivery status and lifecycle, the messages queued that day by type and
state and by delivery state (``daemon/deliveries.py``), the result files read, the rejections (with platform
codes) of invoices and of corrections (voids, cancels, allowances, allowance voids, E0402), the verdicts read that
day on other boxes' numbers (a Turnkey shared with other boxes), the alerts open when it was written, and
per range the numbers used that day with any gap (a number between the first and last of the day that no
invoice holds: it should never happen, and a person must find out why). Statuses are as at writing time.

The job writes yesterday's report once after ``daily_after`` (00:30 by default); a box that was down writes
the missing yesterday at start, and only that one (older days can be written with ``einvd report --date``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.deliveries import counts as delivery_counts
from daemon.periodic import record_export
from daemon.store import Store, stamp
from daemon.store import deliveries as delivery_table
from daemon.store import reports as queries
from drivers.files import write_atomic
from turnkey.numbers import format_number
from turnkey.period import taipei

GAPS_LISTED = 50


def daily(store: Store, day: date, now: datetime) -> dict[str, Any]:
    """The report of ``day`` (a Taipei date) as one JSON-able dict."""
    key, conn = day.isoformat(), store.connection()
    issued, total = queries.issued_on(conn, key)
    messages: dict[str, dict[str, int]] = {}
    for group in queries.messages_on(conn, key):
        state = group.sub if group.detail is None else f"{group.sub}/{group.detail}"
        messages.setdefault(group.key, {})[str(state)] = group.count
    results: dict[str, dict[str, int]] = {}
    for group in queries.results_on(conn, key):
        results.setdefault(group.key, {})[str(group.sub)] = group.count
    rejections = [{"number": r.number, "status": r.status, "code": r.result_code, "reason": r.result_reason,
                   "at": r.status_at} for r in queries.rejections_on(conn, key)]
    corrections = [{"type": r.message_type, "reference": r.reference, "status": r.state, "code": r.code,
                    "reason": r.reason, "at": r.at} for r in queries.correction_rejections_on(conn, key)]
    foreign: dict[str, dict[str, int]] = {}
    for (code, status), count in delivery_table.foreign_on(conn, key).items():
        foreign.setdefault(code, {})[status] = count
    return {
        "date": key, "generated_at": stamp(now),
        "invoices": {
            "issued": issued, "total_amount": total,
            "by_status": {g.key: g.count for g in queries.invoices_by_status(conn, key)},
            "by_lifecycle": {g.key: g.count for g in queries.invoices_by_lifecycle(conn, key)},
        },
        "messages": messages,
        "deliveries": {code: states for code, states in delivery_counts(conn, key).items() if states},
        "results": results,
        "rejections": rejections,
        "correction_rejections": corrections,
        "foreign_verdicts": foreign,
        "alerts": {"raised": queries.alerts_raised_on(conn, key),
                   "open": [asdict(alert) for alert in queries.open_alerts(conn)]},
        "numbers": _numbers(store, key),
    }


def _numbers(store: Store, key: str) -> list[dict[str, Any]]:
    used, conn = [], store.connection()
    for track in queries.tracks_used_on(conn, key):
        today = sorted(int(n[2:]) for n in queries.numbers_on(conn, track.id, key))
        first, last = format_number(track.track, today[0]), format_number(track.track, today[-1])
        held = {int(n[2:]) for n in queries.numbers_between(conn, track.id, first, last)}
        gaps = [n for n in range(today[0], today[-1] + 1) if n not in held]
        used.append({
            "period": track.period, "invoice_type": track.invoice_type,
            "range": f"{format_number(track.track, track.begin_no)}-{track.end_no:08d}",
            "first": first, "last": last, "used": track.used, "gaps": len(gaps),
            "gap_numbers": [format_number(track.track, n) for n in gaps[:GAPS_LISTED]],
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
    for code, states in report.get("deliveries", {}).items():
        lines += [f"| {code} delivery {state} | {count} |" for state, count in states.items()]
    for code, statuses in report.get("foreign_verdicts", {}).items():
        lines += [f"| other boxes' {code} verdicts {status} | {count} |" for status, count in statuses.items()]
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
    if report.get("correction_rejections"):
        lines += ["", "| Rejected correction | Reference | Status | Code | Reason |", "|---|---|---|---|---|"]
        lines += [f"| {r['type']} | {r['reference']} | {r['status']} | {r['code']} | {r['reason']} |"
                  for r in report["correction_rejections"]]
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
