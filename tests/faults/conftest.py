"""The fault tests: real ``einvd run`` processes killed, cut off and starved (tests/faults/harness.py).

Like tests/integration, the modules here import their helpers by plain name (``from harness import Box``):
this directory is put on ``sys.path`` whatever pytest's import mode. Every test collected below this
directory is marked ``faults`` (``pytest -m "not faults"`` skips them all).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.faults)


_FINDINGS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep what each fault test printed (its counts), to show them even when it passed."""
    if report.when == "call" and report.capstdout and HERE in Path(str(report.fspath)).resolve().parents:
        _FINDINGS.append((report.nodeid, report.capstdout.strip()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FINDINGS:
        terminalreporter.section("what the fault tests did and found")
        for nodeid, text in _FINDINGS:
            terminalreporter.write_line(f"{nodeid}:")
            for line in text.splitlines():
                terminalreporter.write_line(f"  {line}")
