"""The composition root: the one place that turns ``Settings`` into running parts.

Devices and remotes are chosen by URL here and nowhere else, one scheme table per kind (``printer.TRANSPORTS``,
``scanner.SCANNERS``, ``drop.DROPS``); ``sim:`` and ``memory:`` reach ``hw_sim``. ``einvd run``, the demo,
doctor, the CLI verbs (``daemon.commands``) and the benchmarks all build through it.
"""

from daemon.wiring.core import (
    api_context,
    archiver,
    blank_job,
    corrections,
    daily_reports,
    deadline_policy,
    invoice_service,
    load_schemas,
    notifier,
    open_store,
    sharing,
)
from daemon.wiring.drop import check_drop, open_drop, open_simulator, pump_worker, result_trigger, watch_worker
from daemon.wiring.printer import (
    OpenedPrinter,
    open_printer,
    open_transport,
    print_policy,
    print_preview,
    print_queue,
    printer_profile,
    proof_builder,
    proof_printer,
)
from daemon.wiring.scanner import OpenedScanner, open_scanner

__all__ = [
    "OpenedPrinter", "OpenedScanner", "api_context", "archiver", "blank_job", "check_drop", "corrections",
    "daily_reports", "deadline_policy", "invoice_service", "load_schemas", "notifier", "open_drop", "open_printer",
    "open_scanner", "open_simulator", "open_store", "open_transport", "print_policy", "print_preview", "print_queue",
    "printer_profile", "proof_builder", "proof_printer", "pump_worker", "result_trigger", "sharing", "watch_worker",
]
