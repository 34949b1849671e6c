"""Reading gpgv status output and armored blocks (the pure half of signature checking)."""

from __future__ import annotations

import base64

import pytest

from relengotron.signing.verify import PublicKeyError, SignatureCheck, dearmor, parse_status

FPR = "550FBB98BBBE311340AF34BB0115D4794CECB0C0"


def test_good_bad_and_unknown_signatures() -> None:
    status = f"""[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED {FPR} 0
[GNUPG:] GOODSIG 0115D4794CECB0C0 T <t@e.test>
[GNUPG:] VALIDSIG {FPR} 2026-11-25 1795602257 0 4 0 1 10 00 {FPR}
[GNUPG:] NEWSIG
[GNUPG:] BADSIG 0115D4794CECB0C0 T <t@e.test>
[GNUPG:] NEWSIG
[GNUPG:] ERRSIG A4CA1DD50B6B8BA6 1 10 00 1795602257 9 ABC82648179F6A3ECEA9DBF8A4CA1DD50B6B8BA6
[GNUPG:] NO_PUBKEY A4CA1DD50B6B8BA6
"""
    check = parse_status(status)
    assert check == SignatureCheck(good=(FPR,), bad=("0115D4794CECB0C0",), unknown=("A4CA1DD50B6B8BA6",))
    assert check.good_by(FPR.lower()) and not check.good_by("0" * 40)


def test_no_signature_at_all() -> None:
    assert parse_status("gpgv: no signature found\n") == SignatureCheck((), (), ())


def test_dearmor_drops_headers_and_crc() -> None:
    payload = bytes(range(200))
    lines = base64.b64encode(payload).decode()
    armored = (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n"
        + "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
        + "\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n"
    )
    assert dearmor(armored) == payload


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN PGP X-----\n\n!!!\n-----END PGP X-----"])
def test_dearmor_rejects_what_is_not_armor(text: str) -> None:
    with pytest.raises(PublicKeyError):
        dearmor(text)
