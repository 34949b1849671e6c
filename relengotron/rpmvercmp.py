"""rpm's version comparison: which of two builds is newer, as rpm and Koji decide it.

Production code uses it to plan which build an artifact's manifest holds; anything else that compares builds
(dependency checks) imports this one copy. Pure functions, no I/O.
"""

from __future__ import annotations


def split_evr(evr: str) -> tuple[str, str, str | None]:
    """``[epoch:]version[-release]`` → (epoch, version, release or None); epoch defaults to "0"."""
    epoch = "0"
    if ":" in evr:
        epoch, evr = evr.split(":", 1)
    version, _, release = evr.partition("-")
    return epoch or "0", version, release or None


def vercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp: compare two version (or release) strings segment by segment; -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        # tilde sorts before everything, even the end of the string
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if not (i < len(a) and a[i] == "~"):
                return 1
            if not (j < len(b) and b[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        # caret sorts after the end of the string but before anything else
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= len(a) or j >= len(b):
            break
        numeric = a[i].isdigit()
        pattern = str.isdigit if numeric else str.isalpha
        si = i
        while i < len(a) and pattern(a[i]):
            i += 1
        sj = j
        while j < len(b) and pattern(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return 1 if i < len(a) else -1


def evrcmp(a: str, b: str) -> int:
    """Compare two ``[epoch:]version[-release]``; a missing release on either side matches any release."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    result = vercmp(ea, eb) or vercmp(va, vb)
    if result or ra is None or rb is None:
        return result
    return vercmp(ra, rb)


def labelcompare(a: tuple[str | None, str, str], b: tuple[str | None, str, str]) -> int:
    """rpm's labelCompare over (epoch, version, release) of two builds; an empty or None epoch is 0.

    Unlike :func:`evrcmp` (dependency matching) both releases are always compared: this orders builds.
    """
    return vercmp(a[0] or "0", b[0] or "0") or vercmp(a[1], b[1]) or vercmp(a[2], b[2])
