"""MIG 4.1 XML: render the messages einvd sends, parse what it reads.

- ``render(message) -> bytes`` / ``parse(xml) -> message`` for F0401, F0501, F0701, G0401, G0501 and E0402;
- ``parse_e0501``, ``parse_summary_result``, ``parse_process_result`` for what Turnkey downloads;
- ``Schemas.from_sources(files)`` (the official XSDs, as bytes) and ``preflight(message, xml, schemas)``.
"""

from turnkey.mig.check import SIZE_LIMIT, invoice_checks, preflight, render_checked
from turnkey.mig.e0501 import Allocation, parse_e0501
from turnkey.mig.parse import parse
from turnkey.mig.render import code_of, render
from turnkey.mig.results import ProcessResult, SummaryResult, parse_process_result, parse_summary_result
from turnkey.mig.xsd import Schemas, required_sources

__all__ = [
    "SIZE_LIMIT",
    "Allocation",
    "ProcessResult",
    "Schemas",
    "SummaryResult",
    "code_of",
    "invoice_checks",
    "parse",
    "parse_e0501",
    "parse_process_result",
    "parse_summary_result",
    "preflight",
    "render",
    "render_checked",
    "required_sources",
]
