"""GVariant BINARY serialization: the little of it OSTree's signature and summary files need. Pure.

The binary half of releng-o-tron's GVariant support; the text format ``ostree`` prints and takes on its command
line is :mod:`relengotron.ostree.gvariant_text`. The two share no code: one reads framing offsets, the other
characters.

An OSTree commit's detached metadata (``objects/xx/yyy.commitmeta``) and the summary's ``summary.sig`` are
both an ``a{sv}`` dictionary whose ``ostree.gpgsigs`` entry is an array of binary GPG signatures over the
commit object or the summary file. sigul's ``sign-data`` returns one such signature; merging it into the file
is done here so that no GLib binding is needed. Pure functions on bytes (little-endian, as OSTree writes);
other entries of the dictionary are kept byte for byte. :func:`summary_refs` and :func:`summary_deltas` read
which commit each ref of a ``summary`` file names and which static deltas it lists, so that a repository (or
a mirror on another host) can be checked without the ``ostree`` CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

GPGSIGS = "ostree.gpgsigs"


class GVariantError(ValueError):
    """The bytes are not a well-formed serialized value of the expected type."""


def _offset_size(total: int) -> int:
    if total == 0:
        return 0
    if total <= 0xFF:
        return 1
    if total <= 0xFFFF:
        return 2
    if total <= 0xFFFFFFFF:
        return 4
    return 8


def _framed(body: bytes, offsets: Sequence[int]) -> bytes:
    """``body`` followed by its framing offsets, each in the smallest size that fits the whole."""
    size = 1
    while True:
        total = len(body) + size * len(offsets)
        if _offset_size(total) <= size:
            break
        size *= 2
    return body + b"".join(o.to_bytes(size, "little") for o in offsets)


def _pad(buf: bytearray, alignment: int) -> None:
    buf.extend(b"\0" * (-len(buf) % alignment))


def _split_array(data: bytes, alignment: int) -> list[bytes]:
    """Elements of an array of variable-sized elements."""
    if not data:
        return []
    size = _offset_size(len(data))
    last_end = int.from_bytes(data[-size:], "little")
    table = len(data) - last_end
    if last_end > len(data) or table % size or table == 0:
        raise GVariantError("bad array framing")
    ends = [int.from_bytes(data[last_end + i : last_end + i + size], "little") for i in range(0, table, size)]
    out: list[bytes] = []
    start = 0
    for end in ends:
        start += -start % alignment
        if end < start or end > last_end:
            raise GVariantError("bad array element offset")
        out.append(data[start:end])
        start = end
    return out


def encode_bytestrings(items: Sequence[bytes]) -> bytes:
    """Serialize ``aay``."""
    if not items:
        return b""
    body = bytearray()
    ends: list[int] = []
    for item in items:
        body.extend(item)
        ends.append(len(body))
    return _framed(bytes(body), ends)


def decode_bytestrings(data: bytes) -> list[bytes]:
    """Parse ``aay``."""
    return _split_array(data, 1)


def decode_metadata(data: bytes) -> dict[str, tuple[str, bytes]]:
    """Parse ``a{sv}`` into key → (type string, serialized value)."""
    out: dict[str, tuple[str, bytes]] = {}
    for entry in _split_array(data, 8):
        size = _offset_size(len(entry))
        if size == 0 or len(entry) < size:
            raise GVariantError("bad dictionary entry")
        key_end = int.from_bytes(entry[-size:], "little")
        if key_end < 1 or key_end > len(entry) - size or entry[key_end - 1] != 0:
            raise GVariantError("bad dictionary key")
        try:
            key = entry[: key_end - 1].decode()
        except UnicodeDecodeError as exc:
            raise GVariantError("dictionary key is not UTF-8") from exc
        variant = entry[key_end + (-key_end % 8) : len(entry) - size]
        sep = variant.rfind(b"\0")
        if sep < 0:
            raise GVariantError(f"bad variant for {key!r}")
        out[key] = (variant[sep + 1 :].decode("ascii", "replace"), variant[:sep])
    return out


def encode_metadata(entries: Mapping[str, tuple[str, bytes]]) -> bytes:
    """Serialize ``a{sv}`` from key → (type string, serialized value), keys in the given order."""
    body = bytearray()
    ends: list[int] = []
    for key, (type_string, value) in entries.items():
        entry = bytearray(key.encode() + b"\0")
        key_end = len(entry)
        _pad(entry, 8)
        entry.extend(value + b"\0" + type_string.encode("ascii"))
        _pad(body, 8)
        body.extend(_framed(bytes(entry), [key_end]))
        ends.append(len(body))
    if not ends:
        return b""
    return _framed(bytes(body), ends)


def gpg_signatures(metadata: bytes | None) -> list[bytes]:
    """The binary GPG signatures in a commitmeta/summary.sig (none when the file is absent or has none)."""
    if not metadata:
        return []
    entry = decode_metadata(metadata).get(GPGSIGS)
    if entry is None:
        return []
    type_string, value = entry
    if type_string != "aay":
        raise GVariantError(f"{GPGSIGS} has type {type_string!r}, not 'aay'")
    return decode_bytestrings(value)


def add_gpg_signature(metadata: bytes | None, signature: bytes) -> bytes:
    """``metadata`` with ``signature`` appended to ``ostree.gpgsigs``; every other entry is kept as it was."""
    entries = decode_metadata(metadata) if metadata else {}
    signatures = gpg_signatures(metadata)
    entries[GPGSIGS] = ("aay", encode_bytestrings([*signatures, signature]))
    return encode_metadata(entries)


def _struct_tail(data: bytes, count: int) -> tuple[list[int], int]:
    """The ``count`` framing offsets at the end of a struct (in member order) and where they start."""
    size = _offset_size(len(data))
    if size == 0 or len(data) < size * count:
        raise GVariantError("bad structure framing")
    start = len(data) - size * count
    raw = [int.from_bytes(data[start + i * size : start + (i + 1) * size], "little") for i in range(count)]
    return raw[::-1], start  # offsets are stored last member first


def summary_metadata(data: bytes) -> dict[str, tuple[str, bytes]]:
    """The summary's own ``a{sv}`` (mode, last-modified, ``ostree.static-deltas``, ...)."""
    (refs_end,), tail = _struct_tail(data, 1)
    if refs_end > tail:
        raise GVariantError("bad summary framing")
    return decode_metadata(data[refs_end + (-refs_end % 8) : tail])


def summary_deltas(data: bytes) -> frozenset[str]:
    """Names (``FROM-TO`` or ``TO``) of the static deltas a summary lists."""
    entry = summary_metadata(data).get("ostree.static-deltas")
    if entry is None:
        return frozenset()
    if entry[0] != "a{sv}":
        raise GVariantError(f"ostree.static-deltas has type {entry[0]!r}, not 'a{{sv}}'")
    return frozenset(decode_metadata(entry[1]))


def summary_refs(data: bytes) -> dict[str, str]:
    """ref → commit checksum (hex) from a serialized OSTree summary, type ``(a(s(taya{sv}))a{sv})``."""
    (refs_end,), _ = _struct_tail(data, 1)
    if refs_end > len(data):
        raise GVariantError("bad summary framing")
    out: dict[str, str] = {}
    for element in _split_array(data[:refs_end], 8):
        (name_end,), tail = _struct_tail(element, 1)
        if name_end < 1 or name_end > tail or element[name_end - 1] != 0:
            raise GVariantError("bad ref name in summary")
        name = element[: name_end - 1].decode("utf-8", "replace")
        inner = element[name_end + (-name_end % 8) : tail]
        (checksum_end,), _ = _struct_tail(inner, 1)
        checksum = inner[8:checksum_end]
        if len(checksum) != 32:
            raise GVariantError(f"summary ref {name!r}: checksum of {len(checksum)} bytes")
        out[name] = checksum.hex()
    return out
