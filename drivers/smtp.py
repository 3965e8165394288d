"""SMTP transport for the consumer's notices (smtplib), and the QR codes drawn as PNG images (zxing-cpp,
the encoder the proofs use).

``SmtpRelay.send`` opens one connection per message to the merchant's relay (plain, STARTTLS or implicit TLS),
logs in when a user is set, sends, and closes. It raises what smtplib raises (``SMTPResponseException`` and its
kinds carry the server's code: 5xx is permanent, RFC 5321 §4.2.1) or ``OSError`` when the relay is unreachable;
the caller decides whether to try again.
"""

from __future__ import annotations

import io
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

SECURITY = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    security: str = "starttls"
    user: str = ""
    password: str = ""
    timeout: float = 30.0
    context: ssl.SSLContext | None = None

    def _connect(self) -> smtplib.SMTP:
        context = self.context or ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                client.starttls(context=context)
            except BaseException:
                client.close()
                raise
        return client

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the relay; returns once it accepted the DATA for every recipient."""
        client = self._connect()
        try:
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def qr_png(data: bytes, scale: int = 4) -> bytes:
    """The QR code of ``data`` (error level L like the proof's, quiet zone of 4 modules) as a PNG."""
    import zxingcpp  # here, not at start: the daemon's resident memory (bench/memory.py)
    from PIL import Image

    code = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, eci=0)  # no ECI header, as on the proof
    drawn = code.to_image(scale=scale, add_quiet_zones=True)
    height, width = drawn.shape[0], drawn.shape[1]
    out = io.BytesIO()
    Image.frombytes("L", (width, height), bytes(memoryview(drawn))).save(out, format="PNG")  # type: ignore[arg-type]
    return out.getvalue()
