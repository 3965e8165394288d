"""The invoice document -> InvoiceDraft: every rule of turnkey.validate with a failing and a passing case."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_support import (
    VALID_BAN,
    Mutation,
    base_document,
    both,
    drop,
    mutated,
    put,
    unchanged,
)
from test_mig_support import SELLER

import turnkey.validate
from turnkey.errors import InvoiceInvalid, Problem
from turnkey.model import CONSUMER_ID, DEFAULT_CONSUMER_NAME, Buyer, Carrier, Line, Party
from turnkey.money import SPECIAL_RATES, Amounts
from turnkey.period import TAIPEI
from turnkey.validate import build_invoice, buyer_party, draft_document, parse_document


def problems_of(doc: Any) -> list[tuple[str, str]]:
    """(code, field) of every problem, sorted; [] when the document is valid."""
    try:
        parse_document(doc)
    except InvoiceInvalid as error:
        return sorted((p.code, p.field) for p in error.problems)
    return []


ITEM = base_document()["items"][0]
MOBILE = {"type": "3J0002", "id": "/ABC1234"}
CITIZEN = {"type": "CQ0001", "id": "AB12345678901234"}
MEMBER = {"type": "EJ0113", "id": "member-0001"}
DONATION = {"love_code": "168001"}
BUSINESS = {"ban": VALID_BAN, "name": "買方公司"}
MINIMAL_ITEM = {"description": "x", "quantity": 1, "unit_price": 1}
RIGHT_AMOUNTS = {"sales": 130, "free_tax_sales": 0, "zero_tax_sales": 0, "tax": 0, "total": 130}
ZERO_RATED = both(put("items[0].tax_type", "2"), put("zero_tax_rate_reason", "71"),
                  put("customs_clearance_mark", "1"))


def items(*changes: dict[str, Any]) -> Mutation:
    """Replace the items by copies of the base item with ``changes`` applied."""
    return put("items", [{**ITEM, **change} for change in changes])


def case(description: str, mutation: Mutation, *expected: tuple[str, str]) -> Any:
    return pytest.param(mutation, list(expected), id=description)


def only(code: str, field: str) -> tuple[str, str]:
    return (code, field)


RULES = [
    case("base document is valid", unchanged),
    case("minimal document is valid", lambda d: (d.clear(), d.update(order_id="A", items=[MINIMAL_ITEM]))),
    # unknown fields, everywhere
    case("unknown top-level field", put("colour", "red"), only("document.unknown_field", "colour")),
    case("unknown buyer field", put("buyer", {**BUSINESS, "fax": "1"}), only("buyer.unknown_field", "buyer.fax")),
    case("unknown carrier field", put("carrier", {**MOBILE, "pin": "1"}),
         only("carrier.unknown_field", "carrier.pin")),
    case("unknown donation field", put("donation", {**DONATION, "name": "x"}),
         only("donation.unknown_field", "donation.name")),
    case("unknown item field", put("items[0].sku", "A1"), only("items.unknown_field", "items[0].sku")),
    case("unknown field of the second item", items({}, {"sku": "A1"}), only("items.unknown_field", "items[1].sku")),
    case("unknown amounts field", put("amounts", {**RIGHT_AMOUNTS, "discount": 0}),
         only("amounts.unknown_field", "amounts.discount")),
    # objects of the wrong type
    case("buyer not an object", put("buyer", "53538851"), only("buyer.type", "buyer")),
    case("carrier not an object", put("carrier", ["3J0002"]), only("carrier.type", "carrier")),
    case("donation not an object", put("donation", "168001"), only("donation.type", "donation")),
    case("amounts not an object", put("amounts", [130]), only("amounts.type", "amounts")),
    case("item not an object", put("items", ["拿鐵"]), only("items.type", "items[0]")),
    case("null objects are absent", both(put("buyer", None), put("carrier", None), put("donation", None),
                                          put("amounts", None))),
    # numbers: exact decimals only
    case("decimal strings are numbers", items({"quantity": "2", "unit_price": "65.0", "amount": "130"})),
    case("boolean is not a quantity", put("items[0].quantity", True), only("items.quantity.type", "items[0].quantity")),
    case("float is not a quantity", put("items[0].quantity", 2.0), only("items.quantity.type", "items[0].quantity")),
    case("float is not a price", put("items[0].unit_price", 65.0),
         only("items.unit_price.type", "items[0].unit_price")),
    case("float is not an amount", put("items[0].amount", 130.0), only("items.amount.type", "items[0].amount")),
    case("exponent refused", put("items[0].unit_price", "6.5e1"),
         only("items.unit_price.format", "items[0].unit_price")),
    case("word as a quantity", put("items[0].quantity", "two"), only("items.quantity.format", "items[0].quantity")),
    case("NaN refused", put("items[0].unit_price", "NaN"), only("items.unit_price.format", "items[0].unit_price")),
    case("quantity required", drop("items[0].quantity"), only("items.quantity.required", "items[0].quantity")),
    case("price required", drop("items[0].unit_price"), only("items.unit_price.required", "items[0].unit_price")),
    case("8 decimal places refused", put("items[0].unit_price", "65.00000001"),
         only("items.unit_price.places", "items[0].unit_price")),
    case("7 decimal places accepted", items({"quantity": 3, "unit_price": "0.3333333", "amount": "0.9999999"})),
    case("amount rounded to whole NT$ accepted", items({"quantity": 3, "unit_price": "0.3333333", "amount": 1})),
    case("amount omitted is quantity x price", drop("items[0].amount")),
    case("amount mismatch", put("items[0].amount", 131), only("items.amount.mismatch", "items[0].amount")),
    case("amount with more than 7 places must be given", items({"quantity": "0.1234567", "unit_price": "0.5",
                                                                 "amount": None}, {}),
         only("items.amount.required", "items[0].amount")),
    case("14 integer digits refused", put("items[0].unit_price", "10000000000000"),
         only("items.unit_price.digits", "items[0].unit_price")),
    case("a product beyond 13 digits is refused, not a crash", items({"quantity": "1000000000000",
                                                                       "unit_price": "1000000000000",
                                                                       "amount": None}),
         only("items.amount.digits", "items[0].amount")),
    case("huge number with 8 places is refused, not a crash", put("items[0].unit_price", "1" * 30 + ".12345678"),
         only("items.unit_price.digits", "items[0].unit_price")),
    case("negative quantity and price allowed (discount line)", items({}, {"description": "折扣", "quantity": 1,
                                                                       "unit_price": -30, "amount": -30})),
    # full-width digits are refused everywhere
    case("full-width quantity", put("items[0].quantity", "１"), only("items.quantity.format", "items[0].quantity")),
    case("full-width price", put("items[0].unit_price", "６５"),
         only("items.unit_price.format", "items[0].unit_price")),
    case("full-width BAN", put("buyer", {"ban": "５３５３８８５１"}), only("buyer.ban.format", "buyer.ban")),
    case("full-width love code", put("donation", {"love_code": "１６８００１"}),
         only("donation.love_code.format", "donation.love_code")),
    case("full-width issued_at", put("issued_at", "２０２６-11-21T14:03:00+08:00"),
         only("issued_at.format", "issued_at")),
    case("full-width amount total", put("amounts", {"total": "１３０"}), only("amounts.total.format", "amounts.total")),
    case("full-width mobile barcode", put("carrier", {"type": "3J0002", "id": "/ＡBC1234"}),
         only("carrier.id.format", "carrier.id")),
    case("full-width tax rate", put("tax_rate", "０.05"), only("tax_rate.format", "tax_rate")),
    # order_id: 1-40 printable ASCII, no edge spaces
    case("order_id of 40 characters", put("order_id", "A" * 40)),
    case("order_id with inner spaces", put("order_id", "POS 1 / 0001")),
    case("order_id of 41 characters", put("order_id", "A" * 41), only("order_id.format", "order_id")),
    case("order_id missing", drop("order_id"), only("order_id.required", "order_id")),
    case("order_id empty", put("order_id", ""), only("order_id.required", "order_id")),
    case("order_id with a leading space", put("order_id", " A1"), only("order_id.format", "order_id")),
    case("order_id with a trailing space", put("order_id", "A1 "), only("order_id.format", "order_id")),
    case("order_id not ASCII", put("order_id", "訂單1"), only("order_id.format", "order_id")),
    case("order_id with a control character", put("order_id", "A\x01B"), only("order_id.format", "order_id")),
    case("order_id not a string", put("order_id", 1), only("order_id.format", "order_id")),
    # text lengths (MIG) and characters XML cannot carry
    case("description of 500", put("items[0].description", "茶" * 500)),
    case("description of 501", put("items[0].description", "茶" * 501),
         only("items.description.length", "items[0].description")),
    case("description missing", drop("items[0].description"),
         only("items.description.required", "items[0].description")),
    case("description empty", put("items[0].description", ""),
         only("items.description.required", "items[0].description")),
    case("description not a string", put("items[0].description", 5),
         only("items.description.type", "items[0].description")),
    case("unit of 6", put("items[0].unit", "公斤公斤公斤")),
    case("unit of 7", put("items[0].unit", "kg" * 3 + "s"), only("items.unit.length", "items[0].unit")),
    case("item remark of 120", put("items[0].remark", "r" * 120)),
    case("item remark of 121", put("items[0].remark", "r" * 121), only("items.remark.length", "items[0].remark")),
    case("remark of 200", put("remark", "備" * 200)),
    case("remark of 201", put("remark", "備" * 201), only("remark.length", "remark")),
    case("remark not a string", put("remark", ["x"]), only("remark.type", "remark")),
    case("tab and newline are fine", put("items[0].description", "拿鐵\t大杯\r\n少冰")),
    case("NUL in a description", put("items[0].description", "拿\x00鐵"),
         only("items.description.characters", "items[0].description")),
    case("escape in the remark", put("remark", "\x1b[1m"), only("remark.characters", "remark")),
    case("lone surrogate in an item remark", put("items[0].remark", "\ud800"),
         only("items.remark.characters", "items[0].remark")),
    case("U+FFFF in a buyer name", put("buyer", {"name": "王\uffff"}), only("buyer.name.characters", "buyer.name")),
    case("buyer texts at their limits", put("buyer", {**BUSINESS, "name": "名" * 60, "address": "址" * 100,
                                                      "email": "a@" + "b" * 398, "phone": "0" * 26})),
    case("buyer name of 61", put("buyer", {**BUSINESS, "name": "名" * 61}), only("buyer.name.length", "buyer.name")),
    case("buyer address of 101", put("buyer", {**BUSINESS, "address": "址" * 101}),
         only("buyer.address.length", "buyer.address")),
    case("buyer email of 401", put("buyer", {**BUSINESS, "email": "a@" + "b" * 399}),
         only("buyer.email.length", "buyer.email")),
    case("buyer email without @", put("buyer", {**BUSINESS, "email": "a.b.tw"}),
         only("buyer.email.format", "buyer.email")),
    case("buyer phone of 27", put("buyer", {**BUSINESS, "phone": "0" * 27}),
         only("buyer.phone.length", "buyer.phone")),
    case("buyer name not a string", put("buyer", {"name": 0}), only("buyer.name.type", "buyer.name")),
    # issue 15 item 3: POS software sends 00000000 for "no 統編"; its digit sum 0 passes the checksum
    case("buyer ban 00000000", put("buyer", {**BUSINESS, "ban": "00000000"}), only("buyer.ban.consumer", "buyer.ban")),
    # items: 1..9999
    case("items missing", drop("items"), only("items.required", "items")),
    case("items empty", put("items", []), only("items.required", "items")),
    case("items not a list", put("items", ITEM), only("items.required", "items")),
    case("9999 items", lambda d: d.update(items=[ITEM] * 9999)),
    case("10000 items", lambda d: d.update(items=[ITEM] * 10000), only("items.count", "items")),
    case("zero quantity", items({"quantity": 0, "amount": 0}, {}), only("items.quantity.zero", "items[0].quantity")),
    case("zero quantity as 0.000", items({}, {"quantity": "0.000", "amount": "0"}),
         only("items.quantity.zero", "items[1].quantity")),
    # tax types
    case("item tax type defaults to 1", drop("items[0].tax_type")),
    case("item tax type 9", put("items[0].tax_type", "9"), only("items.tax_type.mixed", "items[0].tax_type")),
    case("item tax type 5", put("items[0].tax_type", "5"), only("items.tax_type.invalid", "items[0].tax_type")),
    case("item tax type as a number", put("items[0].tax_type", 1),
         only("items.tax_type.invalid", "items[0].tax_type")),
    case("invoice tax type matching the items", put("tax_type", "1")),
    case("invoice tax type mismatch", put("tax_type", "3"), only("tax_type.mismatch", "tax_type")),
    case("invoice tax type 9 needs mixed items", put("tax_type", "9"), only("tax_type.mismatch", "tax_type")),
    case("invoice tax type invalid", put("tax_type", "7"), only("tax_type.invalid", "tax_type")),
    case("invoice tax type null is derived", put("tax_type", None)),
    case("mixed items with tax type 9", both(items({}, {"tax_type": "3"}), put("tax_type", "9"))),
    case("invoice tax type is the items' default", both(put("tax_type", "3"), drop("items[0].tax_type"))),
    case("invoice tax type 9 is no item default", both(put("tax_type", "9"), drop("items[0].tax_type")),
         only("tax_type.mismatch", "tax_type")),
    # type 07 / 08 and the tax rate
    case("standard rate given", put("tax_rate", "0.05")),
    case("standard rate with a trailing zero", put("tax_rate", "0.050")),
    case("wrong rate for taxable", put("tax_rate", "0.1"), only("tax_rate.invalid", "tax_rate")),
    case("rate with 3 places", put("tax_rate", "0.055"), only("tax_rate.places", "tax_rate")),
    case("rate as a float", put("tax_rate", 0.05), only("tax_rate.type", "tax_rate")),
    case("exempt rate is 0", both(put("items[0].tax_type", "3"), put("tax_rate", 0))),
    case("exempt rate not 0", both(put("items[0].tax_type", "3"), put("tax_rate", "0.05")),
         only("tax_rate.invalid", "tax_rate")),
    case("special tax on 08", both(put("invoice_type", "08"), put("items[0].tax_type", "4"),
                                   put("tax_rate", "0.15"))),
    case("special tax on 08 without rate", both(put("invoice_type", "08"), put("items[0].tax_type", "4")),
         only("tax_rate.required", "tax_rate")),
    case("special tax on 08 with rate 0.01", both(put("invoice_type", "08"), put("items[0].tax_type", "4"),
                                                  put("tax_rate", "0.01")),
         only("tax_rate.invalid", "tax_rate")),
    case("08 with ordinary items", put("invoice_type", "08"), only("invoice_type.special", "invoice_type")),
    # issue 15 item 10: an 08 invoice carries special-tax (4) lines only; a tax-free or zero-rated line is refused
    # on the line (E0225/E0226), with no second complaint about the invoice's type or its rate
    case("08 with a tax-free item", both(put("invoice_type", "08"), items({"tax_type": "4"}, {"tax_type": "3"}),
                                         put("tax_rate", "0.15")),
         only("items.tax_type.special_invoice", "items[1].tax_type")),
    case("08 with only tax-free items", both(put("invoice_type", "08"), put("items[0].tax_type", "3")),
         only("items.tax_type.special_invoice", "items[0].tax_type")),
    case("08 with a zero-rated item", both(put("invoice_type", "08"), items({"tax_type": "4"}, {"tax_type": "2"}),
                                           put("tax_rate", "0.15"), put("zero_tax_rate_reason", "71"),
                                           put("customs_clearance_mark", "1")),
         only("items.tax_type.special_invoice", "items[1].tax_type")),
    case("08 with a taxable and a tax-free item", both(put("invoice_type", "08"), items({}, {"tax_type": "3"})),
         only("items.tax_type.special_invoice", "items[1].tax_type"), only("invoice_type.special", "invoice_type")),
    case("08 without items", both(put("invoice_type", "08"), drop("items")), only("items.required", "items")),
    # issue 15 item 10: mixed tax type 9 only on consumer invoices
    case("mixed items for a business buyer", both(items({}, {"tax_type": "3"}), put("buyer", BUSINESS)),
         only("tax_type.business_buyer", "tax_type")),
    case("mixed items for a named consumer", both(items({}, {"tax_type": "3"}), put("buyer", {"name": "王小明"}))),
    case("08 with mixed items", both(put("invoice_type", "08"), items({"tax_type": "4"}, {})),
         only("invoice_type.special", "invoice_type")),
    case("07 with special-tax items", both(put("items[0].tax_type", "4"), put("tax_rate", "0.15")),
         only("invoice_type.special", "invoice_type")),
    case("07 with one special-tax item among others", items({}, {"tax_type": "4"}),
         only("invoice_type.special", "invoice_type")),
    case("invoice type 09", put("invoice_type", "09"), only("invoice_type.invalid", "invoice_type")),
    case("invoice type as a number", put("invoice_type", 7), only("invoice_type.invalid", "invoice_type")),
    case("invoice type null is 07", put("invoice_type", None)),
    # zero-rated sales: reason and customs mark
    case("zero-rated with reason and mark", ZERO_RATED),
    case("zero-rated by the invoice tax type", both(ZERO_RATED, drop("items[0].tax_type"), put("tax_type", "2"))),
    case("zero-rated without reason and mark", put("items[0].tax_type", "2"),
         only("zero_tax_rate_reason.required", "zero_tax_rate_reason"),
         only("customs_clearance_mark.required", "customs_clearance_mark")),
    case("zero-rated without mark", both(ZERO_RATED, drop("customs_clearance_mark")),
         only("customs_clearance_mark.required", "customs_clearance_mark")),
    case("zero-rated with reason 70", both(ZERO_RATED, put("zero_tax_rate_reason", "70")),
         only("zero_tax_rate_reason.invalid", "zero_tax_rate_reason"),
         only("zero_tax_rate_reason.required", "zero_tax_rate_reason")),
    case("zero-rated with reason 79", both(ZERO_RATED, put("zero_tax_rate_reason", "79"))),
    case("mixed with a zero-rated item", both(items({}, {"tax_type": "2"}), put("zero_tax_rate_reason", "72"),
                                              put("customs_clearance_mark", "2"))),
    case("reason on taxable sales", put("zero_tax_rate_reason", "71"),
         only("zero_tax_rate_reason.not_allowed", "zero_tax_rate_reason")),
    case("customs mark on taxable sales", put("customs_clearance_mark", "1"),
         only("customs_clearance_mark.not_allowed", "customs_clearance_mark")),
    case("customs mark 3", put("customs_clearance_mark", "3"),
         only("customs_clearance_mark.invalid", "customs_clearance_mark")),
    # amounts
    case("amounts stated right", put("amounts", RIGHT_AMOUNTS)),
    case("amounts stated in part", put("amounts", {"total": "130"})),
    case("amounts as decimal strings with .0", put("amounts", {"sales": "130.0", "total": 130})),
    case("amounts total mismatch", put("amounts", {**RIGHT_AMOUNTS, "total": 131}),
         only("amounts.total.mismatch", "amounts.total")),
    case("B2C tax must be 0", put("amounts", {**RIGHT_AMOUNTS, "tax": 6, "total": 136}),
         only("amounts.tax.mismatch", "amounts.tax"), only("amounts.total.mismatch", "amounts.total")),
    case("amounts fraction refused", put("amounts", {"total": "130.5"}), only("amounts.total.places", "amounts.total")),
    case("amounts boolean refused", put("amounts", {"sales": True}), only("amounts.sales.type", "amounts.sales")),
    case("amounts null field", put("amounts", {"sales": None}), only("amounts.sales.required", "amounts.sales")),
    case("negative amounts", items({"quantity": -2, "amount": -130}),
         only("amounts.sales.negative", "amounts.sales"), only("amounts.total.negative", "amounts.total")),
    case("negative exempt amount", items({}, {"quantity": -1, "unit_price": 10, "amount": -10, "tax_type": "3"}),
         only("amounts.free_tax_sales.negative", "amounts.free_tax_sales")),
    case("zero total", items({"unit_price": 0, "amount": 0}), only("amounts.total.zero", "amounts.total")),
    case("discount to zero", items({}, {"quantity": 1, "unit_price": -130, "amount": -130}),
         only("amounts.total.zero", "amounts.total")),
    # buyers
    case("business buyer", put("buyer", BUSINESS)),
    case("business buyer with only a BAN", put("buyer", {"ban": VALID_BAN})),
    case("business buyer with B2B amounts", both(put("buyer", BUSINESS), put("amounts", {
        "sales": 130, "free_tax_sales": 0, "zero_tax_sales": 0, "tax": 7, "total": 137}))),
    case("business buyer with B2C amounts", both(put("buyer", BUSINESS), put("amounts", RIGHT_AMOUNTS)),
         only("amounts.tax.mismatch", "amounts.tax"), only("amounts.total.mismatch", "amounts.total")),
    case("BAN checksum", put("buyer", {"ban": "53538852"}), only("buyer.ban.checksum", "buyer.ban")),
    case("MOF test BAN 90000099 fails the checksum", put("buyer", {"ban": "90000099"}),
         only("buyer.ban.checksum", "buyer.ban")),
    case("BAN of 7 digits", put("buyer", {"ban": "5353885"}), only("buyer.ban.format", "buyer.ban")),
    case("BAN of 10 digits", put("buyer", {"ban": CONSUMER_ID}), only("buyer.ban.format", "buyer.ban")),
    case("BAN as a number", put("buyer", {"ban": 53538851}), only("buyer.ban.format", "buyer.ban")),
    case("named consumer", put("buyer", {"name": "王小明", "email": "a@b.tw"})),
    case("empty buyer object is a consumer", put("buyer", {})),
    *[case(f"consumer name {name!r}", put("buyer", {"name": name}), only("buyer.name.placeholder", "buyer.name"))
      for name in ("0", "00", "000", "0000")],
    case("consumer name '00000'", put("buyer", {"name": "00000"})),
    case("business name '0'", put("buyer", {"ban": VALID_BAN, "name": "0"})),
    # carriers (print left to its default: false on a valid carrier)
    case("mobile barcode", put("carrier", MOBILE)),
    case("mobile barcode with + - .", put("carrier", {"type": "3J0002", "id": "/A+-.123"})),
    case("mobile barcode in lower case", put("carrier", {"type": "3J0002", "id": "/abc1234"}),
         only("carrier.id.format", "carrier.id")),
    case("mobile barcode of 7 characters", put("carrier", {"type": "3J0002", "id": "/ABC123"}),
         only("carrier.id.format", "carrier.id")),
    case("mobile barcode without /", put("carrier", {"type": "3J0002", "id": "ABC12345"}),
         only("carrier.id.format", "carrier.id")),
    case("mobile barcode with a space", put("carrier", {"type": "3J0002", "id": "/ABC1234 "}),
         only("carrier.id.format", "carrier.id")),
    case("citizen certificate", put("carrier", CITIZEN)),
    case("citizen certificate of 15", put("carrier", {"type": "CQ0001", "id": "AB1234567890123"}),
         only("carrier.id.format", "carrier.id")),
    case("citizen certificate in lower case", put("carrier", {"type": "CQ0001", "id": "ab12345678901234"}),
         only("carrier.id.format", "carrier.id")),
    case("member carrier", put("carrier", MEMBER)),
    case("member carrier id of 400", put("carrier", {"type": "EJ0113", "id": "m" * 400})),
    case("member carrier id of 401", put("carrier", {"type": "EJ0113", "id": "m" * 401}),
         only("carrier.id.length", "carrier.id")),
    case("member carrier id with a leading space", put("carrier", {"type": "EJ0113", "id": " m1"}),
         only("carrier.id.spaces", "carrier.id")),
    case("member carrier id with a trailing full-width space", put("carrier", {"type": "EJ0113", "id": "m1\u3000"}),
         only("carrier.id.spaces", "carrier.id")),
    case("member carrier id with a control character", put("carrier", {"type": "EJ0113", "id": "m\x011"}),
         only("carrier.id.characters", "carrier.id")),
    case("carrier type in lower case", put("carrier", {"type": "3j0002", "id": "/ABC1234"}),
         only("carrier.type.format", "carrier.type")),
    case("carrier type of 5", put("carrier", {"type": "3J002", "id": "/ABC1234"}),
         only("carrier.type.format", "carrier.type")),
    case("carrier type of 7", put("carrier", {"type": "3J00022", "id": "/ABC1234"}),
         only("carrier.type.length", "carrier.type"), only("carrier.type.format", "carrier.type")),
    case("carrier type missing", put("carrier", {"id": "/ABC1234"}), only("carrier.type.required", "carrier.type")),
    case("carrier id missing", put("carrier", {"type": "3J0002"}), only("carrier.id.required", "carrier.id")),
    case("carrier id empty", put("carrier", {"type": "3J0002", "id": ""}), only("carrier.id.required", "carrier.id")),
    case("carrier id not a string", put("carrier", {"type": "3J0002", "id": 1234567}),
         only("carrier.id.type", "carrier.id")),
    # donation
    *[case(f"love code {code}", put("donation", {"love_code": code})) for code in ("123", "168001", "1234567")],
    *[case(f"love code {code!r}", put("donation", {"love_code": code}),
           only("donation.love_code.format", "donation.love_code"))
      for code in ("12", "12345678", "12a4", " 123", 168001)],
    case("love code missing", put("donation", {}), only("donation.love_code.format", "donation.love_code")),
    # print flag
    case("print not a boolean", put("print", "yes"), only("print.type", "print")),
    case("print as 1", put("print", 1), only("print.type", "print")),
    # issued_at
    case("issued_at absent", drop("issued_at")),
    case("issued_at null", put("issued_at", None)),
    case("issued_at in UTC", put("issued_at", "2026-11-21T06:03:00Z")),
    case("issued_at with microseconds", put("issued_at", "2026-11-21T14:03:00.123456+08:00")),
    case("issued_at without offset", put("issued_at", "2026-11-21T14:03:00"), only("issued_at.timezone", "issued_at")),
    case("issued_at a date only", put("issued_at", "2026-11-21"), only("issued_at.timezone", "issued_at")),
    case("issued_at in another format", put("issued_at", "21/11/2026 14:03"), only("issued_at.format", "issued_at")),
    case("issued_at month 13", put("issued_at", "2026-13-01T00:00:00+08:00"), only("issued_at.format", "issued_at")),
    case("issued_at as a number", put("issued_at", 1795759380), only("issued_at.format", "issued_at")),
    case("issued_at before ROC year 1", put("issued_at", "1911-12-31T23:59:59+08:00"),
         only("issued_at.range", "issued_at")),
    case("issued_at overflowing in Taipei time is refused, not a crash", put("issued_at", "0001-01-01T00:00:00+14:00"),
         only("issued_at.range", "issued_at")),
    case("issued_at far in the future", put("issued_at", "9999-12-31T23:59:59-10:00"),
         only("issued_at.range", "issued_at")),
    # several problems at once
    case("all problems at once", both(put("order_id", ""), put("items[0].quantity", "x"), put("remark", 1)),
         only("order_id.required", "order_id"), only("items.quantity.format", "items[0].quantity"),
         only("remark.type", "remark")),
]


@pytest.mark.parametrize(("mutation", "expected"), RULES)
def test_rule(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert problems_of(mutated(mutation)) == sorted(expected)


def test_every_rule_of_validate_has_a_failing_case() -> None:
    """Guards the tables: each ``found.add(field, "rule", ...)`` in the module is the rule of some failing row."""
    source = Path(turnkey.validate.__file__).read_text(encoding="utf-8")
    rules = set(re.findall(r'found\.add\([^,]+, "(\w+)"', source))
    seen = {code.rsplit(".", 1)[1] for row in RULES + CONFLICTS for code, _ in row.values[1]}
    assert len(rules) > 20
    assert rules - seen == set()


def test_not_an_object() -> None:
    with pytest.raises(InvoiceInvalid) as caught:
        parse_document(["order_id"])
    assert caught.value.problems == (Problem("document.type", "", "the invoice document must be a JSON object"),)


def test_error_lists_every_problem_in_its_message() -> None:
    with pytest.raises(InvoiceInvalid) as caught:
        parse_document(mutated(put("order_id", ""), put("remark", 1)))
    text = str(caught.value)
    assert "order_id.required: order_id is required" in text
    assert "remark.type: remark must be a string" in text
    assert all(p.message for p in caught.value.problems)


def test_amount_mismatch_message_names_the_expected_value() -> None:
    with pytest.raises(InvoiceInvalid) as caught:
        parse_document(mutated(put("amounts", {"total": 132}), put("items[0].amount", "131")))
    messages = {p.field: p.message for p in caught.value.problems}
    assert "= 130" in messages["items[0].amount"]
    assert "must be 131" in messages["amounts.total"]


# --- the print / carrier / donation / buyer matrix (domain.md §7.5) -----------------------------------------

BUYERS = {"anonymous consumer": None, "named consumer": {"name": "王小明"}, "business": BUSINESS}
CARRIERS = {"no carrier": None, "mobile barcode": MOBILE, "citizen certificate": CITIZEN, "member carrier": MEMBER}
# domain.md §7.5, one row per line: (business buyer, carrier, donated, printed)
ALLOWED = {
    (False, "no carrier", False, True),  # consumer, wants paper
    (False, "mobile barcode", False, False),  # consumer, mobile barcode
    (False, "citizen certificate", False, False),  # consumer, citizen certificate
    (False, "member carrier", False, False),  # consumer, member carrier
    (False, "no carrier", True, False),  # donation
    (True, "no carrier", False, True),  # business buyer (格式 25)
    (True, "mobile barcode", False, True),  # business buyer on a mobile barcode
}


def scenario(buyer: str, carrier: str, donated: bool, printed: bool | None) -> dict[str, Any]:
    doc = base_document()
    doc.update(buyer=BUYERS[buyer], carrier=CARRIERS[carrier], donation=DONATION if donated else None)
    if printed is not None:
        doc["print"] = printed
    return doc


MATRIX = list(itertools.product(BUYERS, CARRIERS, (False, True), (False, True)))


@pytest.mark.parametrize(("buyer", "carrier", "donated", "printed"), MATRIX)
def test_matrix(buyer: str, carrier: str, donated: bool, printed: bool) -> None:
    """Every combination is valid exactly when it is a row of the table."""
    allowed = (buyer == "business", carrier, donated, printed) in ALLOWED
    assert (problems_of(scenario(buyer, carrier, donated, printed)) == []) is allowed


@pytest.mark.parametrize(("buyer", "carrier", "donated"), list(itertools.product(BUYERS, CARRIERS, (False, True))))
def test_matrix_print_default(buyer: str, carrier: str, donated: bool) -> None:
    """Without ``print`` the row's own choice is taken: printed for businesses and plain consumers."""
    draft_rows = [row for row in ALLOWED if row[:3] == (buyer == "business", carrier, donated)]
    problems = problems_of(scenario(buyer, carrier, donated, None))
    if draft_rows:
        assert problems == []
        assert parse_document(scenario(buyer, carrier, donated, None)).print_proof is draft_rows[0][3]
    else:
        assert problems != []


CONFLICTS = [
    case("donated and on a carrier", lambda d: d.update(donation=DONATION, carrier=MOBILE, print=False),
         only("donation.carrier", "donation")),
    case("donated to a business, printed", lambda d: d.update(donation=DONATION, buyer=BUSINESS, print=True),
         only("donation.business_buyer", "donation"), only("print.donated", "print")),
    case("donated to a business, not printed", lambda d: d.update(donation=DONATION, buyer=BUSINESS, print=False),
         only("donation.business_buyer", "donation"), only("print.business_buyer", "print")),
    case("donated and printed", lambda d: d.update(donation=DONATION, print=True), only("print.donated", "print")),
    case("business not printed", lambda d: d.update(buyer=BUSINESS, print=False),
         only("print.business_buyer", "print"), only("print.required", "print")),
    case("business on a citizen certificate", lambda d: d.update(buyer=BUSINESS, carrier=CITIZEN),
         only("carrier.type.business_buyer", "carrier.type")),
    case("business on a member carrier", lambda d: d.update(buyer=BUSINESS, carrier=MEMBER, print=True),
         only("carrier.type.business_buyer", "carrier.type")),
    case("consumer on a carrier, printed", lambda d: d.update(carrier=MOBILE, print=True),
         only("print.carrier", "print")),
    case("named consumer on a carrier, printed", lambda d: d.update(buyer={"name": "王"}, carrier=CITIZEN, print=True),
         only("print.carrier", "print")),
    case("consumer neither printed, on a carrier nor donated", put("print", False), only("print.required", "print")),
]


@pytest.mark.parametrize(("mutation", "expected"), CONFLICTS)
def test_matrix_conflict(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert problems_of(mutated(mutation)) == sorted(expected)


# --- the draft ----------------------------------------------------------------------------------------------

def test_base_draft() -> None:
    draft = parse_document(base_document())
    assert draft.order_id == "POS1-20261121-0001"
    assert draft.issued_at == datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)
    assert draft.issued_at.utcoffset() == timedelta(hours=8)
    assert (draft.invoice_type, draft.tax_type, draft.tax_rate) == ("07", "1", Decimal("0.05"))
    assert (draft.buyer, draft.carrier, draft.love_code, draft.print_proof, draft.business) == (
        None, None, None, True, False)
    assert draft.items == (Line("001", "拿鐵", Decimal(2), Decimal(65), Decimal(130), "1", "杯", ""),)
    assert draft.amounts == Amounts(130, 0, 0, 0, 130)


def test_issued_at_is_converted_to_taipei() -> None:
    draft = parse_document(mutated(put("issued_at", "2026-11-21T06:03:00Z")))
    assert draft.issued_at is not None and draft.issued_at.utcoffset() == timedelta(hours=8)
    assert draft.issued_at.hour == 14


def test_amount_defaults_and_sequence_numbers() -> None:
    doc = mutated(items({"amount": None}, {"description": "可頌", "quantity": "1.5", "unit_price": "45",
                                             "amount": None}))
    draft = parse_document(doc)
    assert [(line.sequence, line.amount) for line in draft.items] == [("001", 130), ("002", Decimal("67.5"))]
    assert draft.amounts == Amounts(198, 0, 0, 0, 198)  # 197.5 rounds half up


def test_zero_rated_and_mixed_drafts() -> None:
    draft = parse_document(mutated(ZERO_RATED))
    assert (draft.tax_type, draft.tax_rate, draft.zero_tax_rate_reason, draft.customs_clearance_mark) == (
        "2", 0, "71", "1")
    assert draft.amounts == Amounts(0, 0, 130, 0, 130)
    mixed = parse_document(mutated(items({}, {"tax_type": "3", "amount": 130})))
    assert (mixed.tax_type, mixed.tax_rate) == ("9", Decimal("0.05"))
    assert mixed.amounts == Amounts(130, 130, 0, 0, 260)


def test_special_tax_is_never_on_top() -> None:
    doc = mutated(put("invoice_type", "08"), put("items[0].tax_type", "4"), put("tax_rate", "0.25"),
                  put("buyer", BUSINESS))
    draft = parse_document(doc)
    assert (draft.tax_type, draft.tax_rate, draft.amounts) == ("4", Decimal("0.25"), Amounts(130, 0, 0, 0, 130))


def test_draft_document_is_normalised_and_json() -> None:
    draft = parse_document(mutated(put("items[0].quantity", "2.000"), put("buyer", BUSINESS),
                                   put("carrier", MOBILE), put("print", True)))
    document = draft_document(draft)
    assert document == {
        "order_id": "POS1-20261121-0001",
        "issued_at": "2026-11-21T14:03:00+08:00",
        "invoice_type": "07",
        "buyer": {"ban": VALID_BAN, "name": "買方公司", "address": "", "email": "", "phone": ""},
        "carrier": MOBILE,
        "donation": None,
        "print": True,
        "tax_type": "1",
        "tax_rate": "0.05",
        "zero_tax_rate_reason": None,
        "customs_clearance_mark": None,
        "items": [{"description": "拿鐵", "quantity": "2", "unit": "杯", "unit_price": "65", "amount": "130",
                   "tax_type": "1", "remark": ""}],
        "amounts": {"sales": 130, "free_tax_sales": 0, "zero_tax_sales": 0, "tax": 7, "total": 137},
        "remark": "",
    }
    assert json.loads(json.dumps(document)) == document
    assert parse_document(document) == draft


# --- round trip over generated valid documents --------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=12)
ORDER_ID = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)


def decimals(places: int, low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low * 10**places, high * 10**places).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def item_documents(draw: st.DrawFn, tax_type: str) -> dict[str, Any]:
    quantity = draw(decimals(3, 1, 1000))
    price = draw(decimals(2, 1, 100_000))
    item: dict[str, Any] = {"description": draw(TEXT.filter(bool)), "quantity": str(quantity),
                            "unit_price": draw(st.sampled_from([str(price), price])), "tax_type": tax_type}
    if draw(st.booleans()):
        item["amount"] = str(quantity * price)
    item.update(draw(st.fixed_dictionaries({}, optional={"unit": TEXT.map(lambda s: s[:6]), "remark": TEXT})))
    return item


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid invoice documents: a row of the §7.5 matrix, 07 or 08, any mix of line tax types."""
    business, carrier, donated, printed = draw(st.sampled_from(sorted(ALLOWED)))
    doc: dict[str, Any] = {"order_id": draw(ORDER_ID.filter(lambda s: s == s.strip(" "))), "print": printed}
    if business:
        doc["buyer"] = {"ban": VALID_BAN, "name": draw(TEXT), "email": draw(st.sampled_from(["", "a@b.tw"]))}
    elif draw(st.booleans()):
        doc["buyer"] = {"name": draw(TEXT.filter(lambda s: s not in ("0", "00", "000", "0000"))),
                        "address": draw(TEXT)}
    if CARRIERS[carrier] is not None:
        doc["carrier"] = CARRIERS[carrier]
    if donated:
        doc["donation"] = {"love_code": draw(st.from_regex(r"[0-9]{3,7}", fullmatch=True))}
    if draw(st.booleans()):
        doc["invoice_type"], doc["tax_rate"] = "08", draw(st.sampled_from([str(r) for r in SPECIAL_RATES]))
        tax_types = ["4"]
    else:
        # mixed (9) only for consumers (issue 15 item 10)
        tax_types = draw(st.lists(st.sampled_from("123"), min_size=1, max_size=1 if business else 3, unique=True))
    doc["items"] = [draw(item_documents(t)) for t in draw(st.lists(st.sampled_from(tax_types), min_size=1,
                                                                      max_size=4))]
    if any(item["tax_type"] == "2" for item in doc["items"]):
        doc["zero_tax_rate_reason"] = draw(st.sampled_from([str(n) for n in range(71, 80)]))
        doc["customs_clearance_mark"] = draw(st.sampled_from("12"))
    if draw(st.booleans()):
        offset = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
        at = draw(st.datetimes(datetime(1913, 1, 1), datetime(2900, 1, 1))).replace(tzinfo=offset)
        doc["issued_at"] = at.isoformat()
    doc["remark"] = draw(TEXT)
    return doc


@settings(max_examples=150, deadline=None)
@given(documents())
def test_draft_document_round_trip(doc: dict[str, Any]) -> None:
    draft = parse_document(doc)
    normalised = draft_document(draft)
    assert parse_document(normalised) == draft
    assert parse_document(json.loads(json.dumps(normalised))) == draft
    amounts = draft.amounts
    assert amounts.total == amounts.sales + amounts.free_tax_sales + amounts.zero_tax_sales + amounts.tax
    assert parse_document({**doc, "amounts": amounts.as_dict()}) == draft


# --- build_invoice and buyer_party --------------------------------------------------------------------------

AT = datetime(2026, 11, 21, 6, 3, tzinfo=UTC)


def test_buyer_party_for_consumers() -> None:
    anonymous = parse_document(base_document())
    assert buyer_party(anonymous) == Party(CONSUMER_ID, DEFAULT_CONSUMER_NAME)
    assert buyer_party(anonymous).is_consumer
    named = parse_document(mutated(put("buyer", {"name": "王小明", "address": "台北", "email": "w@x.tw",
                                                 "phone": "02"})))
    assert named.buyer == Buyer(None, "王小明", "台北", "w@x.tw", "02")
    assert buyer_party(named) == Party(CONSUMER_ID, "王小明", "台北", email="w@x.tw", telephone="02")
    unnamed = parse_document(mutated(put("buyer", {"address": "台北"})))
    assert buyer_party(unnamed).name == DEFAULT_CONSUMER_NAME


def test_buyer_party_for_businesses() -> None:
    named = parse_document(mutated(put("buyer", {**BUSINESS, "address": "台中", "email": "b@c.tw",
                                                 "phone": "04"})))
    assert buyer_party(named) == Party(VALID_BAN, "買方公司", "台中", email="b@c.tw", telephone="04")
    assert not buyer_party(named).is_consumer
    only_ban = parse_document(mutated(put("buyer", {"ban": VALID_BAN})))
    assert buyer_party(only_ban) == Party(VALID_BAN, VALID_BAN)


def test_build_invoice_consumer_on_carrier() -> None:
    draft = parse_document(mutated(put("carrier", MOBILE), put("remark", "備註")))
    invoice = build_invoice(draft, number="AB12345678", random_number="7213", issued_at=AT, seller=SELLER)
    assert invoice.issued_at == AT and invoice.issued_at.utcoffset() == timedelta(hours=8)
    assert (invoice.number, invoice.random_number, invoice.seller, invoice.buyer.identifier) == (
        "AB12345678", "7213", SELLER, CONSUMER_ID)
    assert (invoice.carrier_type, invoice.carrier_id1, invoice.carrier_id2) == ("3J0002", "/ABC1234", "/ABC1234")
    assert (invoice.print_mark, invoice.npoban, invoice.donated, invoice.main_remark) == (False, "", False, "備註")
    assert (invoice.items, invoice.amounts, invoice.tax_type, invoice.tax_rate) == (
        draft.items, draft.amounts, "1", Decimal("0.05"))
    assert (invoice.customs_clearance_mark, invoice.zero_tax_rate_reason) == ("", "")
    assert invoice.period.code == "11512"


def test_build_invoice_donated_zero_rated_business() -> None:
    donated = parse_document(mutated(put("donation", DONATION), put("print", False)))
    invoice = build_invoice(donated, number="AB12345679", random_number="0001", issued_at=AT, seller=SELLER)
    assert (invoice.npoban, invoice.donated, invoice.carrier_type, invoice.print_mark) == ("168001", True, "", False)
    export = parse_document(mutated(ZERO_RATED, put("buyer", BUSINESS)))
    invoice = build_invoice(export, number="AB12345680", random_number="0002", issued_at=AT, seller=SELLER)
    assert (invoice.buyer, invoice.print_mark) == (Party(VALID_BAN, "買方公司"), True)
    assert (invoice.zero_tax_rate_reason, invoice.customs_clearance_mark, invoice.tax_rate) == ("71", "1", 0)
    assert invoice.carrier_type == invoice.carrier_id1 == invoice.carrier_id2 == ""


def test_carrier_of_the_draft() -> None:
    assert parse_document(mutated(put("carrier", CITIZEN))).carrier == Carrier("CQ0001", "AB12345678901234")


# --- the clock rules of issuing (issue 15 items 5, 6) ----------------------------------------------------------

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=TAIPEI)


def time_codes(back: timedelta, business: bool = False, limit: timedelta | None = None) -> list[str]:
    return [p.code for p in turnkey.validate.issue_time_problems(NOW - back, NOW, business=business,
                                                                 backdate_limit=limit)]


@pytest.mark.parametrize(("back", "business", "limit", "expected"), [
    (timedelta(seconds=-1), False, None, ["issued_at.future"]),
    (timedelta(seconds=-1), False, timedelta(days=30), ["issued_at.future"]),
    (timedelta(0), False, None, []),
    (timedelta(hours=48) - timedelta(seconds=1), False, None, []),
    (timedelta(hours=48), False, None, ["issued_at.too_old"]),
    (timedelta(hours=48), True, None, []),
    (timedelta(days=7) - timedelta(seconds=1), True, None, []),
    (timedelta(days=7), True, None, ["issued_at.too_old"]),
    (timedelta(days=32), False, None, ["issued_at.too_old"]),  # issue 15: 11-01 with the clock at 12-03
    (timedelta(days=10), False, timedelta(days=10), []),  # a configured limit replaces the deadline
    (timedelta(days=10, seconds=1), True, timedelta(days=10), ["issued_at.too_old"]),
], ids=str)
def test_issue_time_rules(back: timedelta, business: bool, limit: timedelta | None, expected: list[str]) -> None:
    assert time_codes(back, business, limit) == expected


@pytest.mark.parametrize(("limit", "words"), [
    (timedelta(days=1), "1 day"), (timedelta(days=3), "3 days"), (timedelta(hours=5), "5 hours"),
    (timedelta(minutes=90), "90 minutes"), (timedelta(minutes=1), "1 minute"), (timedelta(seconds=45), "45 seconds"),
])
def test_the_limit_is_named_in_the_message(limit: timedelta, words: str) -> None:
    problems = turnkey.validate.issue_time_problems(NOW - limit * 2, NOW, business=False, backdate_limit=limit)
    assert f"more than {words} back" in problems[0].message


def test_the_deadline_is_named_in_the_message() -> None:
    late = turnkey.validate.issue_time_problems(datetime(2026, 11, 1, 10, 0, tzinfo=TAIPEI), NOW, business=False)
    assert "2026-11-03T10:00:00+08:00" in late[0].message and "48 hours" in late[0].message
    b2b = turnkey.validate.issue_time_problems(NOW - timedelta(days=8), NOW, business=True)
    assert "7 days for a business buyer" in b2b[0].message
