"""The binary GVariant codec for OSTree signatures and summaries: known vectors, round trips, bad input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.ostree import gvariant_binary

# A real summary written by `ostree summary -u` (libostree 2022.7) for an archive repo with four refs:
# 610 bytes, so its framing offsets are two bytes wide.
SUMMARY = base64.b64decode(
    "ZmVkb3JhLzI0L3g4Nl82NC9hAAAAAAAAhgAAAAAAAAAc7BmgcvC2mCe+7Wq3TMmUbpdQThrH5M0KQa9Nwnmsb29zdHJlZS5jb21taXQudGltZXN0YW1wAAAAAABrBrmOAHQYIygTAABmZWRvcmEvMjQveDg2XzY0L2F0b21pYy1ob3N0AAAAAI4AAAAAAAAA70T5999muXobw+oOH70xYLfmg9ZTvdr24dIe43wJalpvc3RyZWUuY29tbWl0LnRpbWVzdGFtcAAAAAAAawa2aAB0GCMoHQAAZmVkb3JhLzI0L3g4Nl82NC9iAAAAAAAAhgAAAAAAAADl3TemEYtUxrJdSbwTE0DbsYullLnUGSD+Lwx2T0jMZW9zdHJlZS5jb21taXQudGltZXN0YW1wAAAAAABrBrmOAHQYIygTAABmZWRvcmEvMjQveDg2XzY0L2MAAAAAAACGAAAAAAAAANCh9xXniFO/vRaJmhXAV17UWtJ+pIVPAkwG1URiBTfHb3N0cmVlLmNvbW1pdC50aW1lc3RhbXAAAAAAAGsGuY4AdBgjKBNmANYAPgGmAQAAb3N0cmVlLnN1bW1hcnkubW9kZQAAAAAAYXJjaGl2ZS16MgAAcxQAAG9zdHJlZS5zdW1tYXJ5Lmxhc3QtbW9kaWZpZWQAAAAAAAAAAGsGuY4AdB0AAAAAAG9zdHJlZS5zdW1tYXJ5LnRvbWJzdG9uZS1jb21taXRzAAAAAAAAAAAAAGIhAAAAAG9zdHJlZS5zdW1tYXJ5LmluZGV4ZWQtZGVsdGFzAAAAAQBiHiZThKyuAQ=="
)


def test_summary_refs_reads_what_ostree_wrote() -> None:
    assert gvariant_binary.summary_refs(SUMMARY) == {
        "fedora/24/x86_64/a": "1cec19a072f0b69827beed6ab74cc9946e97504e1ac7e4cd0a41af4dc279ac6f",
        "fedora/24/x86_64/atomic-host": "ef44f9f7df66b97a1bc3ea0e1fbd3160b7e683d653bddaf6e1d21ee37c096a5a",
        "fedora/24/x86_64/b": "e5dd37a6118b54c6b25d49bc131340dbb18ba594b9d41920fe2f0c764f48cc65",
        "fedora/24/x86_64/c": "d0a1f715e78853bfbd16899a15c0575ed45ad27ea4854f024c06d544620537c7",
    }


def test_summary_metadata_dictionary_is_readable() -> None:
    metadata = gvariant_binary.summary_metadata(SUMMARY)
    assert metadata["ostree.summary.mode"] == ("s", b"archive-z2\0")
    assert metadata["ostree.summary.indexed-deltas"] == ("b", b"\x01")
    assert gvariant_binary.summary_deltas(SUMMARY) == frozenset()


def test_known_encoding_of_one_signature() -> None:
    # {"ostree.gpgsigs": <[b"ab"]>}: key + NUL, padding to 8, "ab" + its end offset, NUL, "aay", key end offset;
    # then the entry's end offset.
    entry = b"ostree.gpgsigs\0" + b"\0" + b"ab\x02" + b"\0aay" + bytes([15])
    assert gvariant_binary.add_gpg_signature(None, b"ab") == entry + bytes([len(entry)])
    assert gvariant_binary.gpg_signatures(entry + bytes([len(entry)])) == [b"ab"]


def test_empty_values() -> None:
    assert gvariant_binary.encode_bytestrings([]) == b""
    assert gvariant_binary.decode_bytestrings(b"") == []
    assert gvariant_binary.encode_metadata({}) == b""
    assert gvariant_binary.gpg_signatures(None) == [] and gvariant_binary.gpg_signatures(b"") == []


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_bytestrings_round_trip(items: list[bytes]) -> None:
    assert gvariant_binary.decode_bytestrings(gvariant_binary.encode_bytestrings(items)) == items


entries = st.dictionaries(
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1, max_size=30),
    st.tuples(st.sampled_from(["s", "ay", "aay", "t", "a{sv}"]), st.binary(max_size=400)),
    max_size=8,
)


@given(entries)
def test_metadata_round_trip(metadata: dict[str, tuple[str, bytes]]) -> None:
    # A value never ends in a way the variant separator could be confused with: the type follows the last NUL.
    assert gvariant_binary.decode_metadata(gvariant_binary.encode_metadata(metadata)) == metadata


@given(entries, st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=5))
def test_adding_signatures_keeps_everything_else(metadata, signatures) -> None:
    metadata = {k: v for k, v in metadata.items() if k != gvariant_binary.GPGSIGS}
    blob = gvariant_binary.encode_metadata(metadata)
    for signature in signatures:
        blob = gvariant_binary.add_gpg_signature(blob, signature)
    decoded = gvariant_binary.decode_metadata(blob)
    assert gvariant_binary.gpg_signatures(blob) == signatures
    assert {k: v for k, v in decoded.items() if k != gvariant_binary.GPGSIGS} == metadata


def test_wrong_type_and_garbage_are_errors() -> None:
    wrong = gvariant_binary.encode_metadata({gvariant_binary.GPGSIGS: ("s", b"x\0")})
    with pytest.raises(gvariant_binary.GVariantError, match="type 's'"):
        gvariant_binary.gpg_signatures(wrong)
    with pytest.raises(gvariant_binary.GVariantError):
        gvariant_binary.decode_metadata(b"\xff\xff\xff")
    with pytest.raises(gvariant_binary.GVariantError):
        gvariant_binary.summary_refs(b"\x00\x01")
