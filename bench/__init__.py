"""einvd's benchmarks, run from a source checkout as a package: ``python -m bench.run`` (all of them, what
``einvd bench`` runs) or ``python -m bench.NAME`` (one). Each prints its figures beside the floor it is compared
with."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: the benchmarks read its spec files and start ``python -m daemon`` there."""
