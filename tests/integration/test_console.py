"""daemon.console: progress and tables for people, plain lines off a TTY; log lines with journald priorities when
stderr is the journal (a real child process whose stderr is a file named by $JOURNAL_STREAM), plain otherwise."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from daemon import __main__ as cli
from daemon.console import PLAIN_FORMAT, priority, progress, table

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    """A stream that says it is a TTY, so rich draws on it."""

    def isatty(self) -> bool:
        return True


def test_plain_progress_reports_about_ten_times_and_at_the_end() -> None:
    out = io.StringIO()
    assert list(progress(range(100), 100, "work", out)) == list(range(100))
    lines = out.getvalue().splitlines()
    assert lines[0] == "work: 10/100" and lines[-2] == "work: 90/100" and lines[-1] == "work: 100 done"
    assert len(lines) == 10
    short = io.StringIO()
    assert list(progress(iter("abc"), 3, "few", short)) == ["a", "b", "c"]
    assert short.getvalue() == "few: 3 done\n"


def test_plain_progress_says_where_a_caller_stopped() -> None:
    out = io.StringIO()
    for n in progress(range(10), 10, "work", out):
        if n == 3:
            break
    assert out.getvalue().splitlines()[-1] == "work: stopped after 3 of 10"
    failing = io.StringIO()
    with pytest.raises(ZeroDivisionError):
        for n in progress(range(5), 5, "work", failing):
            1 / (2 - n)
    assert failing.getvalue() == "work: stopped after 2 of 5\n"


def test_progress_on_a_terminal_draws_a_bar_and_yields_everything() -> None:
    out = Terminal()
    assert list(progress(range(30), 30, "drain", out)) == list(range(30))
    drawn = out.getvalue()
    assert "\x1b[" in drawn and "drain" in drawn and "30/30" in drawn


def test_table_off_a_terminal_has_no_escapes_and_keeps_cells_whole() -> None:
    out = io.StringIO()
    path = "/var/lib/einvd/turnkey/UpCast/B2SSTORAGE/F0401/BAK/20261121/14-15"
    table("messages", ("message", "count"), [("F0401 DONE", 5), ("G0401 DONE", 1), (path, None), ("[bold]x", 2)],
          out)
    text = out.getvalue()
    assert "\x1b[" not in text
    assert text.splitlines()[0].strip() == "messages"
    rows = [line for line in text.splitlines() if "DONE" in line or path in line]
    assert [line.split()[0] + " " + line.split()[1] for line in rows[:2]] == ["F0401 DONE", "G0401 DONE"]
    assert rows[0].rstrip().endswith("5") and path in rows[2]
    assert "[bold]x" in text, "a cell was taken for rich markup"


def test_priorities_follow_sd_daemon() -> None:
    assert [priority(level) for level in (50, 40, 30, 20, 10)] == [2, 3, 4, 6, 7]
    assert priority(25) == 4 and priority(5) == 7 and priority(60) == 2


LOGGING_CHILD = textwrap.dedent("""
    import logging
    from daemon.console import setup_logging
    setup_logging(logging.DEBUG)
    log = logging.getLogger("einvd")
    log.error("drop unreachable")
    log.warning("paper low")
    log.info("serving")
    log.debug("tick")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("worker failed")
""")


def run_child(tmp_path: Path, code: str, journal: str | None) -> list[str]:
    """Run ``code`` with stderr going to a file; JOURNAL_STREAM "self" names that very file."""
    err = tmp_path / "stderr.log"
    with err.open("w") as stream:
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal is not None:
            found = os.fstat(stream.fileno())
            env["JOURNAL_STREAM"] = f"{found.st_dev}:{found.st_ino}" if journal == "self" else journal
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, stderr=stream, check=False, timeout=60)
    return err.read_text(encoding="utf-8").splitlines()


def test_under_systemd_every_line_carries_its_priority(tmp_path: Path) -> None:
    lines = run_child(tmp_path, LOGGING_CHILD, "self")
    assert lines[:4] == ["<3>einvd: drop unreachable", "<4>einvd: paper low", "<6>einvd: serving", "<7>einvd: tick"]
    trace = lines[4:]
    assert trace[0] == "<3>einvd: worker failed" and trace[-1] == "<3>ValueError: bad"
    assert len(trace) > 2 and all(line.startswith("<3>") for line in trace)


def test_elsewhere_lines_are_plain(tmp_path: Path) -> None:
    assert PLAIN_FORMAT == "%(levelname)s %(name)s: %(message)s"
    lines = run_child(tmp_path, LOGGING_CHILD, None)
    assert lines[:4] == ["ERROR einvd: drop unreachable", "WARNING einvd: paper low", "INFO einvd: serving",
                         "DEBUG einvd: tick"]
    assert not any(line.startswith("<") for line in lines)


def test_a_journal_stream_that_is_not_our_stderr_is_ignored(tmp_path: Path) -> None:
    """systemd.exec(5): stderr redirected after start (a shell inside the unit) is no longer the journal."""
    for other in ("1:2", "garbage", ""):
        assert run_child(tmp_path, LOGGING_CHILD, other)[0] == "ERROR einvd: drop unreachable"


def test_einvd_run_sets_up_journal_logging(tmp_path: Path) -> None:
    """The wiring: ``einvd run`` installs the journald formatter before it starts anything."""
    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "einvd.sqlite3"\n', encoding="utf-8")  # no seller: run stops at once
    code = textwrap.dedent(f"""
        import logging, sys
        from daemon.__main__ import main
        code = main(["--config", {str(config)!r}, "run"])
        logging.getLogger("einvd").warning("exit %s", code)
    """)
    journal = run_child(tmp_path, code, "self")
    assert journal[-1] == f"<4>einvd: exit {cli.EXIT_CONFIG}"
    assert run_child(tmp_path, code, None)[-1].startswith("WARNING einvd: exit ")


def write_box(root: Path) -> Path:
    config = root / "einvd.toml"
    config.write_text('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
                      '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n', encoding="utf-8")
    return config


def test_tracks_import_of_many_ranges_shows_progress_on_stderr_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_box(tmp_path)
    ranges = tmp_path / "ranges.csv"
    ranges.write_text("period,invoice_type,track,begin,end\n" + "".join(
        f"11512,07,AB,{n * 100:08d},{n * 100 + 49:08d}\n" for n in range(30)), encoding="utf-8")
    assert cli.main(["--config", str(config), "tracks", "import", str(ranges)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"added": [f"11512 07 AB{n * 100:08d}-{n * 100 + 49:08d}" for n in range(30)]}
    assert captured.err.splitlines()[-1] == "importing ranges: 30 done"


def test_tracks_list_and_doctor_draw_tables_on_a_terminal_and_json_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = str(write_box(tmp_path))
    assert cli.main(["--config", config, "tracks", "add", "--period", "11512", "--track", "AB", "--begin",
                     "00001000", "--end", "00001049"]) == 0
    capsys.readouterr()
    assert cli.main(["--config", config, "tracks", "list"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["remaining"] == 50  # a pipe: the JSON, as before
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli.main(["--config", config, "tracks", "list"]) == 0
    drawn = terminal.getvalue()
    assert "number ranges" in drawn and "AB00001000-00001049" in drawn and "remaining" in drawn
    cli.main(["--config", config, "doctor"])
    assert "einvd doctor" in terminal.getvalue() and "configuration" in terminal.getvalue()
    json_terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", json_terminal)
    assert cli.main(["--config", config, "tracks", "list", "--json"]) == 0
    assert json.loads(json_terminal.getvalue())[0]["next"] == "AB00001000"
    json_doctor = Terminal()
    monkeypatch.setattr(sys, "stdout", json_doctor)
    cli.main(["--config", config, "doctor", "--json"])
    assert {c["check"] for c in json.loads(json_doctor.getvalue())} >= {"configuration", "store", "ranges"}
