"""Hostile input against the real API: over 10,000 generated requests, most of them correctly signed so they reach
validation. Oversized bodies (2 MB, more than the 8 MiB limit, 50 MB declared), 100,000 levels of nesting, invalid
UTF-8, 1e400 and 5,000-digit numbers, NaN/Infinity, duplicate keys, lone surrogates, wrong content types, garbage
bytes, hypothesis-built documents. No answer is a 500, every refusal has the contract's shape
(``{"errors": [{"code", "field", "message"}]}`` with a dotted code) and the process's memory stays bounded. Most
go through the app in process; a few hundred go over a real socket to uvicorn (``ServerThread``), so the server's
own limits and the early refusal of a declared 50 MB body are exercised too."""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support_b import START, issuer, rss_kib, sale

from daemon.api.app import MAX_BODY, ServerThread, create_app
from daemon.client import signed_headers
from hw_sim.clock import FakeClock

pytestmark = pytest.mark.faults

ALLOWED = {200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 422}
CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MEMORY_BOUND_KIB = 256 * 1024  # generous: a few 8 MiB bodies in flight, allocator slack
GENERATED = 2_500  # hypothesis examples (about 15 ms each with the request)
RANDOM = 6_000  # requests from the cheap seeded generator; with the corpus and the socket part: over 10,000
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/json; charset=utf-16", "application/xml", ""]


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def judge(self, label: str, status: int, content: bytes) -> None:
        """No 500 (nor any status the contract does not name); a refusal is ``{"errors": [...]}`` with codes."""
        self.sent += 1
        self.statuses[status] += 1
        if status not in ALLOWED:
            self.problems.append(f"{label}: status {status}: {content[:200]!r}")
            return
        if status < 400:
            return
        try:
            body = json.loads(content)
            assert isinstance(body, dict) and set(body) == {"errors"} and body["errors"]
            for error in body["errors"]:
                assert set(error) == {"code", "field", "message"}, error
                assert all(isinstance(v, str) for v in error.values()) and error["message"], error
                assert CODE.fullmatch(error["code"]), error["code"]
                self.codes[error["code"]] += 1
        except (AssertionError, ValueError) as error:
            self.problems.append(f"{label}: {status} not the error shape ({error}): {content[:200]!r}")

    def report(self, label: str, rss_growth: int) -> str:
        top = ", ".join(f"{c} {n}" for c, n in self.codes.most_common(8))
        return (f"\n[{label}] requests sent {self.sent}; statuses {dict(sorted(self.statuses.items()))}; "
                f"RSS growth {rss_growth} KiB; top codes: {top}; problems {len(self.problems)}")


@dataclass
class Site:
    client: TestClient
    clock: FakeClock
    number: str
    app: Any
    secrets: dict[str, str]
    tally: Tally = field(default_factory=Tally)
    counter: int = 0

    def headers(self, method: str, path: str, body: bytes, key: str = "manager", signed: bool = True,
                content_type: str | None = "application/json") -> dict[str, str]:
        headers = signed_headers(key, self.secrets[key].encode(), method, path, body, self.clock.now().timestamp())
        if not signed:
            headers["X-Einvd-Signature"] = "0" * 64
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def send(self, method: str, path: str, body: bytes, label: str, **options: Any) -> int:
        response = self.client.request(method, path, content=body, headers=self.headers(method, path, body, **options))
        self.tally.judge(label, response.status_code, response.content)
        return response.status_code


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from api_harness import SECRETS, build_context

    clock = FakeClock(START)
    store, service = issuer(Path(tmp_path_factory.mktemp("hostile")) / "einvd.sqlite3", clock, 30_000)
    number = service.issue(sale("SEED-1")).body["invoice_number"]
    context = build_context(service, clock)
    app = create_app(context)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, clock, number, app, SECRETS)
    context.close()
    store.close()


def _paths(number: str) -> list[tuple[str, str, str]]:
    """(method, path, key) of every signed route, with the key that may use it."""
    return [("POST", "/v1/invoices", "manager"), ("POST", f"/v1/invoices/{number}/void", "manager"),
            ("POST", f"/v1/invoices/{number}/cancel", "manager"), ("POST", f"/v1/invoices/{number}/print", "manager"),
            ("POST", "/v1/allowances", "manager"), ("POST", "/v1/allowances/AL00000001/void", "manager"),
            ("POST", "/v1/tracks", "admin"), ("GET", "/v1/invoices", "manager"),
            ("GET", f"/v1/invoices/{number}", "manager"), ("GET", "/v1/tracks", "admin"),
            ("GET", "/v1/allowances/AL00000001", "manager")]


def _item(quantity: str = "1", price: str = "65", description: str = '"拿鐵"') -> str:
    return f'{{"description":{description},"quantity":{quantity},"unit_price":{price}}}'


def _doc(order: str, item: str) -> bytes:
    return f'{{"order_id":"{order}","items":[{item}]}}'.encode()


def corpus(n: int) -> list[tuple[str, bytes]]:
    """The named hostile bodies (``n`` keeps order ids apart between uses)."""
    o = f"H{n}"
    return [
        ("2MB", _doc(o + "a", _item(description='"' + "長" * 700_000 + '"'))),
        ("deep-array", b"[" * 100_000 + b"]" * 100_000),
        ("deep-object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("deep-40", b'{"order_id":"x","items":' + b"[" * 40 + b"]" * 40 + b"}"),
        ("invalid-utf8", b'{"order_id":"' + o.encode() + b'\xff\xfe","items":[]}'),
        ("overlong-utf8", _doc(o + "b", _item(description='"\xc0\xaf"'))),
        ("1e400", _doc(o + "c", _item(quantity="1e400"))), ("-1e400", _doc(o + "d", _item(price="-1e400"))),
        ("1e-400", _doc(o + "e", _item(quantity="1e-400"))),
        ("exp-huge", _doc(o + "f", _item(quantity="1E+999999999"))),
        ("5000-digits", _doc(o + "g", _item(price="9" * 5000))),
        ("4000-digits", _doc(o + "h", _item(price="9" * 4000))),
        ("3000-places", _doc(o + "i", _item(quantity="0." + "1" * 3000))),
        ("NaN", _doc(o + "j", _item(quantity="NaN"))), ("Infinity", _doc(o + "k", _item(price="Infinity"))),
        ("-Infinity", _doc(o + "l", _item(price="-Infinity"))), ("NaN-string", _doc(o + "m", _item(quantity='"NaN"'))),
        ("duplicate-keys", f'{{"order_id":"{o}n","order_id":"{o}o","items":[{_item()}]}}'.encode()),
        ("duplicate-nested", f'{{"order_id":"{o}p","items":[{{"quantity":1,"quantity":2}}]}}'.encode()),
        ("surrogate", _doc(o + "q", _item(description='"\\ud800"'))),
        ("surrogate-key", b'{"\\udfff":1}'),
        ("surrogate-pair-ok", _doc(o + "r", _item(description='"\\ud83d\\ude00"'))),
        ("nul", _doc(o + "s", _item(description='"a\\u0000b"'))), ("bom", b"\xef\xbb\xbf" + _doc(o + "t", _item())),
        ("utf16", json.dumps({"order_id": o + "u", "items": []}).encode("utf-16")),
        ("empty", b""), ("null", b"null"), ("list", b"[]"), ("string", b'"x"'), ("number", b"1e400"),
        ("truncated", _doc(o + "v", _item())[:-3]), ("garbage", bytes(range(256)) * 4),
        ("bool-as-number", _doc(o + "w", _item(quantity="true"))),
        ("10000-items", f'{{"order_id":"{o}x","items":[{",".join([_item()] * 10_000)}]}}'.encode()),
        ("valid", _doc(o + "y", _item())),
    ]


def test_named_hostile_bodies_on_every_route(site: Site) -> None:
    start = rss_kib()
    tally = site.tally = Tally()
    rng = random.Random(21)
    for n, (method, path, key) in enumerate(_paths(site.number)):
        for label, body in corpus(n):
            for content_type in rng.sample(CONTENT_TYPES, 3):
                site.send(method, path, body, f"{label} {method} {path} [{content_type}]", key=key,
                          content_type=content_type)
            site.send(method, path, body, f"{label} unsigned {path}", key=key, signed=False)
    # bodies over the limit: refused unread (declared) or as soon as the limit is passed (streamed)
    for path in ("/v1/invoices", f"/v1/invoices/{site.number}/void", "/v1/tracks", "/v1/echo-nothing"):
        status = site.send("POST", path, b"{" * (MAX_BODY + 1), f"9MB {path}")
        assert status in (404, 413)
    assert site.send("POST", "/v1/invoices", b" " * (MAX_BODY + 1), "9MB spaces") == 413
    growth = rss_kib() - start
    print(tally.report("named bodies", growth))
    assert tally.problems == [], tally.problems[:10]
    assert tally.statuses[413] >= 4 and tally.statuses[401] >= len(_paths(site.number)) * 30
    assert tally.statuses[201] >= 1 and tally.codes["body.json"] > 100  # some got through, many refused early
    assert growth < MEMORY_BOUND_KIB


# --- hypothesis: generated documents and mutations -------------------------------------------------------------

_text = st.text(max_size=30) | st.sampled_from(["", " ", "\u3000", "測試", "A" * 41, "\x00", "\ud800", "\ufffe"])
_number = st.integers(-(10**25), 10**25) | st.decimals(allow_nan=False, allow_infinity=False) | st.floats() | \
    st.sampled_from(["1e400", "-0", "0.00000001", "12.5", "1" * 30, "１２", "1_000"])
_scalar = st.none() | st.booleans() | _number | _text
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
                     max_leaves=12)
_item_doc = st.fixed_dictionaries(
    {"description": _text, "quantity": _number, "unit_price": _number},
    optional={"amount": _number, "tax_type": st.sampled_from(["1", "2", "3", "4", "9", 1]), "unit": _text,
              "remark": _text, "sequence": _number},
)
_invoice = st.fixed_dictionaries(
    {"order_id": st.from_regex(r"[!-~]{1,40}", fullmatch=True) | _text, "items": st.lists(_item_doc, max_size=3)},
    optional={"buyer": st.fixed_dictionaries({}, optional={"ban": st.from_regex(r"[0-9]{8}", fullmatch=True) | _text,
                                                          "name": _text}),
              "carrier": _json, "donation": _json, "remark": _text, "print_proof": _scalar, "issued_at": _text,
              "amounts": st.dictionaries(st.sampled_from(["sales", "tax", "total", "free_tax_sales"]), _number)},
)
_reason = st.fixed_dictionaries({}, optional={"reason": _text, "reissue": _json})


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True, default=str).encode("utf-8", "surrogatepass")


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["invoice", "invoice", "reason", "json", "bytes", "mutated", "nested", "numbers"]))
    if kind == "invoice":
        return _dump(draw(_invoice))
    if kind == "reason":
        return _dump(draw(_reason))
    if kind == "json":
        return _dump(draw(_json))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "nested":
        depth = draw(st.integers(1, 100_000))
        return b'{"order_id":' * depth + b"1" + b"}" * depth
    if kind == "numbers":
        token = draw(st.sampled_from(["1e400", "9" * 5000, "NaN", "-Infinity", "1E+99999", "-0.0", "0e-999999"]))
        return _doc(f"N{draw(st.integers(0, 10**9))}", _item(quantity=token, price=token))
    data = bytearray(_dump(draw(_invoice)))
    for _ in range(draw(st.integers(1, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _query(draw: st.DrawFn) -> str:
    params = draw(st.dictionaries(st.sampled_from(["order_id", "period", "status", "cursor", "limit", "x"]),
                                  _text | st.integers(-(10**30), 10**30).map(str), max_size=3))
    return "&".join(f"{quote(k)}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items())


@st.composite
def _requests(draw: st.DrawFn, number: str) -> tuple[str, str, str, bytes, bool, str]:
    method, path, key = draw(st.sampled_from(_paths(number)))
    if method == "GET":
        query = _query(draw)
        path = f"{path}?{query}" if query else path
    body = draw(_bodies()) if method == "POST" or draw(st.integers(0, 9)) == 0 else b""
    signed = draw(st.sampled_from([True] * 9 + [False]))  # most are signed right and reach validation
    return method, path, key, body, signed, draw(st.sampled_from(CONTENT_TYPES))


def test_hypothesis_requests(site: Site) -> None:
    start = rss_kib()
    tally = site.tally = Tally()

    @settings(max_examples=GENERATED, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data: st.DataObject) -> None:
        method, path, key, body, signed, content_type = data.draw(_requests(site.number))
        site.send(method, path, body, f"{method} {path[:60]} {body[:60]!r}", key=key, signed=signed,
                  content_type=content_type)

    one()
    growth = rss_kib() - start
    print(tally.report("hypothesis", growth))
    assert tally.problems == [], tally.problems[:10]
    assert tally.sent >= GENERATED
    assert tally.statuses[422] > GENERATED // 10 and tally.statuses[401] > GENERATED // 40  # validation reached
    assert growth < MEMORY_BOUND_KIB


# --- a cheap seeded generator: the same kinds of requests, many more of them -----------------------------------

TEXTS = ["", " ", "\u3000", "測試", "拿鐵", "A" * 41, "x" * 501, "\x00", "\x1b[2J", "\ud800", "\udfff", "\ufffe",
         "\u202e", "'; DROP TABLE invoices;--", "%s%n", "../../etc/passwd", "AB00010000", "12345676", "53538851"]
NUMBERS: list[Any] = [0, 1, -1, 65, 130, 10**25, -(10**25), 2**63, 1.5, 0.1, float("nan"), float("inf"),
                      float("-inf"), "1e400", "-0", "12.5", "1" * 30, "１２", "1_000", "0.00000001", True, None,
                      Decimal("1E+999999"), Decimal("-1E-999999"), Decimal("0.1234567")]
KEYS = ["order_id", "items", "buyer", "carrier", "donation", "remark", "print_proof", "issued_at", "amounts",
        "reason", "reissue", "invoice_number", "lines", "request_id", "period", "track", "begin", "end",
        "invoice_type", "description", "quantity", "unit_price", "amount", "tax_type", "sequence", "", "x y", "測"]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.25:
        return {rng.choice(KEYS + TEXTS): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    if depth < 4 and roll < 0.4:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice(NUMBERS + TEXTS) if roll < 0.9 else rng.choice([None, True, False, {}, []])


def _random_invoice(rng: random.Random, n: int) -> dict[str, Any]:
    if rng.random() < 0.25:  # a good one now and then: issuing goes on between the attacks
        return sale(f"G{n}", **({"buyer": {"ban": "53538851"}} if rng.random() < 0.2 else {}))
    items = [{"description": rng.choice(["拿鐵", *TEXTS]), "quantity": rng.choice([1, 2, *NUMBERS]),
              "unit_price": rng.choice([65, 130, *NUMBERS])} for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
    for item in items:
        for key in rng.sample(["amount", "tax_type", "unit", "remark", "sequence", "colour"], rng.randrange(3)):
            item[key] = _random_json(rng, 3)
    doc: dict[str, Any] = {"order_id": f"G{n}" if rng.random() < 0.7 else rng.choice(TEXTS), "items": items}
    for key in rng.sample(["buyer", "carrier", "donation", "remark", "print_proof", "issued_at", "amounts"],
                          rng.randrange(3)):
        doc[key] = {"ban": rng.choice(["53538851", *TEXTS])} if key == "buyer" else _random_json(rng, 2)
    return doc


def _random_body(rng: random.Random, n: int) -> bytes:
    kind = rng.choice(["invoice", "invoice", "invoice", "json", "bytes", "mutated", "nested", "reason"])
    if kind == "invoice":
        return _dump(_random_invoice(rng, n))
    if kind == "json":
        return _dump(_random_json(rng))
    if kind == "reason":
        return _dump({"reason": rng.choice(TEXTS), **({"reissue": _random_json(rng)} if rng.random() < 0.3 else {})})
    if kind == "bytes":
        return rng.randbytes(rng.randrange(400))
    if kind == "nested":
        depth = rng.choice([31, 32, 33, 1000, 100_000])
        return b'{"items":' * depth + b"1" + b"}" * depth
    data = bytearray(_dump(_random_invoice(rng, n)))
    for _ in range(rng.randrange(1, 5)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def test_random_requests(site: Site) -> None:
    rng = random.Random(42)
    paths = _paths(site.number)
    tally = site.tally = Tally()
    start = rss_kib()
    warm = 0
    for n in range(RANDOM):
        if n == RANDOM // 4:
            warm = rss_kib()
        method, path, key = rng.choice(paths)
        if method == "GET" and rng.random() < 0.7:
            values = {rng.choice(["order_id", "period", "status", "cursor", "limit", "x"]): rng.choice([*TEXTS, "5"])
                      for _ in range(rng.randrange(1, 3))}
            path += "?" + "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in values.items())
        body = _random_body(rng, n) if method == "POST" or rng.random() < 0.1 else b""
        site.send(method, path, body, f"#{n} {method} {path[:60]} {body[:60]!r}", key=key,
                  signed=rng.random() < 0.9, content_type=rng.choice(CONTENT_TYPES))
    end = rss_kib()
    print(tally.report("random", end - start) + f"; RSS growth after warm-up {end - warm} KiB")
    assert tally.problems == [], tally.problems[:10]
    assert tally.statuses[201] >= 20 and tally.statuses[422] > RANDOM // 5 and tally.codes["body.json"] > RANDOM // 20
    assert end - start < MEMORY_BOUND_KIB and end - warm < MEMORY_BOUND_KIB // 4  # flat once warm


# --- a real socket: uvicorn's own handling, and the early refusal of declared-large bodies ---------------------


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes or answers one response; the bytes received."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        with contextlib.suppress(OSError):  # the server may answer and close before taking everything
            conn.sendall(data)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
                head, _, rest = received.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and len(rest) >= int(length[1]):
                    break
        except OSError:
            pass
        return received


def _status(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3})", head)
    assert match, response[:200]
    return int(match[1]), body


def test_over_a_real_socket(site: Site) -> None:
    start = rss_kib()
    tally = site.tally = Tally()
    server = ServerThread(site.app)
    url = server.start()
    port = int(url.rsplit(":", 1)[1])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n, (method, path, key) in enumerate(_paths(site.number)):
            for label, body in corpus(100 + n):
                if len(body) > 1_000_000 and method == "GET":
                    continue
                conn.request(method, path, body=body, headers=site.headers(method, path, body, key=key))
                response = conn.getresponse()
                tally.judge(f"socket {label} {path}", response.status, response.read())
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
        # declared 50 MB, never sent: refused at once, unread
        for path in ("/v1/invoices", f"/v1/invoices/{site.number}/void"):
            head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {50 * 1024 * 1024}\r\n").encode()
            signed = site.headers("POST", path, b"")
            head += b"".join(f"{k}: {v}\r\n".encode() for k, v in signed.items()) + b"\r\n"
            status, body = _status(_raw(port, head + b'{"order_id":'))
            tally.judge(f"declared 50MB {path}", status, body)
            assert status == 413
        # a body just over the limit, sent whole
        status, body = _status(_raw(port, (f"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                           f"{MAX_BODY + 10}\r\n\r\n").encode() + b"[" * (MAX_BODY + 10)))
        tally.judge("9MB sent", status, body)
        assert status == 413
        # HTTP the server itself refuses (its plain answer is not ours to shape): it must not fall over
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200), b"GET / HTTP/9.9\r\n\r\n",
                     b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                     b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
                     b"\r\n" * 1000, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 5000 + b"\r\n"):
            _raw(port, junk, timeout=5)
            tally.sent += 1
        health = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps(sale("SOCKET-OK")).encode()
        health.request("POST", "/v1/invoices", body=body, headers=site.headers("POST", "/v1/invoices", body))
        answer = health.getresponse()
        assert answer.status == 201, answer.read()  # still serving after all that
        tally.sent += 1
    finally:
        server.stop()
    growth = rss_kib() - start
    print(tally.report("socket", growth))
    assert tally.problems == [], tally.problems[:10]
    assert tally.statuses[413] >= 3
    assert growth < MEMORY_BOUND_KIB
