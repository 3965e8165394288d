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
