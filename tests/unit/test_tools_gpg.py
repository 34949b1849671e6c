"""Reading gpg's colon listings (the pure part of the gpg adapter); the rest is in tests/integration."""

from __future__ import annotations

from relengotron.tools.gpg import GpgKey, parse_key_listing

FPR = "550FBB98BBBE311340AF34BB0115D4794CECB0C0"
SUB = "ABC82648179F6A3ECEA9DBF8A4CA1DD50B6B8BA6"


def test_key_listing_with_a_signing_subkey() -> None:
    listing = f"""pub:-:4096:1:0115D4794CECB0C0:1795602024:::-:::scSC::::::23::0:
fpr:::::::::{FPR.lower()}:
uid:-::::1795602024::63511EBD127AA2A136FA6A78C263899574DB2D2A::Fedora (24) <fedora-24@fedoraproject.org>::::::::::0:
uid:-::::1795602024::73511EBD127AA2A136FA6A78C263899574DB2D2A::Second <second@example.test>::::::::::0:
sub:-:4096:1:A4CA1DD50B6B8BA6:1795602024::::::s::::::23:
fpr:::::::::{SUB}:
"""
    (key,) = parse_key_listing(listing)
    assert key == GpgKey(fingerprint=FPR, uid="Fedora (24) <fedora-24@fedoraproject.org>", subkeys=(SUB,))
    assert (key.key_id, key.long_id) == ("4cecb0c0", "0115d4794cecb0c0")


def test_secret_key_listing_of_two_keys() -> None:
    other = "1" * 40
    listing = f"""sec:u:2048:1:0115D4794CECB0C0:1795602024:::u:::scSC:::+:::23::0:
fpr:::::::::{FPR}:
grp:::::::::0123:
uid:u::::1795602024::AB::release key \\x3cr@example.test\\x3e::::::::::0:
ssb:u:2048:1:A4CA1DD50B6B8BA6:1795602024::::::s:::+:::23:
fpr:::::::::{SUB}:
sec:u:2048:1:1111111111111111:1795602024:::u:::scSC:::+:::23::0:
fpr:::::::::{other}:
"""
    assert parse_key_listing(listing) == [
        GpgKey(fingerprint=FPR, uid="release key <r@example.test>", subkeys=(SUB,)),
        GpgKey(fingerprint=other, uid="", subkeys=()),
    ]
    assert parse_key_listing("") == []
