"""Group commit for issuing through the API: every request that reached the event loop together, one fsync.

Writes run on the event loop's thread (see ``routes.change``). For ``POST /v1/invoices`` a request does not write at
once: it joins the pending batch and waits. The batch runs from a ``call_soon`` callback, so it holds every
request the loop took in by then: with one till that is the one request (nothing waits on anything), with
eight busy tills it is the requests that arrived while the previous batch was on the disk. The batch is one
``BEGIN IMMEDIATE`` transaction; in it each request records its nonce, then issues its invoice (the service's
own ``store.write()`` nests as a savepoint). A request that fails (bad document, replayed nonce) has its own
writes undone alone. After the one commit (one fsync of the WAL) every request is answered; if the commit fails
(a full disk), every request that had succeeded in it gets that error and nothing of the batch remains.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from daemon.api.auth import NonceGuard, Signed
from daemon.store import Store, StoreUnavailable

T = TypeVar("T")
MAX_BATCH = 64


@dataclass
class _Item(Generic[T]):
    signed: Signed
    work: Callable[[], T]
    future: asyncio.Future[T]


@dataclass
class IssueBatcher:
    store: Store
    guard: NonceGuard
    now: Callable[[], float]
    limit: int = MAX_BATCH
    _pending: list[_Item[Any]] = field(default_factory=list)
    _scheduled: bool = False
    batches: int = 0
    requests: int = 0

    async def submit(self, signed: Signed, work: Callable[[], T]) -> T:
        """Run ``work`` (which writes through ``store``) in the next group commit; its result once committed."""
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
        try:
            with self.store.write() as tx:
                for item in batch:
                    outcome = self._one(tx, item)
                    (failed if isinstance(outcome, _Refused) else done).append((item, outcome))
        except Exception as error:  # BEGIN, a write or COMMIT failed: nothing of the batch is kept
            refused = {id(item) for item, _ in failed}
            for item in batch:
                if id(item) not in refused:
                    _settle(item.future, error=error)
            done = []
        for item, value in done:
            _settle(item.future, value=value)
        for item, outcome in failed:
            _settle(item.future, error=outcome.error)

    def _one(self, tx: sqlite3.Connection, item: _Item[Any]) -> Any:
        """One request: its result, or ``_Refused`` with its own error. Its writes are a savepoint of their own
        (the service's ``store.write()`` nests as one), undone alone when it fails; its nonce stays recorded
        either way, as when the nonce had its own commit (a refused request cannot be replayed either)."""
        try:
            self.guard.admit_in(tx, item.signed, self.now())
            return item.work()
        except (sqlite3.OperationalError, StoreUnavailable):
            raise  # the database itself (full, I/O): the whole batch fails
        except Exception as error:  # answered as that request's own error
            return _Refused(error)


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
