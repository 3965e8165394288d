"""Render throughput of the MIG renderer beside a floor measured in the same run.

    python -m bench.mig

Cases: an F0401 invoice with 3 and with 100 lines, rendered without and with XSD validation. The floor is
a bare lxml build of the same tree (etree.Element/SubElement over precomputed tags and texts) +
etree.tostring; with XSD the floor also parses the bytes and runs the compiled schema. Targets: renders/s
>= 50 % of the floor, and >= 5,000 renders/s for the 3-line invoice without XSD. ``main()`` returns the rows
for a bench runner.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from bench import ROOT
from turnkey.mig.common import DECLARATION, PARSER
from turnkey.mig.render import build, render
from turnkey.mig.xsd import Schemas, required_sources
from turnkey.model import Invoice, Line, Party
from turnkey.money import Amounts
from turnkey.period import TAIPEI

SCHEMA_DIR = ROOT.parent / "shared" / "spec" / "mig41"
SECONDS = 1.5
TARGET_RATIO = 0.5
TARGET_3_LINES = 5_000

Plan = list[tuple[int, str, str | None]]


def invoice(lines: int) -> Invoice:
    """A B2C printed invoice with ``lines`` tax-inclusive lines (built directly, like the daemon does)."""
    items = tuple(
        Line(f"{i:03d}", f"商品 {i}", Decimal("2"), Decimal("12.5"), Decimal("25"), remark="remark")
        for i in range(1, lines + 1)
    )
    total = 25 * lines
    return Invoice(
        number="AB12345678",
        issued_at=datetime(2026, 11, 21, 9, 30, 5, tzinfo=TAIPEI),
        seller=Party("12345676", "測試公司", "台北市中華路1段123號", telephone="0212345678"),
        buyer=Party("0000000000", "消費者"),
        invoice_type="07",
        print_mark=True,
        random_number="1234",
        items=items,
        amounts=Amounts(total, 0, 0, 0, total),
        tax_type="1",
        tax_rate=Decimal("0.05"),
    )


def plan_of(root: etree._Element) -> Plan:
    """The tree as (parent index, tag, text) in document order: what the floor builds."""
    index = {root: 0}
    plan: Plan = []
    for element in root.iterdescendants():
        parent = element.getparent()
        assert parent is not None
        index[element] = len(index)
        plan.append((index[parent], element.tag, element.text))
    return plan


def floor_builder(message: Invoice) -> Callable[[], bytes]:
    """A bare lxml build + serialisation of exactly the renderer's tree, with everything precomputed."""
    model = build(message)
    tag, attrib = model.tag, {str(key): str(value) for key, value in model.attrib.items()}
    nsmap: Any = model.nsmap  # the stubs type it without the None (default) prefix
    plan = plan_of(model)
    element, sub, tostring = etree.Element, etree.SubElement, etree.tostring

    def floor() -> bytes:
        elements = [element(tag, attrib, nsmap)]
        for parent, child_tag, text in plan:
            child = sub(elements[parent], child_tag)
            child.text = text
            elements.append(child)
        return DECLARATION + tostring(elements[0], encoding="UTF-8", pretty_print=True)

    return floor


def rate(job: Callable[[], object], seconds: float = SECONDS, rounds: int = 5) -> float:
    """Calls per second of ``job``: the best of ``rounds`` rounds timed with time.perf_counter.

    The best round is the least disturbed by other processes; each round runs enough calls to last
    ``seconds / rounds``.
    """
    job()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        job()
        calls += 1
    per_round = max(1, int(calls / (time.perf_counter() - start) * seconds / rounds))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            job()
        best = max(best, per_round / (time.perf_counter() - start))
    return best


def load_schemas() -> Schemas | None:
    if not SCHEMA_DIR.is_dir():
        return None
    files = {name: (SCHEMA_DIR / name).read_bytes() for name in required_sources(("F0401",))}
    return Schemas.from_sources(files, ("F0401",))


Case = tuple[str, Callable[[], object], Callable[[], object]]


def cases(message: Invoice, schemas: Schemas | None) -> list[Case]:
    floor = floor_builder(message)
    found: list[Case] = [("render", lambda: render(message), floor)]
    if schemas is not None:
        compiled = schemas.by_code["F0401"]

        def checked() -> object:
            return schemas.validate("F0401", render(message))

        def floor_checked() -> object:
            return compiled.validate(etree.fromstring(floor(), PARSER))

        found.append(("render+xsd", checked, floor_checked))
    return found


def main(seconds: float = SECONDS) -> list[dict[str, object]]:
    """Measure every case; one row per case with renders/s, floor/s and their ratio."""
    schemas = load_schemas()
    rows: list[dict[str, object]] = []
    for lines in (3, 100):
        message = invoice(lines)
        for label, job, floor in cases(message, schemas):
            renders, floors = rate(job, seconds), rate(floor, seconds)
            rows.append(
                {
                    "case": f"F0401 {lines} lines {label}",
                    "renders_per_s": round(renders),
                    "floor_per_s": round(floors),
                    "ratio": round(renders / floors, 3),
                }
            )
    return rows


def report(rows: list[dict[str, object]]) -> str:
    lines = [f"{'case':<28} {'renders/s':>10} {'floor/s':>10} {'ratio':>6}"]
    for row in rows:
        lines.append(
            f"{row['case']:<28} {row['renders_per_s']:>10} {row['floor_per_s']:>10} {row['ratio']:>6}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="MIG render throughput beside a bare lxml floor")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measuring time per case and floor")
    results = main(parser.parse_args().seconds)
    print(report(results))
    if load_schemas() is None:
        print(f"(XSD cases skipped: {SCHEMA_DIR} not found)")
    print(
        f"targets: ratio >= {TARGET_RATIO} without XSD; >= {TARGET_3_LINES} renders/s for 3 lines without XSD"
    )
