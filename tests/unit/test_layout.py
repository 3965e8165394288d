"""Turnkey's folder tree as templates: resolved paths, what a site may configure, and drop file names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnkey.layout import FAMILIES, Layout, check_name


def test_default_tree_resolves_each_folder_of_each_code() -> None:
    layout = Layout()
    assert layout.folder("SRC", "F0401") == "UpCast/B2SSTORAGE/F0401/SRC"
    assert layout.folder("ERR", "E0402") == "UpCast/B2PMESSAGE/E0402/ERR"
    assert layout.folder("BAK", "G0501") == "UpCast/B2SSTORAGE/G0501/BAK"
    assert layout.result_folder("SummaryResult") == "Unpack/BAK/SummaryResult"
    assert layout.result_folder("ProcessResult") == "Unpack/BAK/ProcessResult"  # read by default (issue 19)
    assert Layout(process_results="").result_folder("ProcessResult") == ""
    assert layout.result_folder("E0501") == "Unpack/BAK/E0501"


def test_required_lists_staging_every_message_folder_and_kept_results_only() -> None:
    required = Layout(codes=("F0401",), process_results="").required()
    assert required == ["UpCast/.einvd-staging", "UpCast/B2SSTORAGE/F0401/SRC", "UpCast/B2SSTORAGE/F0401/ERR",
                        "UpCast/B2SSTORAGE/F0401/BAK", "Unpack/BAK/SummaryResult", "Unpack/BAK/E0501"]
    with_process = Layout(codes=("F0401",), process_results="/Unpack/BAK/ProcessResult/").required()
    assert with_process[-3:] == ["Unpack/BAK/SummaryResult", "Unpack/BAK/ProcessResult", "Unpack/BAK/E0501"]


def test_custom_templates_and_slashes_are_trimmed() -> None:
    layout = Layout(src="/tasks/{code}/in/", err="tasks/{family}/{code}/err", bak="tasks/{code}/done",
                    staging="tasks/.tmp", quarantine="/kept/")
    assert layout.folder("SRC", "F0501") == "tasks/F0501/in"
    assert layout.folder("ERR", "E0402") == "tasks/B2PMESSAGE/E0402/err"
    assert layout.quarantined("/Unpack/BAK/E0501/x.xml") == "kept/Unpack/BAK/E0501/x.xml"


def test_a_code_einvd_does_not_send_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown message code 'X0000'"):
        Layout(codes=("X0000",))
    with pytest.raises(ValueError, match="unknown message code 'Z9999'"):
        Layout().folder("SRC", "Z9999")
    assert "E0401" in FAMILIES and Layout(codes=("E0401",)).folder("SRC", "E0401") == "UpCast/B2PMESSAGE/E0401/SRC"


@pytest.mark.parametrize("field", ["src", "err", "bak"])
def test_a_template_with_an_unknown_placeholder_is_refused(field: str) -> None:
    with pytest.raises(KeyError):
        Layout(**{field: "UpCast/{folder}/SRC"})


def test_staging_inside_a_src_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="staging folder must lie outside"):
        Layout(staging="/UpCast/B2SSTORAGE/F0401/SRC/")


@pytest.mark.parametrize("quarantine", ["", "/", "UpCast/B2SSTORAGE/F0401/SRC", "Unpack/BAK/E0501/kept",
                                        "Unpack/BAK/SummaryResult"])
def test_quarantine_must_be_set_and_outside_every_watched_folder(quarantine: str) -> None:
    with pytest.raises(ValueError, match="quarantine folder must be set"):
        Layout(quarantine=quarantine)


def test_quarantine_beside_a_watched_folder_with_a_common_prefix_is_fine() -> None:
    assert Layout(quarantine="Unpack/BAK/E0501-kept").quarantine == "Unpack/BAK/E0501-kept"
    with pytest.raises(ValueError, match="quarantine folder"):
        Layout(process_results="Unpack/PR", quarantine="Unpack/PR/kept")


@pytest.mark.parametrize("name", ["F0401_AB12345678.xml", "a-b.c_1.xml", "E0402.xml"])
def test_check_name_passes_plain_xml_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["F0401.txt", "F0401.XML", ".hidden.xml", "發票.xml", "a b.xml", "../a.xml",
                                  "a/b.xml", ""])
def test_check_name_refuses_anything_else(name: str) -> None:
    with pytest.raises(ValueError, match="bad drop file name"):
        check_name(name)


@given(st.text(max_size=12))
def test_check_name_passes_only_safe_names(stem: str) -> None:
    name = f"{stem}.xml"
    safe = bool(name) and not name.startswith(".") and all(c.isascii() and (c.isalnum() or c in "_-.") for c in name)
    if safe:
        assert check_name(name) == name
    else:
        with pytest.raises(ValueError):
            check_name(name)
