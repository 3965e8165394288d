"""``einvd printer test [--png FILE]``: the self-test slip for installers, on the configured printer or, with
``--png``, printed by the production encoder into the virtual printer and saved as a picture.

The slip (``turnkey.selftest``) shows the profile in use, the status read back before printing, ASCII, common
and rare Big5 characters, the same line in Big5 and GB18030, a ruler in the printer's own dots and the Code 39
and QR codes of a sample proof (AA00000000, made with this box's QR key when it has one). Nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.config import ConfigError, Settings
from daemon.wiring.printer import (
    DevicePrintFailed,
    open_printer,
    printer_status,
    selftest_bytes,
    selftest_lines,
)
from turnkey.model import Party
from turnkey.proof import QrCipher, proof_payloads
from turnkey.proof_layout import proof_doc
from turnkey.selftest import SAMPLE_NUMBER, sample_codes, selftest_doc
from turnkey.validate import build_invoice, parse_document

SAMPLE = {"order_id": "SELFTEST", "items": [{"description": "測試品", "quantity": 1, "unit_price": 100}]}
SAMPLE_SELLER = Party("12345676", "印表機測試", "")
SAMPLE_KEY = bytes(16)  # only for the sample's QR codes when qr.key is not set yet


def sample_proof_codes(settings: Settings, now: datetime) -> tuple[Any, ...]:
    """The Code 39 and QR pair of a sample proof, at the sizes and with the QR encoding of a real one."""
    seller = settings.seller if settings.seller.identifier else SAMPLE_SELLER
    invoice = build_invoice(parse_document(SAMPLE), number=SAMPLE_NUMBER, random_number="0000", issued_at=now,
                            seller=seller)
    payloads = proof_payloads(invoice, QrCipher(settings.qr_key or SAMPLE_KEY), settings.qr_encoding)
    return sample_codes(proof_doc(invoice, payloads))


def printer_test(settings: Settings, png: Path | None, now: datetime) -> dict[str, Any]:
    """Print the self-test slip; the answer says what was used, the status before and after, and any failure."""
    if png is None and not settings.printer.url:
        raise ConfigError("printer.url is empty: set it, or give --png FILE for the virtual printer")
    opened = open_printer(settings, "sim:" if png is not None else None)
    before, _ = printer_status(opened)
    profile, ruler = selftest_lines(settings)
    doc = selftest_doc(profile, [f"Status: {before}"], ruler, sample_proof_codes(settings, now))
    data = selftest_bytes(settings, doc)
    answer: dict[str, Any] = {"printer": "virtual" if png is not None else settings.printer.url,
                              "profile": profile, "status_before": before, "bytes": len(data)}
    try:
        opened.printer.print_job(data)
    except DevicePrintFailed as failure:
        answer["error"] = {"code": failure.code, "message": str(failure), "sent": failure.sent}
    answer["status_after"] = printer_status(opened)[0]
    if png is not None and opened.sim is not None:
        answer["png"] = str(opened.sim.save_png(png))
    return answer
