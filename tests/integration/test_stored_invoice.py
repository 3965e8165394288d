"""A stored invoice is a fact: it is loaded, never validated again (issue #14 item 4).

An invoice stored under today's rules must render the same F0401, print the same proof and archive the same
entry after a release tightens a rule that would now refuse its document.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import KEY, SELLER, START, sale

import turnkey.validate
from daemon.archive import Archiver
from daemon.messages import build_f0401
from daemon.printing import PrintPolicy, ProofBuilder
from daemon.services import InvoiceService, stored_invoice
from daemon.store import Store, invoices
from daemon.wiring.printer import slip_encoder
from drivers.printer.encode import PrinterProfile
from hw_sim.clock import FakeClock
from turnkey.errors import InvoiceInvalid, Problem
from turnkey.mig import render
from turnkey.model import InvoiceDraft
from turnkey.period import Period


def _tightened(found: turnkey.validate._Found, draft: InvoiceDraft) -> None:
    """A rule a later release might add: no printed proofs for consumers at all."""
    found.add("print", "tightened", "printed proofs are no longer allowed")


def renderings(store: Store, number: str, tmp_path: Path, name: str) -> tuple[bytes, bytes, bytes, bytes]:
    """(F0401 XML, proof ESC/POS, copy ESC/POS, archive zip) of the stored invoice ``number``."""
    record = invoices.by_number(store.connection(), number)
    assert record is not None
    xml = render(stored_invoice(record, SELLER))
    builder = ProofBuilder(SELLER, KEY, "1", slip_encoder(PrinterProfile()), PrintPolicy())
    proof, copy = builder.job_bytes(record, False), builder.job_bytes(record, True)
    archiver = Archiver(store, SELLER, {"F0401": build_f0401}, None, tmp_path / name)
    archived = archiver.export(Period.of(START), datetime.fromisoformat("2027-02-20T10:00:00+08:00"))
    return xml, proof, copy, Path(archived["path"]).read_bytes()


def test_a_tightened_rule_does_not_change_what_a_stored_invoice_renders_prints_and_archives(
        service: InvoiceService, store: Store, clock: FakeClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    number = service.issue(sale("POS1-STORED-1", print=True)).body["invoice_number"]
    with store.write() as tx:  # as if the pump had dropped it: the archive then rebuilds its F0401
        tx.execute("UPDATE outbox SET state = 'DONE', outcome = 'accepted' WHERE reference = ?", (number,))
    before = renderings(store, number, tmp_path, "before")
    assert b"<InvoiceNumber>" in before[0] and before[1] and before[3]

    monkeypatch.setattr(turnkey.validate, "_check_matrix", _tightened)
    record = invoices.by_number(store.connection(), number)
    assert record is not None
    with pytest.raises(InvoiceInvalid) as refused:  # the stored document would be refused if judged today
        turnkey.validate.parse_document(json.loads(record.document))
    assert Problem("print.tightened", "print", "printed proofs are no longer allowed") in refused.value.problems

    after = renderings(store, number, tmp_path, "after")
    assert after == before  # the F0401, the proof, the 補印 copy and the archive, byte for byte
