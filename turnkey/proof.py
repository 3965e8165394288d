"""Payloads of the 電子發票證明聯: the Code 39 text, the two QR strings and the AES verification field.

Per 財政部「電子發票證明聯一維及二維條碼規格說明」: Code 39 = period + number + random code; the left QR starts with a
77-character header (number, ROC date, random code, untaxed and total amounts in 8-digit hex, buyer and seller
BAN, 24-character AES field), then ``:`` + merchant area, item counts, encoding and ``name:qty:price`` items;
the right QR starts with ``**`` and continues the item list.

The encoding flag is chosen per invoice (issue #15.7): Big5 (``0``) is kept when Big5 (cp950) holds every item
text; an invoice with an item it cannot hold (``Café 拿鐵``: Big5 has no ``é``) is encoded in UTF-8 and flagged
``1``, which the spec allows for any invoice (domain.md §6.3, field 12), so its proof never fails and the flag
always says how the items were written. ``ProofPayloads.encoding`` is the flag used, ``fallback`` the
characters that forced it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from turnkey.model import CONSUMER_QR_ID, Invoice, Line
from turnkey.money import Amounts, plain, split_inclusive
from turnkey.period import Period, roc_date

QR_IV = base64.b64decode("Dt8lyToo17X/XkXaQvihuA==")
_IV_INT = int.from_bytes(QR_IV, "big")
_SEED_SALT = base64.b64decode("Nd8NUYIxHIBxlzExqGM9gA==")
MERCHANT_AREA = "*" * 10
ENCODINGS = {"0": "cp950", "1": "utf-8", "2": "base64"}
DEFAULT_QR_BYTES = 180


def derive_qr_key(seed_password: str) -> bytes:
    """The AES key the MOF genKey tool derives from a QR seed password (種子密碼)."""
    seed = hashlib.sha1(seed_password.encode("utf-8") + _SEED_SALT).digest()
    return hashlib.sha1(hashlib.sha1(seed).digest()).digest()[:16]


def parse_qr_key(hex_key: str) -> bytes:
    """A 32-hex-character AES-128 key."""
    key = bytes.fromhex(hex_key)
    if len(key) != 16:
        raise ValueError("the QR AES key must be 32 hexadecimal characters")
    return key


class QrCipher:
    """The AES step of the QR verification field for one key.

    A new CBC context from ``cryptography`` per invoice cost more than the rest of the payload (object checks and
    an OpenSSL context each time, on the issuing hot path). So each thread keeps one AES block context for the key
    and the CBC chaining is done here: block i is AES(plain_i XOR previous), the first ``previous`` being the fixed
    IV. With a 10-character number and 4-digit random code that is a single block. The AES itself stays the
    library's; the published vectors pin the result. The context is not for two threads at once: a program with
    threads gives each its own ``QrCipher`` (the daemon's ``services.ThreadCiphers``).
    """

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)
        self._context: CipherContext | None = None

    def _blocks(self) -> CipherContext:
        if self._context is None:
            # ECB here is the raw block function under our CBC chaining, never used as a mode on its own
            self._context = Cipher(self._algorithm, modes.ECB()).encryptor()
        return self._context

    def field(self, number: str, random_number: str) -> str:
        """Base64(AES-128-CBC(number + random code)) with the fixed IV and PKCS#7 padding: 24 characters."""
        plaintext = f"{number}{random_number}".encode("ascii")
        fill = 16 - len(plaintext) % 16
        padded = plaintext + bytes([fill]) * fill
        blocks, previous, sealed = self._blocks(), _IV_INT, bytearray()
        for start in range(0, len(padded), 16):
            chained = int.from_bytes(padded[start:start + 16], "big") ^ previous
            out = blocks.update(chained.to_bytes(16, "big"))
            previous = int.from_bytes(out, "big")
            sealed += out
        return base64.b64encode(sealed).decode("ascii")


def qr_aes(key: bytes, number: str, random_number: str) -> str:
    """Base64(AES-128-CBC(number + random code)) with the fixed IV and PKCS#7 padding."""
    return QrCipher(key).field(number, random_number)


def barcode_text(period: Period, number: str, random_number: str) -> str:
    """The 19-character Code 39 payload: ``10404UZ176908720122``."""
    return f"{period.code}{number}{random_number}"


@dataclass(frozen=True)
class QrHeader:
    """The fields of the 77-character left-QR header."""

    number: str
    roc_date: str
    random_number: str
    untaxed: int
    total: int
    buyer_ban: str
    seller_ban: str
    cipher: str

    def text(self) -> str:
        return (
            f"{self.number}{self.roc_date}{self.random_number}{self.untaxed:08x}{self.total:08x}"
            f"{self.buyer_ban}{self.seller_ban}{self.cipher}"
        )


def item_texts(items: Sequence[Line]) -> list[str]:
    """``name:qty:price`` per item; an ASCII ``:`` inside a name becomes the full-width ``：``."""
    return [f"{line.description.replace(':', '：')}:{plain(line.quantity)}:{plain(line.unit_price)}" for line in items]


def _encoded(text: str, encoding: str) -> str:
    if encoding == "2":
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text


def compose(header: str, stream: str, split: int, encoded: int, total: int, encoding: str) -> tuple[str, str]:
    """Left and right QR text: ``stream[:split]`` goes left after the counts, the rest right after ``**``."""
    left = f"{header}:{MERCHANT_AREA}:{encoded}:{total}:{encoding}:{_encoded(stream[:split], encoding)}"
    return left, "**" + _encoded(stream[split:], encoding)


def _size(text: str, encoding: str) -> int:
    return len(text.encode(ENCODINGS[encoding] if encoding != "2" else "ascii", errors="replace"))


def _encoded_size(raw: int, encoding: str) -> int:
    return 4 * -(-raw // 3) if encoding == "2" else raw


def _fit(items: Sequence[str], room: int, encoding: str) -> int:
    """How many of ``items`` fit, joined by ``:`` with a trailing ``:``, in ``room`` encoded bytes."""
    codec = "utf-8" if encoding == "2" else ENCODINGS[encoding]
    raw = 0
    for taken, text in enumerate(items):
        raw += len(text.encode(codec, errors="replace")) + 1
        if _encoded_size(raw, encoding) > room:
            return taken
    return len(items)


def plan(header: str, items: Sequence[str], encoding: str, budget: int) -> tuple[str, str]:
    """Whole items into the left QR while it stays within ``budget`` bytes, then the right; the rest is dropped."""
    total = len(items)
    fixed = _size(f"{header}:{MERCHANT_AREA}:{total}:{total}:{encoding}:", encoding)
    if fixed > budget:
        raise ValueError(f"the QR header alone does not fit in {budget} bytes")
    left_n = _fit(items, budget - fixed, encoding)
    count = left_n + _fit(items[left_n:], budget - 2, encoding)
    split = len(":".join(items[:left_n])) + (1 if 0 < left_n < count else 0)
    return compose(header, ":".join(items[:count]), split, count, total, encoding)


def qr_amounts(amounts: Amounts, tax_rate: Decimal) -> tuple[int, int]:
    """(untaxed sales, total) for the QR: a tax-inclusive total is split at the invoice's rate."""
    if amounts.tax or not amounts.sales:
        return amounts.total - amounts.tax, amounts.total
    untaxed_sales, _ = split_inclusive(Decimal(amounts.sales), tax_rate)
    return int(untaxed_sales) + amounts.free_tax_sales + amounts.zero_tax_sales, amounts.total


def outside_big5(text: str) -> str:
    """The characters of ``text`` that Big5 (cp950, with the ETEN extensions) cannot hold, each once."""
    return "".join(dict.fromkeys(char for char in text if not _in_big5(char)))


def _in_big5(char: str) -> bool:
    try:
        char.encode(ENCODINGS["0"])
    except UnicodeEncodeError:
        return False
    return True


def qr_encoding(items: Sequence[str], wanted: str) -> tuple[str, str]:
    """(flag, characters that forced it): ``wanted``, or UTF-8 (``1``) when Big5 (``0``) cannot hold an item."""
    if wanted != "0":
        return wanted, ""
    missing = outside_big5("".join(items))
    return ("1", missing) if missing else ("0", "")


@dataclass(frozen=True)
class ProofPayloads:
    """What the barcodes say; ``encoding`` is the QR encoding flag used, ``fallback`` the characters that made
    it UTF-8 instead of the configured Big5 (empty when the configured one was used)."""

    barcode: str
    qr_left: str
    qr_right: str
    encoding: str = "1"
    fallback: str = ""


@dataclass(frozen=True)
class ProofFacts:
    """What the proof's barcodes encode; ``buyer_id`` is the MIG buyer (``0000000000`` for consumers)."""

    number: str
    issued_at: datetime
    random_number: str
    buyer_id: str
    seller_id: str
    amounts: Amounts
    tax_rate: Decimal
    items: Sequence[Line]


def payloads(facts: ProofFacts, cipher: QrCipher, encoding: str = "1", budget: int = DEFAULT_QR_BYTES) -> ProofPayloads:
    """The Code 39 text and both QR strings."""
    untaxed, total = qr_amounts(facts.amounts, facts.tax_rate)
    buyer = facts.buyer_id if facts.buyer_id.strip("0") else CONSUMER_QR_ID
    header = QrHeader(
        facts.number, roc_date(facts.issued_at), facts.random_number, untaxed, total, buyer, facts.seller_id,
        cipher.field(facts.number, facts.random_number),
    )
    items = item_texts(facts.items)
    encoding, fallback = qr_encoding(items, encoding)
    left, right = plan(header.text(), items, encoding, budget)
    return ProofPayloads(barcode_text(Period.of(facts.issued_at), facts.number, facts.random_number), left, right,
                         encoding, fallback)


def proof_payloads(invoice: Invoice, cipher: QrCipher, encoding: str = "1",
                   budget: int = DEFAULT_QR_BYTES) -> ProofPayloads:
    """Everything the printer needs to encode for an issued invoice."""
    facts = ProofFacts(invoice.number, invoice.issued_at, invoice.random_number, invoice.buyer.identifier,
                       invoice.seller.identifier, invoice.amounts, invoice.tax_rate, invoice.items)
    return payloads(facts, cipher, encoding, budget)
