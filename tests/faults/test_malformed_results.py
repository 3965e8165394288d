"""1,000 malformed SummaryResult, ProcessResult and E0501 files in the folders the watcher reads, mixed with valid
ones: the watcher never stops, every bad file is quarantined with a reason (a copy and ``.reason.txt`` in the
quarantine folder, outcome ``quarantined`` in ``results_seen``, one alert), the originals stay where Turnkey left
them, and the valid files are applied. The full 1,000 run over a local folder; a smaller mix runs over a real
sshd (SFTP drop) and the in-memory drop, so each implementation of ``Drop.quarantine`` is exercised."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from support_b import OTHER_BAN, SELLER, START, issuer

from daemon.ports import Drop
from daemon.results import MAX_RESULT_BYTES
from daemon.store import Store
from daemon.workers import Watch, health
from drivers.drop.local import LocalDrop
from drivers.drop.sftp import SftpDrop, SftpTarget
from hw_sim.clock import FakeClock
from hw_sim.drop import MemoryDrop
from hw_sim.turnkey import SimTurnkey
from hw_sim.turnkey_results import Verdict, process_result, summary_result
from turnkey.layout import Layout

pytestmark = pytest.mark.faults

LAYOUT = Layout()  # ProcessResults are read by default
KINDS = ("SummaryResult", "ProcessResult", "E0501")
DAY = "20261121"
SECRET = "root:x:0:0"  # what an XXE would pull in from /etc/passwd


def _message_id(tag: str) -> str:
    return f"v41-F0401-{DAY}-140300{tag:0>3}-00000000-0000-4000-8000-000000000000"


def _summary(numbers: list[str], party: str = SELLER.identifier, tag: str = "0") -> bytes:
    verdicts = [Verdict(n, DAY) for n in numbers]
    return summary_result(party, [(_message_id(tag), "F0401", verdicts)])


def _confirmed(tag: str) -> bytes:
    """The ``00000`` ProcessResult of a summary's message (joined by Id, domain.md §5.5a)."""
    return process_result(SELLER.identifier, _message_id(tag), "F0401", 2, [("00000", "處理成功", ())])


def _process(number: str, party: str = SELLER.identifier) -> bytes:
    """A ProcessResult naming one failed document (``No. 1``, Parameter0 its number, Parameter1 its date)."""
    return process_result(party, f"v41-F0401-{DAY}-1403-{number}", "F0401", 1,
                          [("E0107", "No. 1 發票年度字軌不符", (number, DAY))])


def _e0501(track: str, begin: int, end: int, booklets: int | None = None, period: str = "11602",
           ban: str = SELLER.identifier) -> bytes:
    count = (end - begin + 1) // 50 if booklets is None else booklets
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<InvoiceEnvelope xmlns="urn:GEINV:InvoiceEnvelope:4.1">'
            '<InvoicePack messageType="E0501" count="1" version="4.0"><InvoiceAssignNo xmlns="urn:GEINV:E0501:4.0">'
            f"<Ban>{ban}</Ban><InvoiceType>07</InvoiceType><YearMonth>{period}</YearMonth>"
            f"<InvoiceTrack>{track}</InvoiceTrack><InvoiceBeginNo>{begin:08d}</InvoiceBeginNo>"
            f"<InvoiceEndNo>{end:08d}</InvoiceEndNo><InvoiceBooklet>{count}</InvoiceBooklet>"
            "</InvoiceAssignNo></InvoicePack></InvoiceEnvelope>").encode()


def _valid(kind: str) -> bytes:
    """A well-formed file of ``kind`` about an invoice this store does not hold (the base of the bad ones)."""
    return {"SummaryResult": _summary(["ZZ00000001"]), "ProcessResult": _process("ZZ00000001"),
            "E0501": _e0501("QQ", 0, 49)}[kind]


def _laughs(root: str) -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY l0 "lol">{entities}]><{root}>&l9;</{root}>'.encode()


def _absurd(kind: str, rng: random.Random) -> bytes:
    """Well-formed XML whose values cannot be true."""
    if kind == "SummaryResult":
        base = _summary(["ZZ00000001"])
        return rng.choice([
            base.replace(b"<Count>1</Count>", b"<Count>" + b"9" * 30 + b"</Count>", 1),
            base.replace(b"<Count>1</Count>", b"<Count>-1</Count>", 1),
            base.replace(b"<Count>1</Count>", b"<Count>1e400</Count>", 1),
            base.replace(b"<Count>1</Count>", b"<Count>7</Count>", 1),  # Total != Good + Failed
            base.replace(DAY.encode(), b"20261399"),
            base.replace(DAY.encode(), b"99999999"),
        ])
    if kind == "ProcessResult":
        base = _process("ZZ00000001")
        return rng.choice([
            base.replace(b"<Info>", b"<Infx>").replace(b"</Info>", b"</Infx>"),  # no Result/Info at all
            base.replace(b"<Result>", b"<Result/><Ignored>").replace(b"</Result>", b"</Ignored>"),
        ])
    return rng.choice([
        _e0501("QQ", 300, 199), _e0501("QQ", 0, 49, period="11513"), _e0501("QQ", 0, 49, period="11601"),
        _e0501("QQ", 0, 49, period="00002"), _e0501("Q!", 0, 49), _e0501("QQ", 0, 49).replace(b">07<", b">99<"),
        _e0501("QQ", 0, 49, booklets=99999), _e0501("QQ", 0, 99_999_999, booklets=2), _e0501("QQ", 100, 173),
        _e0501("QQ", 0, 49).replace(b"00000049", b"1e400"),
    ])


def _wrong_encoding(kind: str, rng: random.Random) -> bytes:
    base = _valid(kind)
    return rng.choice([
        base.replace(b"UTF-8", b"UTF-16"), base.replace(b"UTF-8", b"x-bogus"),
        base.replace(b"ZZ00000001", "測試".encode("big5")).replace(b"QQ", "測".encode("big5")),
        base.replace(b"ZZ00000001", b"\xff\xfe\xfd").replace(b"<InvoiceTrack>QQ", b"<InvoiceTrack>\xc3\x28"),
        base[:base.rindex(b"</")] + b"\x00" + base[base.rindex(b"</"):],  # a NUL byte
        base.replace(b"UTF-8", b"US-ASCII").replace(b"ZZ00000001", "測試".encode()).replace(b"QQ", "測".encode()),
    ])


Maker = Callable[[str, random.Random], bytes]
# category -> (how to make one, the words its reason must contain)
CATEGORIES: dict[str, tuple[Maker, str]] = {
    "truncated": (lambda k, r: (v := _valid(k))[: r.randrange(1, len(v) - 1)], "mig.unreadable"),
    "wrong_root": (lambda k, r: r.choice([_valid(o) for o in KINDS if o != k]
                                         + [b'<Invoice xmlns="urn:GEINV:eInvoiceMessage:F0401:4.1"/>']),
                   "mig.unreadable"),
    "xxe": (lambda k, r: (f'<?xml version="1.0"?><!DOCTYPE {k} [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                          f"<{k}>&x;</{k}>").encode(), "DOCTYPE"),
    "xxe_external": (lambda k, r: b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
                     + _valid(k).split(b"?>", 1)[1], "DOCTYPE"),
    "billion_laughs": (lambda k, r: _laughs(k), "DOCTYPE|amplification"),
    "garbage": (lambda k, r: bytes(r.randrange(256) for _ in range(r.randrange(1, 4096))), "mig.unreadable"),
    "empty": (lambda k, r: b"", "mig.unreadable"),
    "blank": (lambda k, r: b" \n\t" * r.randrange(1, 50), "mig.unreadable"),
    "deep": (lambda k, r: f"<{k}>".encode() + b"<a>" * 100_000 + b"</a>" * 100_000 + f"</{k}>".encode(),
             "depth"),
    "wrong_encoding": (_wrong_encoding, "mig.unreadable"),
    "absurd": (_absurd, r"mig\.|booklets of 50"),
    "wrong_seller": (lambda k, r: _summary(["ZZ00000001"], OTHER_BAN) if k == "SummaryResult"
                     else _process("ZZ00000001", OTHER_BAN), f"for seller {OTHER_BAN}"),
}
HEAVY: list[tuple[str, str, Callable[[], bytes], str]] = [
    # kind, category, maker, reason words: few of each, they are large
    ("SummaryResult", "big_text", lambda: _summary(["ZZ00000001"]).replace(
        b"<Service>S</Service>", b"<Service>" + b"x" * 12_000_000 + b"</Service>"), "Text node too long"),
    ("ProcessResult", "big_text", lambda: _process("ZZ00000001").replace(
        b"<Description>", b"<Description>" + "長".encode() * 4_000_000), "Text node too long"),
]


@dataclass
class World:
    """A drop plus Turnkey's side of its folder: place a downloaded file, look at a quarantined copy."""

    drop: Drop
    place: Callable[[str, str, bytes], str]
    copy: Callable[[str], tuple[bytes, str] | None]
    original: Callable[[str], bytes | None]
    sparse: Callable[[str, str, int], str] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)


def _tree_world(root: Path, drop: Drop) -> World:
    def place(kind: str, name: str, data: bytes) -> str:
        path = f"{LAYOUT.result_folder(kind)}/{DAY}/14/{name}"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        return path

    def sparse(kind: str, name: str, size: int) -> str:
        path = place(kind, name, b"<SummaryResult>")
        with (root / path).open("r+b") as handle:
            handle.truncate(size)
        return path

    def copy(path: str) -> tuple[bytes, str] | None:
        target = root / LAYOUT.quarantined(path)
        reason = target.with_name(target.name + ".reason.txt")
        if not target.is_file() or not reason.is_file():
            return None
        data = target.read_bytes() if target.stat().st_size < 32_000_000 else b"%d" % target.stat().st_size
        return data, reason.read_text("utf-8")

    def original(path: str) -> bytes | None:
        file = root / path
        if not file.is_file():
            return None
        return file.read_bytes() if file.stat().st_size < 32_000_000 else b"%d" % file.stat().st_size

    return World(drop, place, copy, original, sparse)


@pytest.fixture(params=["local", "sftp", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "memory":
        memory = MemoryDrop()

        def copy(path: str) -> tuple[bytes, str] | None:
            data, reason = memory.files.get(f"quarantine/{path}"), memory.files.get(f"quarantine/{path}.reason.txt")
            return None if data is None or reason is None else (data, reason.decode("utf-8"))

        yield World(memory, lambda kind, name, data: memory.deliver(kind, name, data), copy, memory.files.get)
        return
    root = tmp_path / "turnkey"
    if request.param == "local":
        SimTurnkey(root).install()
        yield _tree_world(root, LocalDrop(root, LAYOUT))
        return
    from sshd_peer import Sshd

    server = Sshd.start_or_skip(tmp_path / "sshd")
    SimTurnkey(server.root).install()
    drop = SftpDrop(SftpTarget.from_url(server.url, server.client_key, server.known_hosts, timeout=10), LAYOUT)
    yield _tree_world(server.root, drop)
    drop.close()
    server.kill()


COUNTS = {"local": 1000, "sftp": 60, "memory": 120}


def _bad_files(world: World, count: int, heavy: bool, rng: random.Random) -> dict[str, tuple[str, str]]:
    """``count`` malformed files over the three kinds: path -> (category, words the reason must contain)."""
    bad: dict[str, tuple[str, str]] = {}
    if heavy:
        for kind, category, make, words in HEAVY:
            bad[world.place(kind, f"{category}-{len(bad):04d}_{kind}.xml", make())] = (category, words)
        assert world.sparse is not None
        huge = world.sparse("SummaryResult", f"huge-{len(bad):04d}_SummaryResult.xml", MAX_RESULT_BYTES + 1)
        bad[huge] = ("huge", f"more than the {MAX_RESULT_BYTES}")
    names = sorted(CATEGORIES)
    while len(bad) < count:
        kind = KINDS[len(bad) % 3]
        category = names[rng.randrange(len(names))]
        if category == "wrong_seller" and kind == "E0501":
            continue  # another business's E0501 is applied as nothing (boxes may share a download folder)
        make, words = CATEGORIES[category]
        bad[world.place(kind, f"{category}-{len(bad):04d}_{kind}.xml", make(kind, rng))] = (category, words)
    return bad


def _valid_files(world: World, numbers: list[str]) -> dict[str, str]:
    """Valid files among the bad ones: 20 summaries confirm 40 invoices (one routed through another BAN) with
    the ``00000`` ProcessResult of each message, 10 process results reject 10, two allocations add two ranges.
    path -> kind."""
    good: dict[str, str] = {}
    for n in range(20):  # the first routed through another party (a value-added centre), about our invoices
        good[world.place("SummaryResult", f"ok-{n:02d}_SummaryResult.xml",
                         _summary(numbers[2 * n:2 * n + 2], OTHER_BAN if n == 0 else SELLER.identifier,
                                  tag=str(n)))] = "SummaryResult"
        good[world.place("ProcessResult", f"ok-s{n:02d}_ProcessResult", _confirmed(str(n)))] = "ProcessResult"
    for n in range(10):
        good[world.place("ProcessResult", f"ok-{n:02d}_ProcessResult.xml", _process(numbers[40 + n]))] = "ProcessResult"
    good[world.place("E0501", "ok-cd_E0501.xml", _e0501("CD", 100, 199))] = "E0501"
    good[world.place("E0501", "ok-ef_E0501.xml", _e0501("EF", 200, 349))] = "E0501"
    return good


def test_malformed_result_files_are_quarantined_with_a_reason(world: World, request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    kind_of_world = request.node.callspec.params["world"]
    clock = FakeClock(START)
    store, service = issuer(tmp_path / "einvd.sqlite3", clock, 60)
    numbers = [service.issue({"order_id": f"R-{n:03d}", "items": [
        {"description": "拿鐵", "quantity": 1, "unit_price": 65}]}).body["invoice_number"] for n in range(60)]
    rng = random.Random(8)
    bad = _bad_files(world, COUNTS[kind_of_world], kind_of_world == "local", rng)
    good = _valid_files(world, numbers)
    before = {path: world.original(path) for path in bad}
    watch = Watch(store, world.drop, SELLER.identifier)

    first = watch.tick(clock.now())  # valid files applied; bad ones may still be arriving: looked at again
    clock.advance(timedelta(seconds=30))
    second = watch.tick(clock.now())
    clock.advance(timedelta(seconds=30))
    third = watch.tick(clock.now())
    print(f"\n[{kind_of_world}] files: {len(bad)} malformed + {len(good)} valid; ticks: {first} / {second} / {third};"
          f" categories: {dict(sorted(Counter(c for c, _ in bad.values()).items()))}")

    assert first == {"SummaryResult": 20, "ProcessResult": 30, "E0501": 2, "confirmed": 40, "rejected": 10,
                     "ranges": 2}
    assert second == {"unreadable": len(bad)} and third == {}
    _check_store(store, bad, good, numbers)
    checked = _check_quarantine(world, bad, before)
    # the 10 invoices the valid ProcessResults reject each raise rejected.F0401 (daemon/verdicts.py, #15 item 2)
    assert health(store, clock.now())["alerts"] == {"result.unreadable": len(bad), "rejected.F0401": 10}
    print(f"[{kind_of_world}] quarantined copies checked: {checked}, originals left in place: {len(before)}")
    store.close()
    world.drop.close()


def _check_store(store: Store, bad: dict[str, tuple[str, str]], good: dict[str, str], numbers: list[str]) -> None:
    rows = store.read("SELECT path, outcome, detail FROM results_seen")
    seen = {r["path"]: (r["outcome"], r["detail"]) for r in rows}
    assert set(seen) == set(bad) | set(good)
    assert {path: outcome for path, (outcome, _) in seen.items() if path in good} == dict.fromkeys(good, "applied")
    for path, (category, words) in bad.items():
        outcome, detail = seen[path]
        assert outcome == "quarantined", (path, outcome)
        assert re.search(words, detail) and "[copy: " in detail, (category, detail)
        assert SECRET not in detail
    statuses = {r["number"]: (r["status"], r["result_code"]) for r in store.read(
        "SELECT number, status, result_code FROM invoices")}
    assert [statuses[n] for n in numbers] == [("confirmed", "")] * 40 + [("rejected", "E0107")] * 10 + \
        [("queued", "")] * 10
    tracks = store.read("SELECT track, begin_no, end_no FROM tracks WHERE source = 'E0501' ORDER BY track")
    assert [tuple(r) for r in tracks] == [("CD", 100, 199), ("EF", 200, 349)]


def _check_quarantine(world: World, bad: dict[str, tuple[str, str]], before: dict[str, bytes | None]) -> int:
    checked = 0
    for path, (category, words) in bad.items():
        found = world.copy(path)
        assert found is not None, f"no quarantined copy of {path}"
        data, reason = found
        assert data == before[path], f"the copy of {path} differs from the original"
        assert path in reason and re.search(words, reason), (category, reason)
        assert SECRET not in reason
        assert world.original(path) == before[path]  # Turnkey's file is left where it was
        checked += 1
    return checked


def test_the_quarantine_folder_is_a_setting(tmp_path: Path) -> None:
    from daemon.config import ConfigError, load

    config = tmp_path / "einvd.toml"
    assert load(None).turnkey.layout.quarantine == "Unpack/.einvd-quarantine"
    config.write_text('[turnkey]\nquarantine = "einvd/quarantine"\n')
    layout = load(config).turnkey.layout
    assert layout.quarantined("Unpack/BAK/E0501/x.xml") == "einvd/quarantine/Unpack/BAK/E0501/x.xml"
    for inside in ("Unpack/BAK/SummaryResult/q", "Unpack/BAK/E0501", "UpCast/B2SSTORAGE/F0401/SRC/q", ""):
        config.write_text(f'[turnkey]\nquarantine = "{inside}"\n')
        with pytest.raises(ConfigError, match="quarantine"):
            load(config)
    print("\n[config] quarantine default, override and 4 refused placements checked")
