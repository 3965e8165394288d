"""The ``job_runs`` table: when each scheduled job of ``einvd run`` last succeeded (for doctor and restarts)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    last_success: str


def record_success(conn: sqlite3.Connection, job: str, at: str) -> None:
    """Remember that ``job`` succeeded at ``at`` (a ``stamp``)."""
    conn.execute("INSERT INTO job_runs (job, last_success) VALUES (?, ?) "
                 "ON CONFLICT (job) DO UPDATE SET last_success = excluded.last_success", (job, at))


def last_runs(conn: sqlite3.Connection) -> list[JobRun]:
    """Every job's last success, by name."""
    return [JobRun(r[0], r[1]) for r in conn.execute("SELECT job, last_success FROM job_runs ORDER BY job")]


def last_run(conn: sqlite3.Connection, job: str) -> JobRun | None:
    row = conn.execute("SELECT job, last_success FROM job_runs WHERE job = ?", (job,)).fetchone()
    return JobRun(row[0], row[1]) if row is not None else None
