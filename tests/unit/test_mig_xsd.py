"""Schemas.from_sources: compile XSDs handed over as bytes, resolve includes in the mapping, report errors."""

from __future__ import annotations

import pytest
from lxml import etree
from test_mig_support import invoice, needs_spec, official, schema_sources, schemas, spec_file

from turnkey.errors import Problem
from turnkey.mig import render
from turnkey.mig.xsd import GENERIC_TYPES, SENT_CODES, Schemas, _readable_path, required_sources, schema_path

TYPES = b"""<?xml version="1.0"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xsd:simpleType name=" Digits "><xsd:restriction base="xsd:string"><xsd:pattern value="[0-9]+"/>
  </xsd:restriction></xsd:simpleType>
</xsd:schema>"""


def message_schema(include: str = "../common/Types.xsd") -> bytes:
    return f"""<?xml version="1.0"?>
<xsd:schema xmlns="urn:t" xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t"
    elementFormDefault="qualified">
  <xsd:include schemaLocation="{include}"/>
  <xsd:element name="Root"><xsd:complexType><xsd:sequence>
    <xsd:element name=" Value" type="Digits" maxOccurs="3"/>
  </xsd:sequence></xsd:complexType></xsd:element>
</xsd:schema>""".encode()


def fake(**overrides: bytes) -> Schemas:
    files = {"v41/X0001.xsd": message_schema(), "common/Types.xsd": TYPES, "README.md": b"not xml"}
    files.update({key.replace("__", "/").replace("_", "."): value for key, value in overrides.items()})
    return Schemas.from_sources(files, ("X0001",))


def test_required_sources_lists_the_message_schemas_and_generic_types() -> None:
    assert required_sources(("F0401",)) == ("v41/F0401.xsd", GENERIC_TYPES)
    assert required_sources() == (*(schema_path(code) for code in SENT_CODES), "common/GenericType_4.0.xsd")


def test_include_is_resolved_in_the_mapping_and_names_are_stripped() -> None:
    compiled = fake()
    assert compiled.codes == ("X0001",)
    assert compiled.validate("X0001", b'<Root xmlns="urn:t"><Value>12</Value><Value>3</Value></Root>') == []


def test_error_path_names_repeated_siblings() -> None:
    xml = b'<Root xmlns="urn:t">\n<Value>12</Value>\n<Value>x</Value></Root>'
    (problem,) = fake().validate("X0001", xml)
    assert problem.code == "mig.xsd"
    assert problem.field == "Root/Value[2]"
    assert problem.message.startswith("line 3: Element 'Value': [facet 'pattern'] The value 'x'")


def test_wrong_root_is_reported_at_the_root() -> None:
    (problem,) = fake().validate("X0001", b'<Other xmlns="urn:t"/>')
    assert (problem.code, problem.field) == ("mig.xsd", "Other")


def test_unreadable_document_is_one_xml_problem() -> None:
    message = (
        "not well-formed XML: Couldn't find end of Start Tag Root line 1, line 1, column 6 (<string>, line 1)"
    )
    assert fake().validate("X0001", b"<Root") == [Problem("mig.xml", "", message)]


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no schema compiled for 'F0401'"):
        fake().validate("F0401", b"<Root/>")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"common/Types.xsd": TYPES}, "cannot compile v41/X0001.xsd: 'v41/X0001.xsd'"),
        ({"v41/X0001.xsd": message_schema()}, "cannot compile v41/X0001.xsd: Document is empty"),
        ({"v41/X0001.xsd": message_schema("http://example.invalid/Types.xsd")}, "cannot compile"),
        ({"v41/X0001.xsd": b"<xsd:schema"}, "a schema file is not well-formed XML"),
    ],
    ids=["missing-schema", "missing-include", "remote-include", "malformed"],
)
def test_bad_sources_are_value_errors(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        Schemas.from_sources(files, ("X0001",))


def test_readable_path_falls_back_to_libxml2_path() -> None:
    root = etree.fromstring(b"<a><b/></a>")
    assert _readable_path(root, "/*/*[1]") == "a/b"
    assert _readable_path(root, "/*/*[9]") == "/*/*[9]"
    assert _readable_path(root, "count(/*)") == "count(/*)"
    assert _readable_path(root, "/*[") == "/*["


@needs_spec
def test_official_schemas_compile_from_the_minimal_sources() -> None:
    assert schemas().codes == SENT_CODES
    assert b'name=" BranchBan"' in spec_file("mig41/v41/E0402.xsd")
    assert schemas().validate("E0402", official("E0402_範本.xml")) == []


@needs_spec
def test_official_schema_reports_invoice_errors_with_paths() -> None:
    xml = (
        render(invoice())
        .replace(b"<TaxRate>0.05<", b"<TaxRate>0.07<")
        .replace(b"<Quantity>2<", b"<Quantity>-<")
    )
    problems = schemas().validate("F0401", xml)
    assert [(p.code, p.field) for p in problems] == [
        ("mig.xsd", "Invoice/Details/ProductItem[1]/Quantity"),
        ("mig.xsd", "Invoice/Amount/TaxRate"),
    ]
    assert "{urn:" not in problems[1].message and "'0.07'" in problems[1].message


@needs_spec
def test_other_v41_schemas_compile_when_asked() -> None:
    compiled = Schemas.from_sources(schema_sources(("E0401", "G0701")), ("E0401", "G0701"))
    assert compiled.codes == ("E0401", "G0701")
