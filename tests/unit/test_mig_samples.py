"""The official MOF MIG 4.1 samples: parse into our models, render back equal after C14N, validate."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from test_mig_support import (
    OFFICIAL_SAMPLES,
    SPEC,
    c14n,
    needs_spec,
    official,
    sample_id,
    schemas,
    spec_file,
)

from turnkey.mig import code_of, parse, preflight, render
from turnkey.model import Allowance, BlankReport, Cancel, Invoice, Void
from turnkey.money import Amounts
from turnkey.period import TAIPEI, Period

pytestmark = needs_spec
samples = pytest.mark.parametrize("name", OFFICIAL_SAMPLES, ids=[sample_id(n) for n in OFFICIAL_SAMPLES])


@samples
def test_official_sample_renders_back_equal_after_c14n(name: str) -> None:
    source = official(name)
    message = parse(source)
    assert c14n(render(message)) == c14n(source)
    assert parse(render(message)) == message


@samples
def test_official_sample_and_our_rendering_validate(name: str) -> None:
    source = official(name)
    message = parse(source)
    code = sample_id(name)[:5]
    assert code_of(message) == code
    assert schemas().validate(code, source) == []
    assert schemas().validate(code, render(message)) == []


@samples
def test_official_sample_passes_preflight(name: str) -> None:
    message = parse(official(name))
    assert preflight(message, render(message), schemas()) == []


def test_b2b_invoice_values() -> None:
    invoice = parse(official(OFFICIAL_SAMPLES[1]))
    assert isinstance(invoice, Invoice)
    assert invoice.issued_at == datetime(2024, 12, 1, 9, 0, tzinfo=TAIPEI)
    assert invoice.amounts == Amounts(17500, 0, 0, 875, 18375)
    assert (invoice.tax_rate, invoice.discount_amount, invoice.currency) == (
        Decimal("0.05"),
        Decimal(0),
        "TWD",
    )
    assert invoice.buyer.identifier == "90000099" and invoice.buyer.role_remark == "defaultUser"
    assert [(item.sequence, item.amount) for item in invoice.items] == [
        ("001", Decimal(2500)),
        ("002", Decimal(15000)),
    ]
    assert invoice.print_mark and invoice.random_number == "1234" and invoice.buyer_remark == "1"


def test_b2c_carrier_and_donation_values() -> None:
    carrier = parse(official(OFFICIAL_SAMPLES[2]))
    donation = parse(official(OFFICIAL_SAMPLES[3]))
    assert isinstance(carrier, Invoice) and isinstance(donation, Invoice)
    assert (carrier.carrier_type, carrier.carrier_id1, carrier.carrier_id2) == (
        "3J0002",
        "/17MEWYP",
        "/17MEWYP",
    )
    assert not carrier.print_mark and carrier.buyer.is_consumer and carrier.buyer.address == ""
    assert donation.donated and donation.npoban == "8999" and donation.items[0].remark == ""


def test_void_cancel_allowance_and_blank_values() -> None:
    void = parse(official(OFFICIAL_SAMPLES[5]))
    cancel = parse(official(OFFICIAL_SAMPLES[7]))
    allowance = parse(official(OFFICIAL_SAMPLES[9]))
    blank = parse(official(OFFICIAL_SAMPLES[0]))
    assert isinstance(void, Void) and void.at == datetime(2024, 12, 3, 9, 20, 28, tzinfo=TAIPEI)
    assert void.return_tax_document_number == "A0123456789" and void.invoice_date == date(2024, 12, 1)
    assert isinstance(cancel, Cancel) and (cancel.reason, cancel.remark) == ("註銷", "金額錯誤")
    assert isinstance(allowance, Allowance) and (allowance.tax_amount, allowance.total_amount) == (
        1,
        Decimal(19),
    )
    assert (allowance.items[0].amount, allowance.items[0].tax) == (Decimal(19), 1)
    assert allowance.items[0].unit_price == Decimal(20)
    assert isinstance(blank, BlankReport) and blank.period == Period(2023, 8)
    assert blank.ranges == ((1000, 1000), (1100, 1110), (1200, 1249))


SYNTHETIC = (
    "E0402-blank-tracks.xml",
    "F0401-B2B-with-ban.xml",
    "F0401-B2C-donation.xml",
    "F0401-B2C-mobile-carrier.xml",
    "F0401-B2C-print.xml",
    "F0501-void.xml",
    "F0701-cancel.xml",
    "G0401-allowance.xml",
    "G0501-void-allowance.xml",
)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_project_samples_render_back_equal_apart_from_schema_location(name: str) -> None:
    source = spec_file(f"samples/{name}")
    ours = etree.fromstring(render(parse(source)))
    del ours.attrib["{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"]
    assert c14n(etree.tostring(ours)) == c14n(source)


def test_spec_folder_is_beside_the_repository() -> None:
    assert (SPEC / "samples" / "official-mig41").is_dir()
