"""What a refused message means for the merchant and what to do next: the text of the ``rejected.<type>``,
``blocked.refused`` and ``verdict.stranger`` alerts. Pure: plain values in, a sentence out.

Alert kinds (stable; the README's alert table lists them):

- ``rejected.F0401``: the sale is not on the platform; fix the invoice and send it again under the same number.
- ``rejected.F0501``: the void is not recorded; the invoice is still live on the platform (its VAT is still
  declared and it is still in the lottery): fix and retry, or issue an allowance instead, or call the platform.
- ``rejected.F0701``: the cancel (註銷) is not recorded; a re-issue under the same number will collide with the
  live invoice until it is.
- ``rejected.G0401``: the allowance is not on the platform, so the sale is not adjusted; fix and send it again.
- ``rejected.G0501``: the allowance's void is not recorded; the allowance still reduces the sale on the platform.
- ``rejected.E0402``: the blank numbers are unreported; fix and resend before the 10th of the period's next month.
- ``blocked.refused``: a message waits behind a refused one of the same invoice and will not leave until a person
  settles the refused one.
- ``verdict.stranger``: a verdict names a number of this box's own ranges (or allowance prefix) that einvd never
  sent: another system is using this box's numbers, or the database lost a row.

A verdict is ``rejected`` by the platform (with its code) or ``rejected_local`` by Turnkey's own checks (the file
went to ERR). The code's meaning is domain.md §3.2 (Turnkey 3.2.0 ``Turnkey_zh_TW.properties``).
"""

from __future__ import annotations

REJECTED_KINDS = {code: f"rejected.{code}" for code in ("F0401", "F0501", "F0701", "G0401", "G0501", "E0402")}
BLOCKED = "blocked.refused"
STRANGER = "verdict.stranger"
ALERT_KINDS = (*REJECTED_KINDS.values(), BLOCKED, STRANGER)

WHAT = {
    "F0401": "invoice",
    "F0501": "void (作廢) of invoice",
    "F0701": "cancel (註銷) of invoice",
    "G0401": "allowance (折讓)",
    "G0501": "void of allowance",
    "E0402": "blank-number report (E0402)",
}

MEANING = {
    "F0401": ("the sale is not on the platform",
              "fix the invoice and send it again under the same number"),
    "F0501": ("the invoice is still live on the platform: its VAT is still declared (overstated) and it is still "
              "in the lottery",
              "fix the void and retry, or issue an allowance instead, or call the platform"),
    "F0701": ("the cancel is not recorded, so the invoice is still live on the platform and a re-issue under the "
              "same number will collide with it",
              "fix the cancel and send it again before the re-issue, or call the platform"),
    "G0401": ("the sale is not adjusted on the platform (the buyer's allowance does not exist there)",
              "fix the allowance and send it again"),
    "G0501": ("the allowance is still live on the platform and still reduces the sale",
              "fix the allowance's void and retry, or call the platform"),
    "E0402": ("the blank numbers of the period are unreported",
              "fix the report and send it again before the 10th of the period's next month"),
}

CODES = {
    "E0101": "the seller may not issue e-invoices",
    "E0102": "the number is not from a range allocated to this seller",
    "E0103": "the lines do not add up to the total",
    "E0105": "the total may not be zero",
    "E0106": "a line's quantity may not be zero",
    "E0107": "the track does not match the invoice date's period",
    "E0201": "a duplicate message",
    "E0202": "the invoice or allowance it refers to does not exist on the platform",
    "E0203": "the invoice or allowance it refers to does not exist on the platform",
    "E0204": "the invoice or allowance it refers to does not exist on the platform",
    "E0205": "the invoice or allowance it refers to does not exist on the platform",
    "E0206": "the invoice or allowance it refers to does not exist on the platform",
    "E0207": "the data has expired (past its time window)",
    "E0208": "the data is not of the current period",
    "E0209": "invoice dates and numbers must go in order",
    "E0220": "duplicate line sequence numbers",
    "E0221": "the allowance exceeds what is left of the invoice's amount",
    "E0222": "the allowance exceeds what is left of the invoice's amount (pending allowances included)",
    "E0223": "the allowance exceeds what is left of the invoice's amount",
    "E0228": "a zero-rated invoice needs its customs clearance mark",
    "E0229": "the invoice does not exist on the platform",
    "E0309": "the allowance total exceeds the invoice amount",
    "E0401": "the invoice was returned",
    "E0402": "the invoice is already voided",
    "E0403": "the invoice of the allowance is voided",
    "E0609": "the blank ranges overlap",
    "E0612": "the blank ranges overlap",
    "E0613": "the numbers are not allocated to this seller",
    "E0614": "only the head office may send this",
    "E0615": "only part of the report was accepted",
    "E1002": "the invoice date is too early",
    "E1003": "the invoice number was issued twice",
    "E1004": "outside the time the message may be sent",
}
"""Selected platform codes (domain.md §3.2); ranges there (E0202-E0206, E0211-E0219, ...) are named by family."""

_FAMILIES = (
    (("E0211", "E0219"), "the document's state on the platform does not allow this (lifecycle)"),
    (("E0224", "E0227"), "special-tax (08) invoice rules"),
    (("E0131", "E0139"), "routing, transport or file problem between Turnkey and the platform"),
    (("E0301", "E0315"), "signature, XML parse or wrong message family"),
    (("E0501", "E0506"), "exchange or cross-border restriction"),
    (("E0601", "E0616"), "track report (E0401/E0402) error"),
)


def code_meaning(code: str) -> str:
    """What a platform code means (domain.md §3.2), ``""`` when unknown."""
    code = code.strip().upper()
    if code in CODES:
        return CODES[code]
    for (low, high), meaning in _FAMILIES:
        if low <= code <= high and len(code) == len(low):
            return meaning
    return ""


def rejection_text(message_type: str, subject: str, local: bool, code: str, reason: str) -> str:
    """The alert of a refused message: what was refused and by whom, why (the code's meaning when known), what
    it means for the merchant and what to do. ``subject``: the number(s) it concerns, as a person names them."""
    what = WHAT.get(message_type, message_type)
    means, todo = MEANING.get(message_type, ("the message is not on the platform", "fix it and send it again"))
    who = "Turnkey refused" if local else "the platform rejected"
    meaning = code_meaning(code)
    why = " ".join(part for part in (code, f"({meaning})" if meaning else "", reason[:200]) if part)
    where = " (the file went to Turnkey's ERR folder; the reason is in Turnkey's log)" if local else ""
    return f"{who} the {message_type} {what} {subject}{where}: {why or 'no reason given'}. " \
           f"This means {means}. What to do: {todo}."


def blocked_text(waiting_type: str, waiting_subject: str, refused_type: str, refused_subject: str,
                 refused_state: str) -> str:
    """The alert of a message held back behind a refused message of the same invoice."""
    how = {"rejected_local": "refused by Turnkey", "rejected": "rejected by the platform",
           "failed": "refused by einvd's own checks"}.get(refused_state, refused_state)
    return (f"the {waiting_type} {WHAT.get(waiting_type, '')} {waiting_subject} waits behind the {refused_type} "
            f"{WHAT.get(refused_type, '')} {refused_subject}, which was {how}: it will not leave until that is "
            "settled (fix and resend the refused message, or call the platform)").replace("  ", " ")


def stranger_text(message_type: str, number: str, status: str, code: str) -> str:
    """The alert of a verdict on a number of this box's own that einvd never sent."""
    said = f"{status} {code}".strip()
    return (f"the platform's verdict ({said}) on {message_type or 'a message'} {number} names a number of this "
            "box's own ranges that einvd never sent: another system is using this box's numbers, or the "
            "database lost a row (compare with the backups and Turnkey's log)")
