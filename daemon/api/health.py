"""``/v1/health`` (liveness and backlog, no key needed) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from daemon import workers
from daemon.api import models
from daemon.api.context import ApiContext
from daemon.api.errors import responses
from daemon.deliveries import counts as delivery_counts
from daemon.outbox import backlog
from daemon.scans import ScanHub
from daemon.store import Store, stats
from turnkey.period import TAIPEI, taipei

MESSAGE_TYPES = ("F0401", "F0501", "F0701", "G0401", "G0501")  # always in einvd_outbox_queued, 0 when none waits


def register(app: FastAPI, context: ApiContext) -> None:
    store = context.invoices.store

    @app.get("/v1/health", summary="liveness and backlog (no key needed)",
             responses={200: {"model": models.Health}, **responses(503)})
    def health() -> JSONResponse:
        now = context.invoices.clock.now()
        state = workers.health(store, now)
        return JSONResponse({"status": "ok", "time": taipei(now).isoformat(), "backlog": state["outbox"],
                             "invoices": state["invoices"], "alerts": state["alerts"]})

    @app.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **responses(503)})
    def metrics() -> PlainTextResponse:
        text = _metrics(store, context.scans, context.invoices.clock.now())
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


# --- /metrics (Prometheus text format 0.0.4): counts read from the store at scrape time, and the scan hub's ------


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, text: str, samples: Iterable[tuple[dict[str, object], float]]) -> list[str]:
    lines = [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        shown = ",".join(f'{key}="{_label(v)}"' for key, v in labels.items())
        number = str(value) if isinstance(value, int) else repr(float(value))
        lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")
    return lines


def _samples(counts: stats.Grouped, *keys: str) -> list[tuple[dict[str, object], float]]:
    """Grouped counts as samples labelled ``keys``."""
    return [(dict(zip(keys, labels, strict=True)), n) for labels, n in counts.items()]


def _metrics(store: Store, scans: ScanHub | None = None, now: datetime | None = None) -> str:
    waiting = backlog(store, now or datetime.now(TAIPEI))
    conn = store.connection()
    issued = stats.invoices_issued(conn)
    lines = _family("einvd_invoices_issued_total", "counter", "Invoices issued by this box (every number used).",
                    [({}, issued)])
    lines += _family("einvd_invoices", "gauge", "Invoices by lifecycle state.", _samples(
        stats.invoices_by_lifecycle(conn), "state"))
    lines += _family("einvd_invoices_by_status", "gauge", "Invoices by delivery status (queued ... confirmed).",
                     _samples(stats.invoices_by_status(conn), "status"))
    lines += _family("einvd_outbox", "gauge", "Outbox messages by type and state.", _samples(
        stats.outbox_by_type_and_state(conn), "type", "state"))
    by_type = cast(dict[str, int], waiting["by_type"])  # backlog() answers a dict of mixed values
    lines += _family("einvd_outbox_queued", "gauge", "Messages waiting to be dropped to Turnkey, by type.",
                     [({"type": t}, by_type.get(t, 0)) for t in sorted({*MESSAGE_TYPES, *by_type})])
    lines += _family("einvd_outbox_oldest_queued_age_seconds", "gauge",
                     "Age of the oldest message waiting to be dropped (0 when none waits).",
                     [({}, round(cast(float, waiting["oldest_age_seconds"]), 3))])
    lines += _family("einvd_outbox_failed", "gauge", "Messages that failed their checks and will not be sent.",
                     [({}, cast(int, waiting["failed"]))])
    lines += _family("einvd_dropped_total", "counter", "Messages dropped into Turnkey's SRC folders, by type.",
                     _samples(stats.dropped_by_type(conn), "type"))
    lines += _family("einvd_results_received_total", "counter", "Turnkey result files read, by kind and outcome.",
                     _samples(stats.results_by_kind_and_outcome(conn), "kind", "outcome"))
    lines += _family("einvd_deliveries", "gauge", "Messages by type and delivery state (queued ... confirmed).",
                     [({"type": t, "state": st}, n) for t, states in delivery_counts(conn).items()
                      for st, n in states.items()])
    lines += _family("einvd_allowances", "gauge", "Allowances by state.", _samples(
        stats.allowances_by_state(conn), "state"))
    lines += _family("einvd_print_jobs", "gauge", "Print jobs by kind and state.", _samples(
        stats.print_jobs_by_kind_and_state(conn), "kind", "state"))
    lines += _scan_metrics(scans)
    lines += _family("einvd_alerts_open", "gauge", "Alerts not yet cleared, by kind.", _samples(
        stats.open_alerts_by_kind(conn), "kind"))
    return "\n".join(lines) + "\n"


def _scan_metrics(scans: ScanHub | None) -> list[str]:
    """Scanner events since start (the hub counts them; none without a scanner)."""
    kinds = dict(scans.by_kind) if scans is not None else {}
    lines = _family("einvd_scanner_events_total", "counter", "Scans received from the scanner since start.",
                    [({}, sum(kinds.values()))])
    lines += _family("einvd_scanner_events_by_kind_total", "counter", "Scans since start, by what they were read as.",
                     [({"kind": kind}, n) for kind, n in sorted(kinds.items())])
    lines += _family("einvd_scanner_dropped_total", "counter", "Scans nobody collected before the hub was full.",
                     [({}, scans.dropped if scans is not None else 0)])
    return lines
