"""The printer self-test slip (``einvd printer test``): what an installer checks before the first sale. Pure.

One slip of kind ``proof`` (so the encoder lays it out, and sizes the codes, exactly as a 電子發票證明聯): the
profile in use, the status read back, ASCII, common and rare Big5 characters (the ETEN extension characters
F9D6-F9DC, which Python's ``big5`` codec lacks and ``cp950`` has, and level-2 characters that small ROM fonts
drop), then the Code 39 and the two QR codes of a sample proof. The 5.7 cm ruler is drawn by the driver, in dots
of the printer's own density, above all this.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnkey.proof_layout import CENTER, Barcode39, Element, ProofDoc, QrPair, Rule, Slip, Text

HEADING = "印表機測試 PRINTER TEST"
ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
COMMON = "電子發票證明聯 統一編號 隨機碼 總計 營業人"
RARE_LEVEL2 = "麤龘齉驫灩 鬱籲釁鸞爨"
RARE_ETEN = "碁銹裏墻恒粧嫺"
CODEC_HINT = ("Of the Big5 and GB18030 lines above, the one that reads right is the firmware's: "
              "printer.profile = cp950 or gb18030 (neither: raster)")
SAMPLE_NUMBER = "AA00000000"
KIND = "proof"


def sample_codes(doc: ProofDoc) -> tuple[Element, ...]:
    """The Code 39 and the QR pair of a proof document (its first slip), in their order."""
    return tuple(e for e in doc.slips[0].elements if isinstance(e, Barcode39 | QrPair))


def selftest_doc(profile: Sequence[str], status: Sequence[str], ruler: str, codes: Sequence[Element]) -> ProofDoc:
    """The self-test slip: ``profile`` and ``status`` lines as given (already in words), ``ruler`` what the ruler
    above shows, ``codes`` the sample proof's barcodes (``sample_codes``)."""
    elements: list[Element] = [Text(HEADING, large=True, align=CENTER), Text(ruler), Text(CODEC_HINT), Rule()]
    elements += [Text(line) for line in profile]
    elements += [Rule(), *(Text(line) for line in status), Rule()]
    elements += [Text("ASCII:"), Text(ASCII), Text("常用字:"), Text(COMMON), Text("難字 (Big5 第二字面):"),
                 Text(RARE_LEVEL2), Text("倚天外字 (cp950 F9D6-F9DC):"), Text(RARE_ETEN), Rule()]
    if codes:
        elements += [Text(f"證明聯條碼 {SAMPLE_NUMBER} (樣本)", align=CENTER), *codes]
    return ProofDoc(SAMPLE_NUMBER, (Slip(KIND, tuple(elements)),))
