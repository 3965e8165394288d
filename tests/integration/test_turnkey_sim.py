"""The simulated Turnkey on its own, judged against the MOF's official samples (never against our renderer):
what it picks up, what it accepts, where it moves files, what it writes back."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SPEC, START

from hw_sim.turnkey import MemoryTurnkeyLog, SimTurnkey, may_read_and_write
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
def test_takes_every_file_in_src_and_files_them_as_turnkey_3_2_0(tmp_path: Path) -> None:
    """§5.5a: every file under SRC, recursively, hidden and partial names included; tiny files to ERR;
    ``<yyyyMMdd>/<HH>/<name>`` with ``.001`` for a name already in BAK; ERR overwrites; no reason file."""
    sim = SimTurnkey(tmp_path, SPEC / "mig41", party="12345676", pickup_delay=timedelta(seconds=30),
                     summary_delay=timedelta(minutes=5)).install()
    src = sim.folder("F0401", "SRC")
    (src / "F0401_KZ10000012_1.xml").write_bytes(_b2c_printed())
    (src / "deeper").mkdir()
    (src / "deeper" / ".F0401_hidden.xml").write_bytes(_b2c_printed())
    (src / "F0401_KZ10000013_2.xml.part").write_bytes(b"<In")
    (src / "broken_3.xml").write_bytes(b"<Invoice>")
    assert sim.tick(START) == []  # not yet: the pickup delay
    at = START + timedelta(seconds=30)
    moved = sim.tick(at)
    assert sorted((m.name, m.accepted) for m in moved) == [
        (".F0401_hidden.xml", True), ("F0401_KZ10000012_1.xml", True), ("F0401_KZ10000013_2.xml.part", False),
        ("broken_3.xml", False)]
    assert list(src.rglob("*")) == [src / "deeper"]
    by_name = {m.name: m for m in moved}
    assert by_name["F0401_KZ10000012_1.xml"].path == "UpCast/B2SSTORAGE/F0401/BAK/20261121/14/F0401_KZ10000012_1.xml"
    assert by_name["F0401_KZ10000013_2.xml.part"].problems[0][0] == "-002"  # 3 bytes: ERR
    assert not list(sim.folder("F0401", "ERR").rglob("*.log"))
    (message,) = sim.messages  # both accepted files merged into one message
    assert len(message.documents) == 2 and re.fullmatch(r"v41-F0401-20261121-140330000-[0-9a-f-]{36}", message.id)

    sim.pickup_delay = timedelta(0)
    (src / "F0401_KZ10000012_1.xml").write_bytes(_b2c_printed())  # dropped again: uploaded again (no check)
    (src / "broken_3.xml").write_bytes(b"<Invoice>!")
    again = {m.name: m for m in sim.tick(at)}
    assert again["F0401_KZ10000012_1.xml"].path.endswith("/BAK/20261121/14/F0401_KZ10000012_1.xml.001")
    assert again["broken_3.xml"].path == by_name["broken_3.xml"].path  # ERR overwrites
    assert (tmp_path / again["broken_3.xml"].path).read_bytes() == b"<Invoice>!"

    assert not [p for p in (tmp_path / "Unpack/BAK").rglob("*Result") if p.is_file()]
    sim.tick(at + timedelta(minutes=5))
    summaries = sorted((tmp_path / "Unpack/BAK/SummaryResult").rglob("*.SummaryResult"))
    assert [p.relative_to(tmp_path / "Unpack/BAK/SummaryResult").parts[:2] for p in summaries] == [
        ("20261121", "2026112114")]
    parsed = parse_summary_result(summaries[0].read_bytes())
    assert [m.info.id for m in parsed.messages] == [m.id for m in sim.messages]
    assert [i.reference_number for i in parsed.messages[0].good.invoices] == ["KZ10000012", "KZ10000012"]
    processes = sorted((tmp_path / "Unpack/BAK/ProcessResult").rglob("*"))
    names = [p.name for p in processes if p.is_file()]
    assert sorted(names) == sorted(f"{m.id}_ProcessResult" for m in sim.messages)  # one per message, no .xml
    result = parse_process_result(next(p for p in processes if p.is_file()).read_bytes())
    assert [(r.code, r.parameters) for r in result.results] == [("00000", ())]
    log = sim.log
    assert isinstance(log, MemoryTurnkeyLog)
    assert {row.status for row in log.rows.values() if row.identifier.startswith("F0401KZ10000012")} == {"C"}
    assert {e.error_code for e in log.events} == {"-002", "-008"}


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
    (summary,) = (tmp_path / "Unpack/BAK/SummaryResult").rglob("*.SummaryResult")
    (message,) = parse_summary_result(summary.read_bytes()).messages
    assert [i.reference_number for i in message.failed.invoices] == ["KZ10000011"]
    assert message.good.count == 2
    (process,) = (tmp_path / "Unpack/BAK/ProcessResult").rglob("*_ProcessResult")
    result = parse_process_result(process.read_bytes())
    (document,) = [m for m in moved if m.reference == "KZ10000011"]
    position = [d.reference for d in sim.messages[0].documents].index("KZ10000011") + 1
    assert [(r.code, r.description, r.parameters) for r in result.results] == [
        ("E1001", f"No. {position} 發票受贈統編/格式錯誤", ("KZ10000011", document.date))]
    log = sim.log
    assert isinstance(log, MemoryTurnkeyLog)
    assert log.status(f"F0401KZ10000011{document.date}") == "E"
    assert log.status(f"F0401KZ10000002{next(m for m in moved if m.reference == 'KZ10000002').date}") == "C"
    platform = [e for e in log.events if e.error_code == "-022"]
    assert [e.message.split("|")[0] for e in platform] == ["[E1001] 發票受贈統編/格式錯誤"]


@needs_official
def test_a_whole_message_failure_and_e04_messages_one_each(tmp_path: Path) -> None:
    sim = SimTurnkey(tmp_path, None, summary_delay=timedelta(0)).install()
    for sample in official("F0401")[:2]:
        (sim.folder("F0401", "SRC") / sample.name).write_bytes(sample.read_bytes())
    for n, sample in enumerate(official("E0402") * 2):
        (sim.folder("E0402", "SRC") / f"{n}_{sample.name}").write_bytes(sample.read_bytes())
    sim.fail_message("E0301", "簽章驗證失敗", "F0401")
    sim.tick(START)
    assert [(m.code, len(m.documents)) for m in sim.messages] == [("F0401", 2), ("E0402", 1), ("E0402", 1)]
    (failed,) = [p for p in (tmp_path / "Unpack/BAK/ProcessResult").rglob("v41-F0401-*")]
    result = parse_process_result(failed.read_bytes())
    assert [(r.code, r.description) for r in result.results] == [("E0301", "簽章驗證失敗")]
    e0402 = sim.messages[1].documents[0]
    assert re.fullmatch(r"\d{8}-[A-Z]{2}0[78]", e0402.identifier)


def test_a_file_turnkey_cannot_read_and_write_stays_in_src_forever(tmp_path: Path) -> None:
    """The tests run as root, so the simulator applies the POSIX rules for its own Turnkey user itself."""
    owner = os.stat(tmp_path).st_uid
    sim = SimTurnkey(tmp_path, None, user=(owner + 1000, (4242,))).install()
    src = sim.folder("F0401", "SRC")
    cases = {"other_rw.xml": (0o666, 4242), "group_rw.xml": (0o660, 4242), "group_ro.xml": (0o640, 4242),
             "owner_only.xml": (0o600, 4242)}
    for name, (mode, gid) in cases.items():
        (src / name).write_bytes(b"<not an invoice/>")
        os.chown(src / name, owner, gid)
        os.chmod(src / name, mode)
    taken = {m.name for m in sim.tick(START)}
    assert taken == {"other_rw.xml", "group_rw.xml"}
    assert {p.name for p in sim.skipped} == {"group_ro.xml", "owner_only.xml"}
    assert sim.tick(START + timedelta(days=1)) == [] and len(list(src.iterdir())) == 2
    assert may_read_and_write(os.stat(src / "owner_only.xml"), 0, ())  # uid 0 reads and writes anything


def test_allocations_read_back(tmp_path: Path) -> None:
    path = SimTurnkey(tmp_path).install().allocate(START, "12345676", "11602", "CD", 100, 199)
    assert path.name.endswith("E0501") and path.parent.relative_to(tmp_path / "Unpack/BAK/E0501").parts == (
        "20261121", "14")
    (allocation,) = parse_e0501(path.read_bytes())
    assert (allocation.ban, allocation.booklets) == ("12345676", 2)
    assert allocation.range.track == "CD" and (allocation.range.begin, allocation.range.end) == (100, 199)
