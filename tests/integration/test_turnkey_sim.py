"""The simulated Turnkey on its own, judged against the MOF's official samples (never against our renderer):
what it picks up, what it accepts, where it moves files, what it writes back."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SPEC, START

from hw_sim.turnkey import SimTurnkey
from hw_sim.turnkey_checks import XsdSet, inspect
from turnkey.mig import parse_e0501, parse_process_result, parse_summary_result

OFFICIAL = SPEC / "samples" / "official-mig41"
XSD = XsdSet(SPEC / "mig41")
needs_official = pytest.mark.skipif(
    not (OFFICIAL.is_dir() and XSD.schema_dir.is_dir()),
    reason=f"{OFFICIAL} not found: the official MOF samples and XSDs are read from the shared spec, never copied",
)


def official(prefix: str) -> list[Path]:
    return sorted(OFFICIAL.glob(f"{prefix}*.xml"))


@needs_official
@pytest.mark.parametrize("sample", official("F0") + official("G0") + official("E0402"), ids=lambda p: p.name[:16])
def test_accepts_every_official_sample(sample: Path) -> None:
    code = sample.name[:5]
    found = inspect(code, sample.read_bytes(), XSD)
    assert found.problems == ()
    if code != "E0402":
        assert re.fullmatch(r"[A-Z]{2,3}\d{8}", found.reference) and re.fullmatch(r"\d{8}", found.date)


def _b2c_printed() -> bytes:
    return next(iter(official("F0401-KZ10000012"))).read_bytes()


@needs_official
@pytest.mark.parametrize("change, reason", [
    ((r"<Address>[^<]*</Address>", "<Address> </Address>"), "Seller/Address is required"),
    ((r"<PrintMark>Y</PrintMark>", "<PrintMark>N</PrintMark>"), "donated or on a carrier"),
    ((r"<TotalAmount>(\d+)</TotalAmount>", r"<TotalAmount>\1.5</TotalAmount>"), "TotalAmount must be a whole"),
    ((r"<RandomNumber>\d+</RandomNumber>", "<RandomNumber>12345</RandomNumber>"), "XSD"),
    ((r'xmlns="urn:GEINV:eInvoiceMessage:F0401:4\.1"', 'xmlns="urn:GEINV:eInvoiceMessage:F0401:4.0"'),
     "is not {urn:GEINV:eInvoiceMessage:F0401:4.1}Invoice"),
    ((r"</Invoice>", ""), "not well-formed"),
])
def test_refuses_what_turnkey_refuses(change: tuple[str, str], reason: str) -> None:
    data = re.sub(change[0], change[1], _b2c_printed().decode("utf-8"), count=1).encode("utf-8")
    problems = inspect("F0401", data, XSD).problems
    assert problems and any(reason in text for _, text in problems), problems
    assert {code for code, _ in problems} == {"7001"}


@needs_official
def test_takes_finished_xml_files_only_and_files_them_by_hour(tmp_path: Path) -> None:
    sim = SimTurnkey(tmp_path, SPEC / "mig41", party="12345676", pickup_delay=timedelta(seconds=30),
                     summary_delay=timedelta(minutes=5)).install()
    src = sim.folder("F0401", "SRC")
    (src / "F0401_KZ10000012_1.xml").write_bytes(_b2c_printed())
    (src / ".F0401_partial.xml").write_bytes(b"<Inv")
    (src / "F0401_KZ10000013_2.xml.part").write_bytes(b"<Inv")
    (src / "broken_3.xml").write_bytes(b"<Invoice>")
    assert sim.tick(START) == []  # not yet: the pickup delay
    moved = sim.tick(START + timedelta(seconds=30))
    assert {(m.name, m.accepted) for m in moved} == {("F0401_KZ10000012_1.xml", True), ("broken_3.xml", False)}
    assert sorted(p.name for p in src.iterdir()) == [".F0401_partial.xml", "F0401_KZ10000013_2.xml.part"]
    accepted = next(m for m in moved if m.accepted)
    millis = int((START + timedelta(seconds=30)).timestamp() * 1000)
    assert accepted.path == f"UpCast/B2SSTORAGE/F0401/BAK/20261121/14-15/F0401_KZ10000012_1_{millis}.xml"
    refused = next(m for m in moved if not m.accepted)
    assert (tmp_path / f"{refused.path}.log").read_text().startswith("7001 not well-formed XML")

    assert not list((tmp_path / "Unpack/BAK/SummaryResult").rglob("*.xml"))
    sim.tick(START + timedelta(minutes=6))
    (summary,) = (tmp_path / "Unpack/BAK/SummaryResult").rglob("*.xml")
    parsed = parse_summary_result(summary.read_bytes())
    (message,) = parsed.messages
    assert message.info.message_type == "F0401" and message.info.uuid
    assert [i.reference_number for i in message.good.invoices] == ["KZ10000012"] and message.failed.count == 0


@needs_official
def test_outage_scripted_refusals_and_platform_rejections(tmp_path: Path) -> None:
    sim = SimTurnkey(tmp_path, None, party="12345676", summary_delay=timedelta(0)).install()
    src = sim.folder("F0401", "SRC")
    for sample in official("F0401"):
        (src / f"F0401_{sample.name[6:16]}.xml").write_bytes(sample.read_bytes())
    sim.down = True
    assert sim.tick(START) == [] and len(list(src.iterdir())) == 4
    sim.down = False
    sim.refuse("KZ10000010", "Turnkey says no")
    sim.reject("KZ10000011", "E1001", "發票受贈統編/格式錯誤")
    moved = sim.tick(START)
    assert sorted((m.reference, m.accepted) for m in moved) == [
        ("KZ10000002", True), ("KZ10000010", False), ("KZ10000011", True), ("KZ10000012", True)]
    (summary,) = (tmp_path / "Unpack/BAK/SummaryResult").rglob("*.xml")
    (message,) = parse_summary_result(summary.read_bytes()).messages
    assert [i.reference_number for i in message.failed.invoices] == ["KZ10000011"]
    assert message.good.count == 2
    (process,) = (tmp_path / "Unpack/BAK/ProcessResult").rglob("*.xml")
    result = parse_process_result(process.read_bytes())
    assert [(r.code, r.parameters) for r in result.results] == [("E1001", ("KZ10000011",))]


def test_allocations_read_back(tmp_path: Path) -> None:
    path = SimTurnkey(tmp_path).install().allocate(START, "12345676", "11602", "CD", 100, 199)
    (allocation,) = parse_e0501(path.read_bytes())
    assert (allocation.ban, allocation.booklets) == ("12345676", 2)
    assert allocation.range.track == "CD" and (allocation.range.begin, allocation.range.end) == (100, 199)
