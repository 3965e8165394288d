"""Every benchmark in one go (what ``einvd bench`` runs): figure, floor and ratio per capability, into BENCHMARKS.md.

    python -m bench.run [--quick] [--only NAME ...] [--output BENCHMARKS.md]

Each benchmark runs in its own Python process (a fresh interpreter, so one bench's threads, caches and memory do
not colour the next), prints its own table as usual, and hands its rows back as JSON on its last line. The rows
become one table: the figure, the value, the floor measured in the same run, their ratio, the target and PASS or
MISS, under a description of the machine it ran on. Each benchmark starts after a ``sync`` and a pause of a few
seconds, so it does not measure the writeback of the one before. ``--quick`` uses small counts: it checks that
everything runs (CI does this) but its figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ROOT

MARK = "@@einvd-bench-rows@@"


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    value: float
    floor: float | None
    target: str
    ok: bool | None  # None: reported, no target

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None


def _uniform(bench: str, rows: list[dict[str, Any]]) -> list[Figure]:
    """Rows already in the runner's shape (issue_core, api, drain, print, scan)."""
    return [Figure(bench, r["figure"], float(r["value"]), float(r["floor"]) if r.get("floor") else None,
                   str(r.get("target", "")), None if r.get("target") == "reported" else bool(r["ok"]))
            for r in rows]


def _mig(bench: str, rows: list[dict[str, Any]]) -> list[Figure]:
    """Every case: >= 50 % of its floor; the plain 3-line render also >= 5,000/s (bench/mig.py)."""
    found = []
    for r in rows:
        fast = r["case"] == "F0401 3 lines render"
        ok = r["ratio"] >= 0.5 and (not fast or r["renders_per_s"] >= 5000)
        found.append(Figure(bench, f"{r['case']} (renders/s)", float(r["renders_per_s"]), float(r["floor_per_s"]),
                            ">= 50 % of floor" + (", >= 5,000/s" if fast else ""), ok))
    return found


def _memory(bench: str, found: dict[str, Any]) -> list[Figure]:
    bare = float(found["bare_fastapi"])
    return [
        Figure(bench, "start to READY (s)", float(found["ready_s"]), None, "<= 1.0 s", found["ready_s"] <= 1.0),
        Figure(bench, "RSS after start (MB)", float(found["rss_start"]), bare, "<= 90 MB", found["rss_start"] <= 90),
        Figure(bench, "RSS after the load (MB)", float(found["rss_load"]), bare, "<= 120 MB",
               found["rss_load"] <= 120),
    ]


@dataclass(frozen=True)
class Bench:
    name: str
    call: str  # Python expression over ``module`` returning the rows
    full: tuple[str, ...]
    quick: tuple[str, ...]
    rows: Callable[[str, Any], list[Figure]]


BENCHES = (
    Bench("issue_core", "module.main(argv)", (), ("--count", "1000"), _uniform),
    Bench("mig", "(lambda rows: print(module.report(rows)) or rows)(module.main(float(argv[0])))",
          ("2.0",), ("0.05",), _mig),
    Bench("print", "module.main(argv)", (), ("--count", "20"), _uniform),
    Bench("drain", "module.main(argv)", (), ("--count", "300", "--rounds", "2"), _uniform),
    Bench("api", "module.main(argv)", (), ("--count", "300", "--seconds", "2", "--rounds", "3"), _uniform),
    Bench("scan", "module.main(argv)", (), ("--count", "20"), _uniform),
    Bench("memory", "module.main(argv)", (), ("--quick",), _memory),
)

_CHILD = """
import importlib, json, sys
sys.argv = ["bench." + {name!r}, *{argv!r}]
module = importlib.import_module("bench." + {name!r})
argv = {argv!r}
rows = {call}
sys.stdout.flush()
print({mark!r} + json.dumps(rows, default=str))
"""
"""A benchmark's child process: ``python -c`` in the checkout (its first path entry), as ``python -m`` would."""


def run_one(bench: Bench, quick: bool) -> tuple[list[Figure], str]:
    """Run one benchmark in a fresh interpreter; its own output is echoed as it comes."""
    argv = list(bench.quick if quick else bench.full)
    code = _CHILD.format(argv=argv, name=bench.name, call=bench.call, mark=MARK)
    print(f"\n== {bench.name} {' '.join(argv)}", flush=True)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    payload = None
    for line in process.stdout:
        if line.startswith(MARK):
            payload = json.loads(line[len(MARK):])
        else:
            print(line, end="", flush=True)
    if process.wait() != 0 or payload is None:
        return [], f"{bench.name}: failed (exit {process.returncode})"
    return bench.rows(bench.name, payload), ""


def machine() -> list[str]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- Host: {platform.node()}, {platform.system()} {platform.release()} ({platform.machine()})",
        f"- CPU: {model or platform.processor() or 'unknown'}, {os.cpu_count()} cores; memory {memory or 'unknown'}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; load average before the run: {load}",
        f"- Run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; benchmark files in the system temp directory",
    ]


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def table(figures: list[Figure]) -> list[str]:
    lines = ["| bench | figure | value | floor | ratio | target | verdict |", "|---|---|---:|---:|---:|---|---|"]
    for f in figures:
        verdict = "" if f.ok is None else "PASS" if f.ok else "MISS"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        lines.append(f"| {f.bench} | {f.figure} | {_number(f.value)} | {_number(f.floor)} | {ratio} | {f.target} "
                     f"| {verdict} |")
    return lines


def write_report(path: Path, figures: list[Figure], failures: list[str], quick: bool, started: float,
                 host: list[str]) -> None:
    text = ["# Benchmarks", "",
            "Written by `einvd bench` (`bench/run.py`). Every floor is measured in the same run on the same machine; "
            "see each `bench/*.py` for what its floor is.", "",
            "## Machine", "", *host, f"- Whole run: {time.time() - started:.0f} s"
            + (" (quick mode: small counts, not figures to quote)" if quick else ""), "",
            "## Figures", "", *table(figures), ""]
    if failures:
        text += ["## Benchmarks that did not finish", "", *(f"- {f}" for f in failures), ""]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(text), encoding="utf-8")
    tmp.replace(path)


SETTLE_SECONDS = 5.0


def settle() -> None:
    """Before each benchmark: the previous one's writes onto the disk (``sync``) and a short pause, so that one
    benchmark's writeback and lingering processes (the drain's ten thousand files, the memory bench's daemon) are
    not measured by the next."""
    os.sync()
    time.sleep(SETTLE_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts: check that every benchmark runs")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run only these")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="where the table goes")
    args = parser.parse_args(argv)
    started = time.time()
    host = machine()  # the load average before the first benchmark, not after the last
    figures: list[Figure] = []
    failures: list[str] = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        if not args.quick:
            settle()
        found, failure = run_one(bench, args.quick)
        figures += found
        failures += [failure] if failure else []
    write_report(args.output, figures, failures, args.quick, started, host)
    print(f"\n{chr(10).join(table(figures))}\n\nwritten to {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
