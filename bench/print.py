"""Time to build one proof's ESC/POS bytes, beside the floor: the two QR matrices alone, made by zxing-cpp.

Floor, measured in the same run: ``zxingcpp.create_barcode`` for the left and the right QR text of the same
proof, at the version the encoder uses (no ECI, level raised where it fits, as ``drivers.printer.raster``), and
each matrix taken out (``to_image``, one dot per module): the C++ encoder the proof is built on, with nothing of
ours. Ours: ``encode(ProofDoc, PrinterProfile)`` for the proof and its detail slip (text in cp950, Code 39 as
``GS k``, the QR pair as one raster image). Both run in alternating blocks. Target (issue #16): p50 <= 3 ms on
the 2-core development box and <= 1.5 x the floor's p50.

    python -m bench.print [--count 400]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import zxingcpp

from drivers.printer import raster
from drivers.printer.encode import PrinterProfile, encode
from turnkey.model import Party
from turnkey.period import TAIPEI
from turnkey.proof import QrCipher, proof_payloads
from turnkey.proof_layout import ProofDoc, ProofOptions, QrPair, proof_doc
from turnkey.validate import build_invoice, parse_document

SELLER = Party("12345676", "基準商店", "台北市信義區示範路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
TARGET = 1.5
CEILING_MS = 3.0


def proof() -> ProofDoc:
    draft = parse_document({"order_id": "BENCH-1", "buyer": {"ban": "53538851", "name": "買方公司"}, "items": [
        {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65},
        {"description": "可頌", "quantity": 1, "unit_price": 55},
        {"description": "鮮乳", "quantity": 1, "unit_price": 80, "tax_type": "3"},
    ]})
    invoice = build_invoice(draft, number="AB12345678", random_number="7213",
                            issued_at=datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI), seller=SELLER)
    return proof_doc(invoice, proof_payloads(invoice, QrCipher(KEY)), ProofOptions())


def _block(action: Callable[[], Any], size: int, latencies: list[float]) -> None:
    for _ in range(size):
        t0 = time.perf_counter()
        action()
        latencies.append(time.perf_counter() - t0)


def _row(name: str, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {"name": name, "count": len(ordered), "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000}


def measure(count: int, rounds: int = 10) -> tuple[dict[str, Any], dict[str, Any], int]:
    doc, profile = proof(), PrinterProfile()
    pair = doc.slips[0].elements[-1]
    assert isinstance(pair, QrPair)
    left, right = pair.left.encode("utf-8"), pair.right.encode("utf-8")
    qr = zxingcpp.BarcodeFormat.QRCode
    version = raster.qr_codes(left, right)[0].version

    def floor() -> None:
        zxingcpp.create_barcode(left, qr, eci=0, version=version).to_image(add_quiet_zones=False)
        zxingcpp.create_barcode(right, qr, eci=0, version=version).to_image(add_quiet_zones=False)

    size = len(encode(doc, profile))
    floor_lat: list[float] = []
    ours_lat: list[float] = []
    for _ in range(rounds):
        _block(floor, max(count // rounds, 1), floor_lat)
        _block(lambda: encode(doc, profile), max(count // rounds, 1), ours_lat)
    return (_row(f"floor: two QR matrices (zxing-cpp v{version})", floor_lat),
            _row("proof + details -> ESC/POS bytes", ours_lat), size)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args(argv)
    base, ours, size = measure(args.count)
    print(f"{'case':<40}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for row in (base, ours):
        print(f"{row['name']:<40}{row['count']:>8}{row['p50_ms']:>10.3f}{row['p99_ms']:>10.3f}")
    ratio = ours["p50_ms"] / base["p50_ms"]
    ok = ratio <= TARGET and ours["p50_ms"] <= CEILING_MS
    print(f"\njob size: {size} bytes")
    print(f"p50 {ours['p50_ms']:.3f} ms (target <= {CEILING_MS} ms), vs floor: {ratio:.2f}x (target <= {TARGET}x): "
          f"{'PASS' if ok else 'MISS'}")
    return [{"figure": "proof bytes p50 (ms)", "value": ours["p50_ms"], "floor": base["p50_ms"],
             "target": f"<= {CEILING_MS:g} ms, <= {TARGET} x floor", "ok": ok},
            {"figure": "proof bytes p99 (ms)", "value": ours["p99_ms"], "floor": base["p99_ms"],
             "target": "reported", "ok": True}]


if __name__ == "__main__":
    main()
