"""A virtual ESC/POS receipt printer: on raw TCP (like port 9100), on a real pty (like a serial printer), or
in process (``SimTransport``). What it prints becomes Pillow images, one per cut slip, saved as PNG if asked.

Faults, set any time: ``paper_out`` (status says paper end, print data is dropped as a stopped printer would
not print it), ``cover_open`` (likewise), ``offline`` (answers nothing and drops everything, like a printer
that is switched off behind a network box that still accepts the connection).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
import socketserver
import sys
import threading
import tty
from pathlib import Path

from hw_sim.escpos_decode import FONTS, Interpreter, MissingFont, Slip

_NUMBER = re.compile(r"[A-Z]{2}-[0-9]{5}[0-9*]{3}")


class SimPrinter:
    def __init__(self, width: int = 384, kanji_codec: str = "cp950", out_dir: Path | None = None,
                 fonts: tuple[tuple[str, int], ...] = FONTS) -> None:
        self.paper_out = self.cover_open = self.offline = False
        self.out_dir = out_dir
        self.received = bytearray()
        self.dropped = 0
        self.saved: list[Path] = []
        self._lock = threading.Lock()
        self.interpreter = Interpreter(width, kanji_codec, self._status, fonts)  # MissingFont: refuses to start

    @property
    def slips(self) -> list[Slip]:
        return self.interpreter.slips

    def _status(self, n: int) -> bytes:
        stopped = self.paper_out or self.cover_open
        if n == 1:
            return bytes([0x12 | (0x08 if stopped else 0)])
        if n == 2:
            return bytes([0x12 | (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)])
        if n == 4:
            return bytes([0x12 | (0x60 if self.paper_out else 0)])
        return b"\x12"

    def feed(self, data: bytes) -> bytes:
        """Bytes from the host; returns the printer's answers."""
        with self._lock:
            if self.offline:
                self.dropped += len(data)
                return b""
            if self.paper_out or self.cover_open:
                return self._status_only(data)
            self.received += data
            before = len(self.interpreter.slips)
            replies = self.interpreter.feed(data)
            for slip in self.interpreter.slips[before:]:
                self._save(slip)
            return replies

    def _status_only(self, data: bytes) -> bytes:
        """A stopped printer still answers real-time status queries; everything else is not printed."""
        replies, rest = bytearray(), data
        while (at := rest.find(b"\x10\x04")) >= 0 and at + 2 < len(rest):
            self.dropped += at
            replies += self._status(rest[at + 2])
            rest = rest[at + 3:]
        self.dropped += len(rest)
        return bytes(replies)

    def _save(self, slip: Slip) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        found = next((m.group() for line in slip.lines if (m := _NUMBER.search(line))), "slip")
        index = len(list(self.out_dir.glob("*.png"))) + 1  # a printer that restarts goes on numbering
        path = self.out_dir / f"{index:04d}-{found.replace('*', 'x')}.png"
        slip.image.save(path)
        self.saved.append(path)

    def save_png(self, path: Path) -> Path:
        """Every cut slip (and any uncut paper), top to bottom, with a dashed line where the paper was cut."""
        from PIL import Image, ImageDraw

        images = [slip.image for slip in self.slips] or [self.interpreter.paper()]
        gap = 12
        sheet = Image.new("L", (self.interpreter.width, sum(i.height for i in images) + gap * len(images)), 255)
        draw, y = ImageDraw.Draw(sheet), 0
        for image in images:
            sheet.paste(image.convert("L"), (0, y))
            y += image.height + gap
            for x in range(0, sheet.width, 12):
                draw.line((x, y - gap // 2, x + 5, y - gap // 2), fill=128)
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
        return path

    def text(self) -> list[str]:
        """Every printed text line, slip after slip."""
        return [line for slip in self.slips for line in slip.lines]


class SimTransport:
    """The printer in process: satisfies the drivers' ByteTransport structurally."""

    def __init__(self, printer: SimPrinter) -> None:
        self.printer = printer
        self._replies = bytearray()

    def write(self, data: bytes) -> None:
        self._replies += self.printer.feed(data)

    def read(self, size: int, timeout: float) -> bytes:
        data = bytes(self._replies[:size])
        del self._replies[:size]
        return data

    def close(self) -> None:
        self._replies.clear()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, _Server)
        printer = self.server.printer
        while data := self.request.recv(65536):
            reply = printer.feed(data)
            if reply:
                self.request.sendall(reply)


class _Server(socketserver.ThreadingTCPServer):
    """Threads per connection, all feeding one ``printer``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], printer: SimPrinter) -> None:
        self.printer = printer
        super().__init__(address, _Handler)


class TcpPrinterServer:
    """``printer`` listening on 127.0.0.1 (port 0: any free port); ``url`` is what the driver opens."""

    def __init__(self, printer: SimPrinter, host: str = "127.0.0.1", port: int = 0) -> None:
        self.printer = printer
        self._server = _Server((host, port), printer)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"tcp://{host}:{port}"

    def __enter__(self) -> TcpPrinterServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class PtyPrinter:
    """``printer`` behind a real pseudo-terminal: the driver opens ``path`` as a serial port."""

    def __init__(self, printer: SimPrinter) -> None:
        self.printer = printer
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no newline translation: bytes pass as they are
        self.path = os.ttyname(self.slave)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"serial://{self.path}?baudrate=115200"

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.master, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while all(key.fileobj is not self._wake_r for key, _ in selector.select()):
                reply = self.printer.feed(os.read(self.master, 65536))
                if reply:
                    os.write(self.master, reply)

    def __enter__(self) -> PtyPrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wake_w.send(b"x")
        self._thread.join()
        for fd in (self.master, self.slave):
            os.close(fd)
        self._wake_r.close()
        self._wake_w.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m hw_sim.printer [--port 9100 | --pty] --out DIR``: a virtual printer for people testing by hand."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=9100, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal instead of TCP")
    parser.add_argument("--out", type=Path, default=Path("proofs"), help="where each cut slip is saved as PNG")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=58)
    parser.add_argument("--kanji", choices=("cp950", "gb18030"), default="cp950")
    parser.add_argument("--font", type=Path, help="a TrueType/OpenType font with Chinese (default: the system's)")
    args = parser.parse_args(argv)
    try:
        printer = SimPrinter(576 if args.paper == 80 else 384, args.kanji, args.out,
                             ((str(args.font), 0),) if args.font else FONTS)
    except MissingFont as error:
        print(f"virtual printer not started: {error}", file=sys.stderr)
        return 1
    with PtyPrinter(printer) if args.pty else TcpPrinterServer(printer, port=args.port) as served:
        print(f"virtual printer at {served.url}, slips saved in {args.out}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
