"""Proof payloads: Code 39, the two QR codes and their AES field, against the spec's and the peers' vectors."""

from __future__ import annotations

import base64
import itertools
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_core_support import (
    VALID_BAN,
    base_document,
    known_answers,
    needs_known_answers,
    needs_vectors,
    vector_heading,
    vectors,
)
from test_mig_support import SELLER

from turnkey.model import CONSUMER_ID, CONSUMER_QR_ID, Line
from turnkey.money import Amounts
from turnkey.period import TAIPEI, Period, roc_date
from turnkey.proof import (
    DEFAULT_QR_BYTES,
    MERCHANT_AREA,
    QR_IV,
    ProofFacts,
    QrCipher,
    QrHeader,
    barcode_text,
    compose,
    derive_qr_key,
    item_texts,
    parse_qr_key,
    payloads,
    plan,
    proof_payloads,
    qr_aes,
    qr_amounts,
)
from turnkey.validate import build_invoice, parse_document

KEY = derive_qr_key("einvd unit tests")  # any key: the vectors' keys are read from the files below
HEADER_WIDTHS = (10, 7, 4, 8, 8, 8, 8, 24)  # number, ROC date, random, untaxed, total (hex), buyer, seller, AES
CODEC = {"0": "cp950", "1": "utf-8", "2": "ascii"}
HEADER = "H" * 77
FIXED = len(f"{HEADER}:{MERCHANT_AREA}:3:3:1:")  # 95 bytes before the first item


class FixedCipher(QrCipher):
    """Stands in for an unpublished key: always the cipher text of the vector."""

    def __init__(self, text: str) -> None:
        self.text = text

    def field(self, number: str, random_number: str) -> str:
        return self.text


def header_of(text: str) -> QrHeader:
    """The 77-character left-QR header cut into its fields (amounts are 8-digit hex)."""
    assert len(text) == sum(HEADER_WIDTHS) == 77
    ends = list(itertools.accumulate(HEADER_WIDTHS))
    number, date, random_number, untaxed, total, buyer, seller, cipher = (
        text[end - width:end] for width, end in zip(HEADER_WIDTHS, ends, strict=True))
    return QrHeader(number, date, random_number, int(untaxed, 16), int(total, 16), buyer, seller, cipher)


def date_of(roc: str) -> datetime:
    return datetime(int(roc[:3]) + 1911, int(roc[3:5]), int(roc[5:7]), 12, tzinfo=TAIPEI)


def lines_of(stream: str) -> list[Line]:
    parts = stream.split(":")
    return [Line(f"{i // 3 + 1:03d}", parts[i], Decimal(parts[i + 1]), Decimal(parts[i + 2]),
                 Decimal(parts[i + 1]) * Decimal(parts[i + 2])) for i in range(0, len(parts), 3)]


def decoded(part: str, encoding: str) -> str:
    return base64.b64decode(part).decode("utf-8") if encoding == "2" else part


def unpack(left: str, right: str) -> tuple[str, int, int, str, str, str]:
    """(header, encoded count, total count, encoding, left text, right text) of a QR pair, texts decoded."""
    header, merchant, encoded, total, encoding, tail = left.split(":", 5)
    assert merchant == MERCHANT_AREA and right.startswith("**")
    return header, int(encoded), int(total), encoding, decoded(tail, encoding), decoded(right[2:], encoding)


# --- the spec example (proof-print-and-crypto-vectors.txt) -----------------------------------------------

EXAMPLES = [("Left QR, official spec example", "1"), ("Big5 parameter (0)", "0"), ("Base64 parameter (2)", "2")]


def official_example(keyword: str) -> tuple[str, str]:
    """Left and right QR of the spec example in one encoding (the right one is shared by encodings 0 and 1)."""
    lines = vectors(keyword)
    return lines[0], (lines[1] if len(lines) > 1 else vectors("Right QR for the same example")[0])


@needs_vectors
def test_code39_vector() -> None:
    (text,) = vectors("1-D barcode")
    period, number, random_number = Period.parse(text[:5]), text[5:15], text[15:]
    assert (period, len(text)) == (Period(2015, 4), 19)  # 104年03-04月
    assert barcode_text(period, number, random_number) == text
    for at in (period.start, period.start + timedelta(days=40), period.end - timedelta(microseconds=1)):
        assert barcode_text(Period.of(at), number, random_number) == text
    facts = ProofFacts(number, period.start + timedelta(days=3), random_number, CONSUMER_ID, SELLER.identifier,
                       Amounts(100, 0, 0, 0, 100), Decimal("0.05"), ())
    assert payloads(facts, QrCipher(KEY)).barcode == text


@needs_vectors
@pytest.mark.parametrize(("keyword", "encoding"), EXAMPLES)
def test_compose_reproduces_the_official_example(keyword: str, encoding: str) -> None:
    left, right = official_example(keyword)
    header, encoded, total, param, left_text, right_text = unpack(left, right)
    assert (param, encoded, total, len(header)) == (encoding, 3, 3, 77)
    stream = left_text + right_text
    assert compose(header, stream, len(left_text), encoded, total, encoding) == (left, right)
    assert item_texts(lines_of(stream)) == re.findall(r"[^:]+:[^:]+:[^:]+", stream)
    assert len(lines_of(stream)) == 3
    left.encode(CODEC[encoding])  # the Big5 example is Big5-encodable, the Base64 one ASCII


@needs_vectors
def test_the_three_encodings_carry_the_same_items() -> None:
    streams = {}
    for keyword, encoding in EXAMPLES:
        _, _, _, _, left_text, right_text = unpack(*official_example(keyword))
        streams[encoding] = left_text + right_text
    assert streams["0"] == streams["1"] == streams["2"]
    explained = vector_heading("(base64 decodes")
    for encoded, text in re.findall(r'"([^"]+)" -> "([^"]+)"', explained):
        assert base64.b64decode(encoded).decode("utf-8") == text


@needs_vectors
@pytest.mark.parametrize(("keyword", "encoding"), EXAMPLES[:2])
def test_plan_with_a_small_budget_reproduces_the_split(keyword: str, encoding: str) -> None:
    """The official split is arbitrary; a budget of exactly the left QR's bytes makes plan() cut there too."""
    left, right = official_example(keyword)
    header, _, _, _, left_text, right_text = unpack(left, right)
    items = [":".join(line) for line in re.findall(r"([^:]+):([^:]+):([^:]+)", left_text + right_text)]
    budget = len(left.encode(CODEC[encoding]))
    assert plan(header, items, encoding, budget) == (left, right)
    everything_left = plan(header, items, encoding, budget + 100)
    assert everything_left == (f"{left}{right[2:]}", "**")


@needs_vectors
def test_payloads_of_the_official_example() -> None:
    """From the invoice's facts: untaxed 324 (0x144) is split off the tax-inclusive total 340 (0x154)."""
    left, right = official_example("Left QR, official spec example")
    text, _, total, _, left_text, right_text = unpack(left, right)
    header = header_of(text)
    assert (header.untaxed, header.total, header.buyer_ban) == (324, 340, CONSUMER_QR_ID)
    facts = ProofFacts(header.number, date_of(header.roc_date), header.random_number, CONSUMER_ID,
                       header.seller_ban, Amounts(header.total, 0, 0, 0, header.total), Decimal("0.05"),
                       lines_of(left_text + right_text))
    assert sum(line.amount for line in facts.items) == 340 and total == len(facts.items)
    proof = payloads(facts, FixedCipher(header.cipher), "1", budget=len(left.encode("utf-8")))
    assert (proof.qr_left, proof.qr_right) == (left, right)
    assert proof.barcode == f"{Period.of(facts.issued_at).code}{header.number}{header.random_number}"
    assert proof.barcode.startswith("10206")  # 102年05-06月


@needs_vectors
def test_self_check_header() -> None:
    (text,) = vectors("self-check")
    header = header_of(text)
    assert header.text() == text
    assert roc_date(date_of(header.roc_date)) == header.roc_date
    assert len(header.cipher) == 24


@needs_vectors
def test_aes_vectors() -> None:
    found = [re.fullmatch(r"key=([0-9A-F]{32}) plaintext=(\w{14}) -> (\S{24})", line)
             for line in vectors("AES step")]
    assert len(found) >= 2 and all(found)
    for match in found:
        assert match is not None
        key, plaintext, expected = match.groups()
        cipher = QrCipher(parse_qr_key(key))
        assert qr_aes(parse_qr_key(key), plaintext[:10], plaintext[10:]) == expected
        assert cipher.field(plaintext[:10], plaintext[10:]) == cipher.field(plaintext[:10], plaintext[10:])
        assert expected.endswith("==")
    iv = re.search(r"IV bytes \(hex\): ([0-9a-f]{32})", vector_heading("AES step"))
    assert iv is not None and QR_IV.hex() == iv.group(1)


@needs_vectors
def test_key_derivation_vector() -> None:
    (line,) = vectors("Key derivation")
    match = re.fullmatch(r"passphrase=(\S+) -> key=([0-9A-F]{32})", line)
    assert match is not None
    assert derive_qr_key(match.group(1)) == parse_qr_key(match.group(2))


# --- the peers' known-answer vectors ------------------------------------------------------------------------

@needs_known_answers
def test_mof_qrcode_verification_vectors() -> None:
    entries = known_answers("mof_qrcode_verification")["vectors"]
    assert entries
    for entry in entries:
        key, plaintext = parse_qr_key(entry["key_hex"]), entry["plaintext"]
        assert qr_aes(key, plaintext[:10], plaintext[10:]) == entry["ciphertext_b64"]
        derivation = re.search(r"passphrase '(\w+)' into key ([0-9A-F]{32})", entry.get("related_key_derivation", ""))
        if derivation:
            assert derive_qr_key(derivation.group(1)) == parse_qr_key(derivation.group(2)) == key


@needs_known_answers
def test_mof_barcode_layout_spec_examples() -> None:
    spec = known_answers("mof_barcode_layout_spec_examples")
    code39 = spec["one_dimension_code39"]["value"]
    assert barcode_text(Period.parse(code39[:5]), code39[5:15], code39[15:]) == code39
    first_53, after, right = spec["left_qr_first_53"]["value"], spec["left_qr_after_24_char_cipher"], spec["right_qr"]
    header = header_of(first_53 + "=" * 24)
    left_text, right_text = after.split(":", 5)[5], right[2:]
    facts = ProofFacts(header.number, date_of(header.roc_date), header.random_number, CONSUMER_ID,
                       header.seller_ban, Amounts(header.total, 0, 0, 0, header.total), Decimal("0.05"),
                       lines_of(left_text + right_text))
    cipher = QrCipher(KEY)
    proof = payloads(facts, cipher, "1", budget=77 + len(after.encode("utf-8")))
    assert proof.qr_left == first_53 + cipher.field(header.number, header.random_number) + after
    assert proof.qr_right == right


# --- payloads for B2C and B2B -------------------------------------------------------------------------------

AT = datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)
LINES = (Line("001", "拿鐵", Decimal(2), Decimal(65), Decimal(130)),
         Line("002", "可頌", Decimal("1.50"), Decimal("45.0"), Decimal("67.5")))


def facts(**changes: object) -> ProofFacts:
    base = dict(number="AB12345678", issued_at=AT, random_number="7213", buyer_id=CONSUMER_ID,
                seller_id=SELLER.identifier, amounts=Amounts(198, 0, 0, 0, 198), tax_rate=Decimal("0.05"),
                items=LINES)
    return ProofFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_b2c_payloads() -> None:
    proof = payloads(facts(), QrCipher(KEY))
    cipher = qr_aes(KEY, "AB12345678", "7213")
    untaxed, total = 189, 198  # 198 - round(198 - 198 / 1.05) = 198 - 9
    head = "AB12345678" + "1151121" + "7213" + f"{untaxed:08x}{total:08x}" + "00000000" + SELLER.identifier + cipher
    assert proof.qr_left == f"{head}:**********:2:2:1:拿鐵:2:65:可頌:1.5:45"
    assert proof.qr_right == "**"
    assert proof.barcode == "11512AB123456787213"


def test_b2b_payloads() -> None:
    b2b = facts(buyer_id=VALID_BAN, amounts=Amounts(17500, 0, 0, 875, 18375))
    header = header_of(payloads(b2b, QrCipher(KEY)).qr_left[:77])
    assert (header.untaxed, header.total, header.buyer_ban) == (17500, 18375, VALID_BAN)
    assert payloads(b2b, QrCipher(KEY)).qr_left[21:37] == f"{17500:08x}{18375:08x}" == "0000445c000047c7"


@pytest.mark.parametrize(("amounts", "rate", "expected"), [
    (Amounts(340, 0, 0, 0, 340), "0.05", (324, 340)),  # B2C: tax-inclusive total split at the rate
    (Amounts(20, 0, 0, 0, 20), "0.05", (19, 20)),
    (Amounts(115, 0, 0, 0, 115), "0.15", (100, 115)),  # special tax
    (Amounts(105, 50, 30, 0, 185), "0.05", (180, 185)),  # mixed: only the taxable part carries tax
    (Amounts(0, 100, 0, 0, 100), "0.05", (100, 100)),  # exempt only
    (Amounts(0, 0, 100, 0, 100), "0", (100, 100)),  # zero-rated
    (Amounts(17500, 0, 0, 875, 18375), "0.05", (17500, 18375)),  # B2B: tax on top
])
def test_qr_amounts(amounts: Amounts, rate: str, expected: tuple[int, int]) -> None:
    assert qr_amounts(amounts, Decimal(rate)) == expected


@pytest.mark.parametrize("encoding", ["0", "1", "2"])
def test_encodings_carry_the_same_items(encoding: str) -> None:
    proof = payloads(facts(), QrCipher(KEY), encoding)
    _, encoded, total, param, left_text, right_text = unpack(proof.qr_left, proof.qr_right)
    assert (param, encoded, total) == (encoding, 2, 2)
    assert left_text + right_text == "拿鐵:2:65:可頌:1.5:45"
    assert len(proof.qr_left.encode(CODEC[encoding])) <= DEFAULT_QR_BYTES


def test_base64_split_over_both_codes() -> None:
    proof = payloads(facts(), QrCipher(KEY), "2", budget=FIXED + 16)  # room for base64 of 12 bytes
    _, encoded, _, _, left_text, right_text = unpack(proof.qr_left, proof.qr_right)
    assert (encoded, left_text, right_text) == (2, "拿鐵:2:65:", "可頌:1.5:45")


def test_proof_payloads_of_an_issued_invoice() -> None:
    draft = parse_document({**base_document(), "buyer": {"ban": VALID_BAN}})
    invoice = build_invoice(draft, number="AB12345678", random_number="7213", issued_at=AT, seller=SELLER)
    cipher = QrCipher(KEY)
    expected = payloads(ProofFacts("AB12345678", AT, "7213", VALID_BAN, SELLER.identifier, invoice.amounts,
                                   invoice.tax_rate, invoice.items), cipher)
    assert proof_payloads(invoice, cipher) == expected
    assert proof_payloads(invoice, cipher, "2", 150) == payloads(
        ProofFacts("AB12345678", AT, "7213", VALID_BAN, SELLER.identifier, invoice.amounts, invoice.tax_rate,
                   invoice.items), cipher, "2", 150)
    assert expected.qr_left[21:37] == f"{130:08x}{137:08x}"


def test_item_texts() -> None:
    line = Line("001", "A:B 咖啡", Decimal("1.500"), Decimal("1E+2"), Decimal(150))
    assert item_texts([line]) == ["A：B 咖啡:1.5:100"]
    assert item_texts([]) == []


# --- plan(): what fits where --------------------------------------------------------------------------------

def test_plan_drops_an_item_that_fits_nowhere_and_the_rest() -> None:
    items = ["a:1:1", "X" * 300 + ":1:1", "b:1:1"]
    left, right = plan(HEADER, items, "1", 180)
    assert left == f"{HEADER}:{MERCHANT_AREA}:1:3:1:a:1:1"
    assert right == "**"


def test_plan_with_nothing_left_and_everything_right() -> None:
    left, right = plan(HEADER, ["abcdef:1:1"], "1", FIXED + 5)
    assert (left, right) == (f"{HEADER}:{MERCHANT_AREA}:1:1:1:", "**abcdef:1:1")


def test_plan_with_nothing_anywhere() -> None:
    assert plan(HEADER, ["X" * 200], "1", 180) == (f"{HEADER}:{MERCHANT_AREA}:0:1:1:", "**")
    assert plan(HEADER, [], "2", 180) == (f"{HEADER}:{MERCHANT_AREA}:0:0:2:", "**")


def test_plan_counts_bytes_of_the_encoding() -> None:
    items = ["乾電池:1:105", "x:1:1"]  # 16 bytes with ':' in UTF-8, 13 in Big5, 24 in Base64
    budget = FIXED + 13
    assert plan(HEADER, items, "0", budget)[0].endswith(":0:乾電池:1:105:")
    assert plan(HEADER, items, "1", budget)[0].endswith(":1:")
    assert plan(HEADER, items, "1", budget + 3)[0].endswith(":1:乾電池:1:105:")
    assert plan(HEADER, items, "2", FIXED + 23)[0].endswith(":2:")
    assert plan(HEADER, items, "2", FIXED + 24)[0].endswith(":2:" + base64.b64encode("乾電池:1:105:".encode()).decode())


def test_plan_refuses_a_header_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit in 180 bytes"):
        plan("H" * 200, [], "1", 180)
    with pytest.raises(ValueError):
        payloads(facts(), QrCipher(KEY), budget=90)


ITEM_TEXT = st.text(st.sampled_from("abcXYZ019 .-乾電池口罩牛奶紅茶"), min_size=1, max_size=30)


@given(st.lists(st.builds(lambda n, q, p: f"{n}:{q}:{p}", ITEM_TEXT, st.integers(1, 99), st.integers(0, 9999)),
                max_size=25),
       st.sampled_from(["0", "1", "2"]), st.integers(100, 400))
def test_plan_properties(items: list[str], encoding: str, budget: int) -> None:
    left, right = plan(HEADER, items, encoding, budget)
    assert len(left.encode(CODEC[encoding])) <= budget
    assert len(right.encode(CODEC[encoding])) <= budget
    header, encoded, total, param, left_text, right_text = unpack(left, right)
    assert (header, total, param) == (HEADER, len(items), encoding)
    assert left_text + right_text == ":".join(items[:encoded])
    if encoded < len(items):  # an item is dropped only when it does not fit after the right code's items
        raw = len(f"{right_text}:{items[encoded]}:".removeprefix(":").encode("utf-8" if encoding == "2" else
                                                                               CODEC[encoding]))
        assert (4 * -(-raw // 3) if encoding == "2" else raw) > budget - 2


# --- keys ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "FE05", "FE05F029154F6AA67A78B338ED2F66", "FE05F029154F6AA67A78B338ED2F660100"])
def test_parse_qr_key_length(text: str) -> None:
    with pytest.raises(ValueError, match="32 hexadecimal characters"):
        parse_qr_key(text)


@pytest.mark.parametrize("text", ["FE05F029154F6AA67A78B338ED2F660", "XE05F029154F6AA67A78B338ED2F6601"])
def test_parse_qr_key_not_hex(text: str) -> None:
    with pytest.raises(ValueError):
        parse_qr_key(text)


def test_parse_qr_key_accepts_either_case() -> None:
    assert parse_qr_key(KEY.hex()) == parse_qr_key(KEY.hex().upper()) == KEY


def test_aes_field_is_24_characters_ending_in_two_pads() -> None:
    cipher = QrCipher(derive_qr_key("another seed"))
    for number, random_number in (("AB12345678", "0000"), ("ZZ99999999", "9999")):
        field = cipher.field(number, random_number)
        assert len(field) == 24 and field.endswith("==")
        assert field != QrCipher(KEY).field(number, random_number)


def test_cbc_chaining_matches_the_library_over_several_blocks() -> None:
    """The hand-chained CBC (one AES block context reused) equals cryptography's own CBC, for one block (every real
    field) and for longer texts, and the same cipher object gives the same answer again."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from turnkey.proof import QR_IV

    cipher = QrCipher(KEY)
    for number, random_number in (("AB12345678", "7213"), ("AB12345678" * 3, "0001"), ("AB1234567890", "1234")):
        plaintext = f"{number}{random_number}".encode("ascii")
        fill = 16 - len(plaintext) % 16
        library = Cipher(algorithms.AES(KEY), modes.CBC(QR_IV)).encryptor()
        expected = library.update(plaintext + bytes([fill]) * fill) + library.finalize()
        assert cipher.field(number, random_number) == base64.b64encode(expected).decode("ascii")
        assert cipher.field(number, random_number) == base64.b64encode(expected).decode("ascii")
