"""What the API's routes use (``ApiContext``), and how ``einvd run`` builds it from the settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from daemon.allowances import AllowanceService
from daemon.api.auth import NonceGuard
from daemon.api.batch import Finisher, IssueBatcher
from daemon.api.keys import ApiKey
from daemon.lifecycle import LifecycleService, ProofPrinter
from daemon.scans import ScanHub
from daemon.services import InvoiceService


@dataclass
class ApiContext:
    """What the routes use; ``now`` gives Unix seconds for the signature window."""

    invoices: InvoiceService
    lifecycle: LifecycleService
    allowances: AllowanceService
    keys: Mapping[str, ApiKey]
    guard: NonceGuard
    now: Callable[[], float] = time.time
    scans: ScanHub | None = None
    echo: bool = False
    batcher: IssueBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = IssueBatcher(self.invoices.store, self.guard, self.now, finisher=Finisher())

    @classmethod
    def build(cls, invoices: InvoiceService, keys: Mapping[str, ApiKey], *, cutoff_day: int = 13,
              allowance_prefix: str = "AL", printer: ProofPrinter | None = None, scans: ScanHub | None = None,
              now: Callable[[], float] = time.time, echo: bool = False) -> ApiContext:
        """Lifecycle, allowances and the replay guard wired around one issue service."""
        lifecycle = LifecycleService(invoices, cutoff_day, printer)
        return cls(invoices, lifecycle, AllowanceService(lifecycle, allowance_prefix), keys,
                   NonceGuard(invoices.store.path), now=now, scans=scans, echo=echo)

    def close(self) -> None:
        if self.batcher.finisher is not None:
            self.batcher.finisher.close()
        self.guard.close()
