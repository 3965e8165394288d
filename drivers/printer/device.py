"""An ESC/POS printer over a byte transport: status before, the job's bytes, status after.

The transport is opened per job (``opener``), so an unplugged or switched-off printer costs one timeout per
attempt and nothing stays half-open. ``PrintFailed.sent`` tells whether any of the job may have reached the
paper: a retry of such a job is a copy and must say 補印.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.printer.status import QUERY, REPLY_LENGTH, UNKNOWN, PrinterStatus, StatusUnreadable, parse_status
from drivers.transport import ByteTransport, TransportError


class PrintFailed(Exception):
    """The job did not print: ``code`` like ``printer.paper_out``; ``sent`` if bytes went out first."""

    def __init__(self, code: str, message: str, sent: bool = False) -> None:
        super().__init__(message)
        self.code, self.sent = code, sent


class EscposPrinter:
    """``status_query=False`` for printers that cannot answer (a one-way parallel or USB line).

    ``silence_is_unknown``: no answer at all to the status query means "status unknown" (``UNKNOWN``) and the job
    goes on, for transports where reaching the device proves it is there (USB: many printers never answer on the
    IN endpoint); elsewhere (a network box in front of a switched-off printer) silence is ``printer.no_reply``.
    """

    def __init__(self, opener: Callable[[], ByteTransport], *, status_query: bool = True,
                 status_timeout: float = 2.0, silence_is_unknown: bool = False) -> None:
        self.opener, self.status_query, self.status_timeout = opener, status_query, status_timeout
        self.silence_is_unknown = silence_is_unknown

    def _open(self) -> ByteTransport:
        try:
            return self.opener()
        except TransportError as error:
            raise PrintFailed("printer.unreachable", str(error)) from error

    def _read_status(self, transport: ByteTransport) -> PrinterStatus:
        transport.write(QUERY)
        reply = b""
        while len(reply) < REPLY_LENGTH:
            chunk = transport.read(REPLY_LENGTH - len(reply), self.status_timeout)
            if not chunk and not reply and self.silence_is_unknown:
                return UNKNOWN
            if not chunk:
                raise PrintFailed("printer.no_reply", f"no status reply within {self.status_timeout} s "
                                  f"(got {len(reply)} of {REPLY_LENGTH} bytes)")
            reply += chunk
        try:
            return parse_status(reply)
        except StatusUnreadable as error:
            raise PrintFailed("printer.status", str(error)) from error

    def _check(self, transport: ByteTransport, sent: bool) -> PrinterStatus | None:
        if not self.status_query:
            return None
        try:
            status = self._read_status(transport)
        except PrintFailed as failure:
            failure.sent = sent
            raise
        except TransportError as error:
            raise PrintFailed("printer.io", str(error), sent) from error
        if status.problem:
            raise PrintFailed(status.problem, f"printer reports {status.problem.split('.')[1]}", sent)
        return status

    def status(self) -> PrinterStatus | None:
        """The printer's status now (None when this printer is not asked)."""
        transport = self._open()
        try:
            return self._check(transport, sent=False)
        finally:
            transport.close()

    def print_job(self, data: bytes) -> PrinterStatus | None:
        """Status, the job, status again; ``PrintFailed`` when any step fails."""
        transport = self._open()
        try:
            self._check(transport, sent=False)
            try:
                transport.write(data)
            except TransportError as error:
                raise PrintFailed("printer.write", str(error), sent=True) from error
            return self._check(transport, sent=True)
        finally:
            transport.close()
