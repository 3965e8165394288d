"""E0402 content: the unused numbers of a finished period, one message per invoice type and track; and for a
track shared between boxes, each box's export of its part and the merge of every box's export into one E0402
per (BranchBan, InvoiceType, YearMonth, InvoiceTrack), the one report the platform keeps per key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from turnkey.errors import Conflict, InvoiceInvalid, Problem
from turnkey.model import BlankReport
from turnkey.numbers import TrackRange, blank_tail
from turnkey.period import Period

MAX_ITEMS = 10_000


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent or touching blank spans joined: (0, 9) and (10, 19) -> (0, 19)."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def blank_reports(head_ban: str, branch_ban: str, period: Period,
                  held: Iterable[tuple[TrackRange, int | None]]) -> list[BlankReport]:
    """E0402 messages for ``period`` from the ranges held and their last used numbers.

    Fully used ranges report nothing; a track with nothing blank gets no message (E0402 needs >= 1 item);
    more than 10,000 blank spans are split over several messages.
    """
    tails = sorted(
        (span.invoice_type, span.track, tail)
        for span, last in held
        if span.period == period and (tail := blank_tail(span, last)) is not None
    )
    reports = []
    for (invoice_type, track), group in groupby(tails, key=lambda t: (t[0], t[1])):
        spans = _merged(tail for _, _, tail in group)
        for start in range(0, len(spans), MAX_ITEMS):
            chunk = tuple(spans[start:start + MAX_ITEMS])
            reports.append(BlankReport(head_ban, branch_ban, invoice_type, period, track, chunk))
    return reports


# --- tracks shared between boxes: each box exports its part, one box merges them (#15 item 9) ---------------

EXPORT_FORMAT = "einvd-blank-export/1"
BOOKLET = 50
"""Numbers are allocated in booklets of 50 (begin ends 00/50, end ends 49/99: domain.md §7.3, E0501
InvoiceBooklet). Without an explicit allocation, the allocation of a track is every booklet the exports touch."""

Span = tuple[int, int]


@dataclass(frozen=True)
class TrackPart:
    """One box's part of one track in one period: the ranges it held and the numbers of them it left unused."""

    source: str
    head_ban: str
    branch_ban: str
    period: Period
    invoice_type: str
    track: str
    held: tuple[Span, ...]
    unused: tuple[Span, ...]

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What the platform keeps one E0402 for: (BranchBan, InvoiceType, YearMonth, InvoiceTrack)."""
        return self.branch_ban, self.invoice_type, self.period.code, self.track


def track_parts(source: str, head_ban: str, branch_ban: str, period: Period,
                held: Iterable[tuple[TrackRange, int | None]]) -> list[TrackPart]:
    """This box's part of each track it holds in ``period``: its ranges and their unused tails."""
    spans = sorted((span.invoice_type, span.track, span.begin, span.end, blank_tail(span, last))
                   for span, last in held if span.period == period)
    parts = []
    for (invoice_type, track), group in groupby(spans, key=lambda s: (s[0], s[1])):
        rows = list(group)
        parts.append(TrackPart(source, head_ban, branch_ban, period, invoice_type, track,
                               tuple(_merged((r[2], r[3]) for r in rows)),
                               tuple(_merged(r[4] for r in rows if r[4] is not None))))
    return parts


def _label(track: str, span: Span) -> str:
    return f"{track}{span[0]:08d}-{track}{span[1]:08d}"


def export_document(head_ban: str, branch_ban: str, period: Period, parts: Sequence[TrackPart]) -> dict[str, Any]:
    """The JSON a box that holds part of a track writes (``einvd blank-report --export``)."""
    return {
        "format": EXPORT_FORMAT, "seller_ban": branch_ban, "head_ban": head_ban, "period": period.code,
        "tracks": [{"invoice_type": p.invoice_type, "track": p.track,
                    "held": [[f"{b:08d}", f"{e:08d}"] for b, e in p.held],
                    "unused": [[f"{b:08d}", f"{e:08d}"] for b, e in p.unused]} for p in parts],
    }


def _refused(source: str, code: str, field: str, message: str) -> InvoiceInvalid:
    return InvoiceInvalid(Problem(f"blank_export.{code}", f"{source}: {field}", message))


def _text(doc: Mapping[str, Any], name: str, source: str, where: str = "") -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise _refused(source, name, f"{where}{name}", f"{where}{name} must be a string")
    return value


def _spans(entry: Mapping[str, Any], name: str, source: str, where: str) -> tuple[Span, ...]:
    value = entry.get(name)
    if not isinstance(value, list):
        raise _refused(source, name, f"{where}{name}", f"{where}{name} must be a list of [begin, end] pairs")
    spans = []
    for index, pair in enumerate(value):
        field = f"{where}{name}[{index}]"
        if not (isinstance(pair, list) and len(pair) == 2 and all(_eight(n) for n in pair)):
            raise _refused(source, name, field, f"{field} must be [begin, end], each 8 digits")
        begin, end = int(pair[0]), int(pair[1])
        if begin > end:
            raise _refused(source, name, field, f"{field} begins after it ends")
        spans.append((begin, end))
    return tuple(spans)


def _eight(value: object) -> bool:
    return isinstance(value, str) and len(value) == 8 and value.isascii() and value.isdigit()


def parse_export(doc: object, source: str) -> list[TrackPart]:
    """The parts in one box's export (``source`` names the file in every problem); ``blank_export.*`` (422)."""
    if not isinstance(doc, dict):
        raise _refused(source, "format", "format", "an export is a JSON object")
    if doc.get("format") != EXPORT_FORMAT:
        raise _refused(source, "format", "format", f"format must be {EXPORT_FORMAT!r} (einvd blank-report --export)")
    branch_ban, head_ban = _text(doc, "seller_ban", source), _text(doc, "head_ban", source)
    for name, ban in (("seller_ban", branch_ban), ("head_ban", head_ban)):
        if not _eight(ban):
            raise _refused(source, name, name, f"{name} must be 8 digits")
    try:
        period = Period.parse(_text(doc, "period", source))
    except ValueError as error:
        raise _refused(source, "period", "period", str(error)) from error
    tracks = doc.get("tracks")
    if not isinstance(tracks, list):
        raise _refused(source, "tracks", "tracks", "tracks must be a list")
    return [_part(entry, index, source, (head_ban, branch_ban, period)) for index, entry in enumerate(tracks)]


def _part(entry: object, index: int, source: str, box: tuple[str, str, Period]) -> TrackPart:
    where = f"tracks[{index}]."
    if not isinstance(entry, dict):
        raise _refused(source, "tracks", f"tracks[{index}]", f"tracks[{index}] must be an object")
    invoice_type, track = _text(entry, "invoice_type", source, where), _text(entry, "track", source, where)
    if invoice_type not in ("07", "08"):
        raise _refused(source, "invoice_type", f"{where}invoice_type", "invoice_type must be 07 or 08")
    if not (len(track) == 2 and track.isascii() and track.isupper() and track.isalpha()):
        raise _refused(source, "track", f"{where}track", "track must be two capital letters")
    head_ban, branch_ban, period = box
    return TrackPart(source, head_ban, branch_ban, period, invoice_type, track,
                     _spans(entry, "held", source, where), _spans(entry, "unused", source, where))


def _minus(whole: Sequence[Span], taken: Sequence[Span]) -> list[Span]:
    """The numbers of ``whole`` that no span of ``taken`` covers (both merged and sorted)."""
    left: list[Span] = []
    for begin, end in whole:
        at = begin
        for t_begin, t_end in taken:
            if t_end < at or t_begin > end:
                continue
            if t_begin > at:
                left.append((at, t_begin - 1))
            at = max(at, t_end + 1)
        if at <= end:
            left.append((at, end))
    return left


def booklets(spans: Iterable[Span]) -> list[Span]:
    """The whole 50-number booklets ``spans`` touch, joined."""
    return _merged((begin - begin % BOOKLET, end - end % BOOKLET + BOOKLET - 1) for begin, end in spans)


def _conflicts(track: str, parts: Sequence[TrackPart]) -> list[Problem]:
    """Two boxes claiming the same numbers; a box reporting as unused a number it did not hold; two head BANs."""
    found = []
    claims = sorted((begin, end, part.source) for part in parts for begin, end in part.held)
    reach: tuple[int, str] | None = None
    for begin, end, source in claims:
        if reach is not None and begin <= reach[0]:
            both = (begin, min(end, reach[0]))
            found.append(Problem("blank_merge.overlap", "files",
                                 f"{_label(track, both)} is claimed by both {reach[1]} and {source}: two boxes "
                                 "cannot hold the same numbers (or one export was given twice)"))
        if reach is None or end > reach[0]:
            reach = (end, source)
    for part in parts:
        for span in _minus(_merged(part.unused), _merged(part.held)):
            found.append(Problem("blank_merge.unused_outside", part.source,
                                 f"{part.source} reports {_label(track, span)} unused but did not hold it"))
    heads = sorted({part.head_ban for part in parts})
    if len(heads) > 1:
        found.append(Problem("blank_merge.head_ban", "files", f"track {track}: the exports name different head "
                                                              f"office BANs ({', '.join(heads)})"))
    return found


def _gaps(track: str, parts: Sequence[TrackPart], allocation: Sequence[Span] | None) -> list[Problem]:
    """Numbers of the allocation that no export holds, and held numbers outside an explicit allocation."""
    held = _merged(span for part in parts for span in part.held)
    whole = _merged(allocation) if allocation is not None else booklets(held)
    how = "the allocation" if allocation is not None else "the 50-number booklets the exports touch"
    found = [Problem("blank_merge.missing", "files",
                     f"{_label(track, span)} of {how} ({', '.join(_label(track, s) for s in whole)}) is held by no "
                     "export: add the export of the box that holds it, or name the allocation (--allocation)")
             for span in _minus(whole, held)]
    found += [Problem("blank_merge.outside", "allocation",
                      f"{_label(track, span)} is held by an export but is not in the allocation given for {track}")
              for span in _minus(held, whole)]
    return found


def merge_parts(parts: Sequence[TrackPart],
                allocation: Mapping[str, Sequence[Span]] | None = None) -> list[BlankReport]:
    """One E0402 per (BranchBan, InvoiceType, YearMonth, InvoiceTrack) from the exports of every box holding part
    of a track; ``allocation`` maps a track to its allocated ranges (default: whole booklets). Every overlap,
    missing span and mismatch at once (``Conflict``, 409), each naming its numbers."""
    allocation = allocation or {}
    ordered = sorted(parts, key=lambda p: (p.key, p.source))
    groups = [(key, list(group)) for key, group in groupby(ordered, key=lambda p: p.key)]
    problems = [Problem("blank_merge.missing", "allocation", f"no export holds any number of track {track}")
                for track in sorted(set(allocation) - {part.track for part in parts})]
    for (_, _, _, track), group in groups:
        problems += _conflicts(track, group) + _gaps(track, group, allocation.get(track))
    if problems:
        raise Conflict(*problems)
    reports = []
    for (branch_ban, invoice_type, _, track), group in groups:
        spans = _merged(span for part in group for span in part.unused)
        for start in range(0, len(spans), MAX_ITEMS):
            reports.append(BlankReport(group[0].head_ban, branch_ban, invoice_type, group[0].period, track,
                                       tuple(spans[start:start + MAX_ITEMS])))
    return reports
