"""GVariant text format: what ostree prints parses into Python values; what we write parses back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.ostree.gvariant_text import GVariantParseError, encode_string, encode_strings, parse

# What `ostree show --raw` printed for a commit made with --add-metadata (libostree 2022.7), shortened.
RAW_COMMIT = (
    "({'version': <'24.1'>, 'relengotron.manifest': <['a-1-1', 'b-2-2']>, "
    "'ostree.ref-binding': <['fedora/24/x86_64/atomic-host']>}, @ay [], @a(say) [], 'subj', '', "
    "uint64 1795602154, [byte 0x8a, 0xdf, 0x0d], [byte 0x44, 0x6a])"
)


def test_a_raw_commit() -> None:
    metadata, parent, related, subject, body, timestamp, tree, dirmeta = parse(RAW_COMMIT)
    assert metadata == {
        "version": "24.1",
        "relengotron.manifest": ["a-1-1", "b-2-2"],
        "ostree.ref-binding": ["fedora/24/x86_64/atomic-host"],
    }
    assert (parent, related, subject, body, timestamp) == ([], [], "subj", "", 1795602154)
    assert (tree, dirmeta) == (bytes([0x8A, 0xDF, 0x0D]), bytes([0x44, 0x6A]))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("<@mb nothing>", None),
        ("just 'x'", "x"),
        ("int32 -5", -5),
        ("3.5", 3.5),
        ("0x10", 16),
        ('"double \\"quoted\\""', 'double "quoted"'),
        ("'it\\'s \\u00e9\\n'", "it's é\n"),
        ("b'bytes'", b"bytes"),
        ("(1,)", (1,)),
        ("()", ()),
        ("@a{sv} {}", {}),
        ("{'a': <uint64 1>, 'b': <[<'x'>, <true>]>}", {"a": 1, "b": ["x", True]}),
        ("[('pkg', '0', '1.0', '1.fc24', 'noarch')]", [("pkg", "0", "1.0", "1.fc24", "noarch")]),
        ("objectpath '/org/x'", "/org/x"),
    ],
)
def test_values(text: str, value: object) -> None:
    assert parse(text) == value


@pytest.mark.parametrize("text", ["", "'unterminated", "[1, 2", "{'a' 1}", "bogus", "1 2", "'\\u12'", "(1 2)"])
def test_malformed_text_is_an_error(text: str) -> None:
    with pytest.raises(GVariantParseError, match="GVariant text"):
        parse(text)


def test_encoding() -> None:
    assert encode_strings([]) == "@as []"
    assert encode_strings(["a-1-1", "it's"]) == "['a-1-1', 'it\\'s']"
    assert encode_string("back\\slash\ttab\x01") == "'back\\\\slash\\ttab\\u0001'"


@given(st.lists(st.text()))
def test_string_arrays_round_trip(values: list[str]) -> None:
    assert parse(encode_strings(values)) == values


@given(st.text())
def test_strings_round_trip(value: str) -> None:
    assert parse(encode_string(value)) == value


def test_string_tuples_round_trip() -> None:
    """rpm-ostree's package list type ``a(sssss)``, as ``ostree commit --add-metadata`` takes it."""
    from relengotron.ostree.gvariant_text import encode_string_tuples, parse

    rows = [("bash", "0", "4.3.42", "5.fc24", "noarch"), ("it's", "0", "1", "1", "x86_64")]
    assert parse(encode_string_tuples(rows, 5)) == rows
    assert encode_string_tuples([], 5) == "@a(sssss) []"
    with pytest.raises(ValueError, match="5 strings"):
        encode_string_tuples([("a", "b")], 5)
