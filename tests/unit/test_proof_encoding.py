"""Issue #15.7: QR item text that Big5 cannot hold falls back, per invoice, to UTF-8 with its flag saying so."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from turnkey.model import CONSUMER_ID, Line, Party
from turnkey.money import Amounts
from turnkey.period import TAIPEI
from turnkey.proof import ProofFacts, QrCipher, outside_big5, payloads, qr_encoding
from turnkey.proof_layout import QrPair, proof_doc
from turnkey.validate import build_invoice, parse_document

KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
AT = datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)


def facts(*names: str) -> ProofFacts:
    items = tuple(Line(f"{i:03d}", name, Decimal(1), Decimal(65), Decimal(65)) for i, name in enumerate(names, 1))
    return ProofFacts("AB12345678", AT, "7213", CONSUMER_ID, "12345676", Amounts(65 * len(names), 0, 0, 0,
                      65 * len(names)), Decimal("0.05"), items)


def flag(left: str) -> str:
    return left.split(":")[4]


def test_big5_mode_with_an_item_outside_big5_is_written_in_utf8_and_flagged_1() -> None:
    proof = payloads(facts("Café 拿鐵", "可頌"), QrCipher(KEY), "0")
    assert (proof.encoding, proof.fallback, flag(proof.qr_left)) == ("1", "é", "1")
    assert proof.qr_left.endswith(":Café 拿鐵:1:65:可頌:1:65")
    proof.qr_left.encode("utf-8")  # the bytes the printer will send


def test_big5_mode_keeps_big5_when_every_item_fits_including_the_eten_extensions() -> None:
    proof = payloads(facts("拿鐵", "碁銹裏"), QrCipher(KEY), "0")
    assert (proof.encoding, proof.fallback, flag(proof.qr_left)) == ("0", "", "0")
    proof.qr_left.encode("cp950")


@pytest.mark.parametrize("wanted", ["1", "2"])
def test_utf8_and_base64_hold_everything_and_stay_as_configured(wanted: str) -> None:
    proof = payloads(facts("Café 拿鐵"), QrCipher(KEY), wanted)
    assert (proof.encoding, proof.fallback, flag(proof.qr_left)) == (wanted, "", wanted)


def test_qr_encoding_and_outside_big5() -> None:
    assert qr_encoding(["Café:1:65", "Ñandú 🍵:1:2"], "0") == ("1", "éÑú🍵")
    assert qr_encoding(["拿鐵:1:65"], "0") == ("0", "")
    assert qr_encoding(["Café:1:65"], "2") == ("2", "")
    assert outside_big5("ééé 拿") == "é"


def test_the_layout_carries_the_flag_used_to_the_printer() -> None:
    draft = parse_document({"order_id": "F-1", "items": [{"description": "Café 拿鐵", "quantity": 1,
                                                            "unit_price": 65}]})
    invoice = build_invoice(draft, number="AB12345678", random_number="7213", issued_at=AT,
                            seller=Party("12345676", "測試商店", ""))
    doc = proof_doc(invoice, payloads(facts("Café 拿鐵"), QrCipher(KEY), "0"))
    pair = doc.slips[0].elements[-1]
    assert isinstance(pair, QrPair) and pair.encoding == "1"
