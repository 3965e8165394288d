"""E0501 allocations, SummaryResult and ProcessResult: lenient, namespace-agnostic, refusing the malformed."""

from __future__ import annotations

from datetime import date

import pytest
from test_mig_support import needs_spec, spec_file

from turnkey.errors import ResultUnreadable
from turnkey.mig import Allocation, parse_e0501, parse_process_result, parse_summary_result
from turnkey.mig.results import MessageInfo, ResultDetail, ResultInfo, ResultInvoice, Routing
from turnkey.numbers import TrackRange
from turnkey.period import Period


def refused(parse: object, xml: bytes) -> tuple[str, str]:
    assert callable(parse)
    with pytest.raises(ResultUnreadable) as caught:
        parse(xml)
    (problem,) = caught.value.problems
    return problem.code, problem.field


# --- E0501 ------------------------------------------------------------------------------------------------


def assign(ban: str = "12345676", begin: str = "00001000", end: str = "00001999", **fields: str) -> str:
    values = {
        "InvoiceType": "07",
        "YearMonth": "11402",
        "InvoiceTrack": "AB",
        "InvoiceBooklet": "20",
        **fields,
    }
    body = "".join(f"<{name}>{value}</{name}>" for name, value in values.items())
    return (
        f'<InvoiceAssignNo xmlns="urn:GEINV:E0501:4.0"><Ban>{ban}</Ban>{body}'
        f"<InvoiceBeginNo>{begin}</InvoiceBeginNo><InvoiceEndNo>{end}</InvoiceEndNo></InvoiceAssignNo>"
    )


def envelope(*items: str) -> bytes:
    pack = (
        f'<InvoicePack messageType="E0501" count="{len(items)}" version="4.0">{"".join(items)}</InvoicePack>'
    )
    start = '<InvoiceEnvelope xmlns="urn:GEINV:InvoiceEnvelope:4.1"><From><PartyId>1</PartyId></From>'
    return f"{start}{pack}</InvoiceEnvelope>".encode()


AB = TrackRange(Period(2025, 2), "07", "AB", 1000, 1999)


@needs_spec
def test_e0501_sample() -> None:
    assert parse_e0501(spec_file("samples/E0501-envelope-inferred.xml")) == [Allocation("12345676", AB, 20)]


def test_e0501_several_items_and_a_bare_document() -> None:
    second = assign(
        "87654322", "00000050", "00000099", InvoiceType="08", InvoiceTrack="CD", InvoiceBooklet="1"
    )
    found = parse_e0501(envelope(assign(), second))
    assert found == [
        Allocation("12345676", AB, 20),
        Allocation("87654322", TrackRange(Period(2025, 2), "08", "CD", 50, 99), 1),
    ]
    assert parse_e0501(assign().encode()) == [Allocation("12345676", AB, 20)]


def test_e0501_without_namespaces_and_with_spaces() -> None:
    xml = assign(" 12345676 ", InvoiceTrack=" AB ").replace(' xmlns="urn:GEINV:E0501:4.0"', "")
    assert parse_e0501(xml.encode()) == [Allocation("12345676", AB, 20)]


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        (b"<InvoiceEnvelope/>", "InvoiceEnvelope"),
        (b"<InvoiceEnvelope", ""),
        (envelope(assign(begin="0001000")), "InvoiceAssignNo[1]/InvoiceBeginNo"),
        (envelope(assign(), assign(YearMonth="11403")), "InvoiceAssignNo[2]/YearMonth"),
        (envelope(assign(begin="00002000")), "InvoiceAssignNo[1]"),
        (envelope(assign(InvoiceType="09")), "InvoiceAssignNo[1]"),
        (envelope(assign(InvoiceBooklet="2.5")), "InvoiceAssignNo[1]/InvoiceBooklet"),
        (envelope(assign().replace("<Ban>12345676</Ban>", "")), "InvoiceAssignNo[1]/Ban"),
    ],
    ids=["empty", "malformed", "begin", "period", "begin-after-end", "type", "booklets", "ban"],
)
def test_e0501_malformed(xml: bytes, field: str) -> None:
    assert refused(parse_e0501, xml) == ("mig.unreadable", field)


# --- SummaryResult ----------------------------------------------------------------------------------------

ID = "4.1-F0401-20250115-130510123-550e8400-e29b-41d4-a716-446655440000"


@needs_spec
def test_summary_sample() -> None:
    summary = parse_summary_result(spec_file("samples/SummaryResult-inferred.xml"))
    (message,) = summary.messages
    day = date(2025, 1, 15)
    assert summary.routing == Routing("12345676", "EXAMPLEROUTING", "0", "0")
    assert message.info == MessageInfo(ID, "F0401", "2", "S", "F0401")
    assert message.info.uuid == "550e8400-e29b-41d4-a716-446655440000"
    assert message.total == ResultDetail(
        2, (ResultInvoice("AB12345678", day), ResultInvoice("AB12345679", day))
    )
    assert message.good == ResultDetail(1, (ResultInvoice("AB12345678", day),))
    assert message.failed == ResultDetail(1, (ResultInvoice("AB12345679", day),))


def summary(result: str, info: str = f"<Info><Id>{ID}</Id><MessageType>F0501</MessageType></Info>") -> bytes:
    return f"""<SummaryResult xmlns="urn:GEINV:SummaryResult:4.0"><DetailList>
      <Message>{info}{result}</Message></DetailList></SummaryResult>""".encode()


def test_summary_in_the_xsd_shape() -> None:
    result = """<Result>
      <Total><Count>1</Count><Invoices><Invocie><ReferenceNumber>AB12345678</ReferenceNumber>
        <InvoiceDate>2025-01-15</InvoiceDate></Invocie></Invoices></Total>
      <Good><Count>1</Count></Good><Failed><Count>0</Count></Failed></Result>"""
    (message,) = parse_summary_result(summary(result)).messages
    assert message.total == ResultDetail(1, (ResultInvoice("AB12345678", date(2025, 1, 15)),))
    assert (message.good, message.failed) == (ResultDetail(1), ResultDetail(0))
    assert message.info.message_type == "F0501" and message.info.size == ""


def test_summary_counts_default_to_the_listed_invoices_and_absent_groups_to_zero() -> None:
    result = """<ResultType><Total><Invoices><Invoice><ReferenceNumber>AB1</ReferenceNumber></Invoice>
      <Invoice><ReferenceNumber>AB2</ReferenceNumber></Invoice></Invoices></Total>
      <Good><Count>2</Count></Good></ResultType>"""
    (message,) = parse_summary_result(summary(result)).messages
    assert message.total.count == 2 and message.total.invoices[1] == ResultInvoice("AB2", None)
    assert message.failed == ResultDetail(0)


def test_summary_without_messages() -> None:
    empty = parse_summary_result(b"<SummaryResult><RoutingInfo/></SummaryResult>")
    assert empty.messages == () and empty.routing == Routing("", "", "", "")


def test_summary_totals_must_add_up() -> None:
    counts = "<Total><Count>3</Count></Total><Good><Count>1</Count></Good><Failed><Count>1</Count></Failed>"
    result = f"<ResultType>{counts}</ResultType>"
    with pytest.raises(ResultUnreadable) as caught:
        parse_summary_result(summary(result))
    (problem,) = caught.value.problems
    assert problem.code == "mig.summary.count"
    assert problem.field == "SummaryResult/DetailList/Message[1]/ResultType"
    assert problem.message == "Total 3 != Good 1 + Failed 1"


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        (b"<ProcessResult/>", "ProcessResult"),
        (b"<SummaryResult><DetailList>", ""),
        (summary("<ResultType/>", info=""), "SummaryResult/DetailList/Message[1]/Info"),
        (summary(""), "SummaryResult/DetailList/Message[1]/Result"),
        (
            summary("<Result><Total><Count>x</Count></Total></Result>"),
            "SummaryResult/DetailList/Message[1]/Result/Total/Count",
        ),
        (
            summary(
                "<Result><Total><Invoice><InvoiceDate>2025-13-01</InvoiceDate></Invoice></Total></Result>"
            ),
            "SummaryResult/DetailList/Message[1]/Result/Total/Invoice[1]/InvoiceDate",
        ),
    ],
    ids=["wrong-root", "malformed", "no-info", "no-result", "bad-count", "bad-date"],
)
def test_summary_malformed(xml: bytes, field: str) -> None:
    assert refused(parse_summary_result, xml) == ("mig.unreadable", field)


def test_message_info_uuid_of_an_unexpected_id() -> None:
    assert MessageInfo("no-uuid-here", "F0401").uuid == ""


# --- ProcessResult ----------------------------------------------------------------------------------------


@needs_spec
def test_process_result_samples() -> None:
    failed = parse_process_result(spec_file("samples/ProcessResult-per-xsd.xml"))
    passed = parse_process_result(spec_file("peer-samples/tw-einvoice-rs/ProcessResult_synthetic_4.1.xml"))
    assert failed.results == (ResultInfo("E0107", "發票年度字軌不符", ("AB12345679",)),)
    assert not failed.ok and passed.ok
    assert failed.info == MessageInfo(ID, "F0401", "1", "S", "F0401")
    assert passed.routing == Routing("12345678", "FROM", "PLATFORM", "TO")
    assert passed.results == (ResultInfo("0000"),)


def process(result: str) -> bytes:
    return f"""<ProcessResult><MessageInfo><Id>x</Id></MessageInfo>{result}</ProcessResult>""".encode()


def test_process_result_with_several_infos() -> None:
    xml = process("""<Result><Info><Code>00000</Code></Info>
      <Info><Code>E0201</Code><Parameter0>a</Parameter0><Parameter3>d</Parameter3></Info></Result>""")
    result = parse_process_result(xml)
    assert result.results == (ResultInfo("00000"), ResultInfo("E0201", "", ("a", "", "", "d")))  # by position
    assert [info.ok for info in result.results] == [True, False] and not result.ok


def test_process_result_as_turnkey_3_2_0_reads_it() -> None:
    """domain.md §5.5a: ``No. <n>`` names the document's position; Parameter0 its number, Parameter1 its date."""
    xml = process("""<Result><Info><Code>E0107</Code><Description>No. 2 發票年度字軌不符</Description>
      <Parameter0>AB00000002</Parameter0><Parameter1>20261121</Parameter1></Info>
      <Info><Code>E0108</Code><Parameter1>20261121</Parameter1></Info></Result>""")
    first, second = parse_process_result(xml).results
    assert first == ResultInfo("E0107", "No. 2 發票年度字軌不符", ("AB00000002", "20261121"))
    assert second.parameters == ("", "20261121")  # Parameter0 absent: the date keeps its place


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        (b"<SummaryResult/>", "SummaryResult"),
        (process(""), "ProcessResult/Result"),
        (process("<Result/>"), "ProcessResult/Result"),
        (
            process("<Result><Info><Description>x</Description></Info></Result>"),
            "ProcessResult/Result/Info[1]/Code",
        ),
        (
            b"<ProcessResult><Result><Info><Code>0</Code></Info></Result></ProcessResult>",
            "ProcessResult/MessageInfo",
        ),
    ],
    ids=["wrong-root", "no-result", "no-info", "no-code", "no-message-info"],
)
def test_process_result_malformed(xml: bytes, field: str) -> None:
    assert refused(parse_process_result, xml) == ("mig.unreadable", field)


def test_result_info_ok_needs_a_code() -> None:
    assert not ResultInfo("").ok and ResultInfo("0000").ok and not ResultInfo("E0001").ok


def test_summary_documents_without_a_date() -> None:
    """An E0402 has no date of its own: Turnkey lists it by INVOICE_IDENTIFIER with an empty InvoiceDate. That
    document has no date; the whole SummaryResult (other messages' verdicts too) must not be refused for it."""
    result = """<ResultType><Total><Count>2</Count><Invoices>
      <Invoice><ReferenceNumber>12345676-AB07</ReferenceNumber><InvoiceDate></InvoiceDate></Invoice>
      <Invoice><ReferenceNumber>12345676-AC07</ReferenceNumber><InvoiceDate> </InvoiceDate></Invoice>
      </Invoices></Total><Good><Count>2</Count></Good></ResultType>"""
    (message,) = parse_summary_result(summary(result)).messages
    assert message.total.invoices == (ResultInvoice("12345676-AB07", None), ResultInvoice("12345676-AC07", None))
