"""Group commit for issuing through the API: every request that reached the event loop together, one fsync.

Writes run on the event loop's thread (see ``routes.change``). For ``POST /v1/invoices`` a request does not write at
once: it joins the pending batch and waits. The batch runs from a ``call_soon`` callback, so it holds every
request the loop took in by then: with one till that is the one request (nothing waits on anything), with
eight busy tills it is the requests that arrived while the previous batch was on the disk. The batch is one
``BEGIN IMMEDIATE`` transaction; in it each request records its nonce, then issues its invoice (the service's
own ``store.write()`` nests as a savepoint). A request that fails (bad document, replayed nonce) has its own
writes undone alone. After the one commit (one fsync of the WAL) every request is answered; if the commit fails
(a full disk), every request that had succeeded in it gets that error and nothing of the batch remains.

A request may return ``Later(finish)``: its answer (the QR payloads, the JSON) is built from what it stored. When
it is the batch's only one (a till on its own, where latency is what counts), ``finish`` runs on the ``Finisher``
thread while the loop's thread waits in the commit's fsync (SQLite lets go of the GIL there) instead of after it:
about 0.1-0.25 ms off a lone request on the 2-core test box. A busy batch builds its answers after the commit as
before: the CPUs are taken by then, and a thread hop only added switching (x8 measured slower with it). The answer
is sent only once the commit is on disk; if the commit fails, what the finisher built is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from daemon.api.auth import NonceGuard, Signed
from daemon.store import Connection, OperationalError, Store, StoreUnavailable

T = TypeVar("T")
MAX_BATCH = 64


@dataclass
class _Item(Generic[T]):
    signed: Signed
    work: Callable[[], T]
    future: asyncio.Future[T]


@dataclass(frozen=True)
class Later(Generic[T]):
    """A request's result whose last step, ``finish`` (pure: it only reads what the request stored), may run while
    the batch's commit syncs."""

    finish: Callable[[], T]


class Finisher:
    """One worker thread (the standard library's executor) that runs a lone request's ``Later`` step while the
    event loop's thread is in the commit's fsync."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="einvd-finish")

    def start(self, step: Callable[[], Any]) -> Callable[[], tuple[Any, Exception | None]]:
        """Start ``step`` now; the returned callable waits for its (value, error). Once closed, the step runs here
        and now (nothing is left waiting on a thread that is gone)."""
        try:
            return self._pool.submit(_finish, step).result
        except RuntimeError:  # shut down
            outcome = _finish(step)
            return lambda: outcome

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass
class IssueBatcher:
    store: Store
    guard: NonceGuard
    now: Callable[[], float]
    limit: int = MAX_BATCH
    finisher: Finisher | None = None
    _pending: list[_Item[Any]] = field(default_factory=list)
    _scheduled: bool = False
    batches: int = 0
    requests: int = 0

    async def submit(self, signed: Signed, work: Callable[[], T | Later[T]]) -> T:
        """Run ``work`` (which writes through ``store``) in the next group commit; its result once committed (a
        ``Later``'s ``finish`` has run by then, on the finisher while the commit synced, or here without one)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Item(signed, work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending[:self.limit], self._pending[self.limit:]
        if self._pending:  # the rest goes in the next batch, after this one's commit
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        batch = [item for item in batch if not item.future.done()]  # a client that went away
        if batch:
            self.batches += 1
            self.requests += len(batch)
            self._run(batch)

    def _run(self, batch: list[_Item[Any]]) -> None:
        done: list[tuple[_Item[Any], Any]] = []
        failed: list[tuple[_Item[Any], _Refused]] = []
        finishing = None
        try:
            with self.store.write() as tx:
                for item in batch:
                    outcome = self._one(tx, item)
                    (failed if isinstance(outcome, _Refused) else done).append((item, outcome))
                if len(done) == 1 and isinstance(done[0][1], Later) and self.finisher is not None:
                    finishing = self.finisher.start(done[0][1].finish)  # it runs while COMMIT below syncs
        except Exception as error:  # BEGIN, a write or COMMIT failed: nothing of the batch is kept
            refused = {id(item) for item, _ in failed}
            for item in batch:
                if id(item) not in refused:
                    _settle(item.future, error=error)
            done = []
        for item, value in done:
            if isinstance(value, Later):
                value, problem = finishing() if finishing is not None else _finish(value.finish)
                if problem is not None:
                    _settle(item.future, error=problem)
                    continue
            _settle(item.future, value=value)
        for item, outcome in failed:
            _settle(item.future, error=outcome.error)

    def _one(self, tx: Connection, item: _Item[Any]) -> Any:
        """One request: its result, or ``_Refused`` with its own error. Its writes are a savepoint of their own
        (the service's ``store.write()`` nests as one), undone alone when it fails; its nonce stays recorded
        either way, as when the nonce had its own commit (a refused request cannot be replayed either)."""
        try:
            self.guard.admit_in(tx, item.signed, self.now())
            return item.work()
        except (OperationalError, StoreUnavailable):
            raise  # the database itself (full, I/O): the whole batch fails
        except Exception as error:  # answered as that request's own error
            return _Refused(error)


def _finish(step: Callable[[], Any]) -> tuple[Any, Exception | None]:
    try:
        return step(), None
    except Exception as error:  # that request's own error, as if it had run on the loop
        return None, error


@dataclass(frozen=True)
class _Refused:
    error: Exception


def _settle(future: asyncio.Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
