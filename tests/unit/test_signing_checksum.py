"""Fedora CHECKSUM files: rendering, reading back plain and clear-signed text, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.signing.checksum import (
    ChecksumEntry,
    ChecksumFormatError,
    is_clearsigned,
    parse_checksums,
    render_checksums,
    signed_body,
)

A = ChecksumEntry("Fedora-Atomic-24.x86_64.iso", "SHA256", "a" * 64, 1024)
B = ChecksumEntry("Fedora-Cloud-Base-24.x86_64.raw.xz", "SHA256", "0123456789abcdef" * 4, None)


def test_render_is_sorted_with_size_comments() -> None:
    assert render_checksums([B, A]) == (
        "# Fedora-Atomic-24.x86_64.iso: 1024 bytes\n"
        f"SHA256 (Fedora-Atomic-24.x86_64.iso) = {'a' * 64}\n"
        f"SHA256 (Fedora-Cloud-Base-24.x86_64.raw.xz) = {'0123456789abcdef' * 4}\n"
    )


def test_clearsigned_text_is_read_through_its_armor() -> None:
    body = render_checksums([A, B])
    signed = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
        + body.replace("# ", "- # ", 1)  # gpg dash-escapes lines starting with '-' only, but the reader must cope
        + "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"
    )
    assert is_clearsigned(signed) and not is_clearsigned(body)
    assert signed_body(signed) == body
    assert parse_checksums(signed) == {A.name: A, B.name: B}


def test_signature_block_missing_is_an_error() -> None:
    with pytest.raises(ChecksumFormatError, match="without a signature block"):
        signed_body("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSHA256 (a) = b\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SHA256 (x.iso) = 1234\n", "has 4 digits"),
        ("sha256 x.iso\n", "line 1: not a checksum line"),
        (f"SHA256 (x.iso) = {'a' * 64}\nSHA256 (x.iso) = {'b' * 64}\n", "listed twice"),
        (f"SHA256 (../x.iso) = {'a' * 64}\n", "bad image file name"),
    ],
)
def test_bad_lines_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ChecksumFormatError, match=message):
        parse_checksums(text)


def test_render_rejects_bad_digests_and_duplicates() -> None:
    with pytest.raises(ChecksumFormatError, match="bad SHA256 digest"):
        render_checksums([ChecksumEntry("x", "SHA256", "xyz", None)])
    with pytest.raises(ChecksumFormatError, match="listed twice"):
        render_checksums([A, A])


names = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-._+"), min_size=1)


@given(
    st.dictionaries(
        names.filter(lambda n: n not in (".", "..")),
        st.tuples(st.binary(min_size=32, max_size=32), st.one_of(st.none(), st.integers(0, 2**40))),
        max_size=10,
    )
)
def test_render_then_parse_round_trips(images: dict[str, tuple[bytes, int | None]]) -> None:
    entries = [ChecksumEntry(n, "SHA256", d.hex(), s) for n, (d, s) in images.items()]
    assert parse_checksums(render_checksums(entries)) == {e.name: e for e in entries}
