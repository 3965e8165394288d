"""What people read: tables and progress bars on a terminal, plain lines in logs and pipes; log lines that
journald files by priority.

Rich draws only when the stream is a TTY, so logs, pipes and tests get plain, stable text. Machine-readable
output (the JSON of ``invoice issue`` and friends) never goes through here.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")
PLAIN_STEPS = 10  # a plain progress report says where it is about ten times, not once per item

# sd-daemon(3) priorities: a "<N>" line prefix tells journald the priority of a line written to stderr
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"


def is_tty(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


def _console(stream: IO[str]) -> Console:
    from rich.console import Console

    # off a TTY: no colour, and wide enough that paths and numbers are not wrapped
    return Console(file=stream, highlight=False, width=None if is_tty(stream) else 160)


def progress(iterable: Iterable[T], total: int | None, label: str, stream: IO[str] | None = None) -> Iterator[T]:
    """Yield from ``iterable``, showing how far it got: a bar on a TTY, else a plain ``label: n/total`` line
    about every tenth of the way and ``label: n done`` at the end. An iterable may end before ``total``
    (the work finished early); a caller that stops early gets ``stopped after``."""
    stream = stream or sys.stdout
    if is_tty(stream):
        yield from _bar(iterable, total, label, stream)
        return
    # a short run gets only its last line; a long one about ten lines
    step = (total // PLAIN_STEPS if total >= 5 * PLAIN_STEPS else total + 1) if total else 1000
    done, finished = 0, False
    try:
        for item in iterable:
            yield item
            done += 1
            if done % step == 0 and done != total:
                stream.write(f"{label}: {done}/{total if total is not None else '?'}\n")
        finished = True
    finally:  # also when the caller stops early (break, an error): say where it stopped
        stream.write(f"{label}: {done} done\n" if finished else f"{label}: stopped after {done} of {total}\n")
        stream.flush()


def _bar(iterable: Iterable[T], total: int | None, label: str, stream: IO[str]) -> Iterator[T]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_console(stream)) as bar:
        task = bar.add_task(label, total=total)
        done = 0
        for item in iterable:
            yield item
            done += 1
            bar.advance(task)
        bar.update(task, total=done, completed=done)  # the work may finish before ``total``: the bar ends full


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], stream: IO[str] | None = None) -> None:
    """A titled table (numbers right-aligned); rich on a TTY and off it alike, without colour off it."""
    from rich.table import Table
    from rich.text import Text

    stream = stream or sys.stdout
    cells = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    shown = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for index, name in enumerate(columns):
        numeric = bool(cells) and all(r[index].lstrip("-").isdigit() for r in cells if r[index])
        shown.add_column(name, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for row in cells:
        shown.add_row(*(Text(cell) for cell in row))  # cells are data, never rich markup ("[turnkey] ...")
    _console(stream).print(shown, "")


# --- logging --------------------------------------------------------------------------------------------------


def journal_stream(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default stderr) is the journal: $JOURNAL_STREAM names its device and inode
    (systemd.exec(5)); a process whose stderr was redirected since then is not logging to the journal."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        found = os.fstat((stream or sys.stderr).fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (found.st_dev, found.st_ino) == (int(device), int(inode))


class JournalFormatter(logging.Formatter):
    """``<N>message`` on every line (a traceback too), N the syslog priority, so journald files each line
    under the record's priority; the journal adds time, unit and PID itself."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


def priority(level: int) -> int:
    """The syslog priority of a logging level (custom levels: the next more severe standard one)."""
    for known in sorted(PRIORITIES):
        if level <= known:
            return PRIORITIES[known]
    return PRIORITIES[logging.CRITICAL]


def setup_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger: journald prefixes under systemd, ``LEVEL name: message`` otherwise."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if journal_stream(stream) else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every run of every job at INFO ("Running job ...", "executed successfully"): with
    # two-second jobs that is thousands of journal lines an hour. Its warnings (missed runs) still come through;
    # a failing job is logged by the runner itself.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    return handler
