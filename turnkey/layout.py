"""Where things live in a Turnkey work folder (domain.md §5.2), as templates because task paths vary per site.

Templates take ``{family}`` (B2SSTORAGE for F/G storage messages, B2PMESSAGE for E04xx) and ``{code}``.
Every path is relative to the work folder and uses ``/`` whatever the system (SFTP paths do too).
Pure data: the configuration builds it, the drop drivers (local folder, SFTP) resolve paths with it.

Below ERR/BAK and the result folders Turnkey 3.2.0 files by ``<yyyyMMdd>/<HH>/`` (SummaryResult by
``<transDate>/<yyyyMMddHH>/``), an older Turnkey by ``<yyyyMMdd>/<HH-HH>/`` (domain.md §5.2, §5.5a): the listings
walk ``RESULT_DEPTH`` folder levels below each folder, which reaches both.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = {
    "F0401": "B2SSTORAGE", "F0501": "B2SSTORAGE", "F0701": "B2SSTORAGE", "G0401": "B2SSTORAGE",
    "G0501": "B2SSTORAGE", "E0401": "B2PMESSAGE", "E0402": "B2PMESSAGE",
}
"""UpCast folder family of each message einvd may send."""

MOVED = ("ERR", "BAK")
RESULT_KINDS = ("SummaryResult", "ProcessResult", "E0501")
RESULT_DEPTH = 3
"""Folder levels listed below ERR, BAK and each result folder (two are used; one more for a site's extra level)."""


@dataclass(frozen=True)
class Layout:
    """The folder templates of one site; construction refuses codes, templates and folders that cannot work."""

    src: str = "UpCast/{family}/{code}/SRC"
    err: str = "UpCast/{family}/{code}/ERR"
    bak: str = "UpCast/{family}/{code}/BAK"
    staging: str = "UpCast/.einvd-staging"
    summary_results: str = "Unpack/BAK/SummaryResult"
    process_results: str = "Unpack/BAK/ProcessResult"
    e0501: str = "Unpack/BAK/E0501"
    codes: tuple[str, ...] = ("F0401", "F0501", "F0701", "G0401", "G0501", "E0402")
    quarantine: str = "Unpack/.einvd-quarantine"

    def __post_init__(self) -> None:
        for code in self.codes:
            if code not in FAMILIES:
                raise ValueError(f"unknown message code {code!r}")
        for template in (self.src, self.err, self.bak):
            template.format(family="B2SSTORAGE", code="F0401")  # KeyError/ValueError for a bad template
        if self.staging.strip("/") in {self.folder("SRC", code) for code in self.codes}:
            raise ValueError("the staging folder must lie outside every SRC folder")
        kept = self.quarantine.strip("/")
        watched = [self.folder("SRC", code) for code in self.codes]
        watched += [folder for kind in RESULT_KINDS if (folder := self.result_folder(kind))]
        if not kept or any(kept == folder or kept.startswith(f"{folder}/") for folder in watched):
            raise ValueError("the quarantine folder must be set and lie outside every result and SRC folder")

    def quarantined(self, path: str) -> str:
        """Where the copy of a refused file goes: the file's own path below the quarantine folder."""
        return f"{self.quarantine.strip('/')}/{path.strip('/')}"

    def folder(self, which: str, code: str) -> str:
        """``SRC``, ``ERR`` or ``BAK`` of a message code; ValueError for a code einvd does not send."""
        if code not in FAMILIES:
            raise ValueError(f"unknown message code {code!r}")
        template = {"SRC": self.src, "ERR": self.err, "BAK": self.bak}[which]
        return template.format(family=FAMILIES[code], code=code).strip("/")

    def result_folder(self, kind: str) -> str:
        """Folder of downloaded results of ``kind`` ('' when this site does not keep them)."""
        return {"SummaryResult": self.summary_results, "ProcessResult": self.process_results,
                "E0501": self.e0501}[kind].strip("/")

    def required(self) -> list[str]:
        """Every folder the daemon relies on: staging, SRC/ERR/BAK of each code, the result folders."""
        folders = [self.staging.strip("/")]
        folders += [self.folder(which, code) for code in self.codes for which in ("SRC", *MOVED)]
        folders += [folder for kind in RESULT_KINDS if (folder := self.result_folder(kind))]
        return folders


def check_name(name: str) -> str:
    """A file name as dropped: ASCII letters, digits, ``_-.``, ending in ``.xml``, not hidden."""
    if not name.endswith(".xml") or name.startswith(".") or not name.isascii():
        raise ValueError(f"bad drop file name {name!r}")
    if not all(ch.isalnum() or ch in "_-." for ch in name):
        raise ValueError(f"bad drop file name {name!r}")
    return name
