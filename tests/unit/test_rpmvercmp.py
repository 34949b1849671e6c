"""rpm's version comparison, checked against rpm's own answers.

The vercmp table is rpm's rpmvercmp test suite (moved here from test_rpmdeps.py with the functions); random
versions are also compared with rpm 4.18's own ``rpm.vercmp`` (lua) when rpm is installed.
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relengotron import rpmvercmp
from relengotron.rpmvercmp import evrcmp, labelcompare, split_evr, vercmp
from relengotron_sandbox import rpmdeps

VERCMP = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10.1", "xyz10", 1),
    # numeric segments beat alphabetic ones
    ("xyz.4", "8", -1),
    ("2", "xyz.4", 1),
    ("6.0.rc1", "6.0", 1),
    ("10b2", "10a1", 1),
    ("1.0a", "1.0aa", -1),
    ("1.0", "1.0a", -1),
    ("1a", "1.0", -1),
    # leading zeros do not count; long numbers compare as numbers
    ("10.0001", "10.1", 0),
    ("10.0001", "10.0039", -1),
    ("4.999.9", "5.0", -1),
    ("20101122", "20101121", 1),
    # separators are all alike
    ("2_0", "2.0", 0),
    ("a+", "a_", 0),
    ("_+", "_", 0),
    # tilde sorts before anything, even the end
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    # caret sorts after the end but before any other segment
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), VERCMP)
def test_vercmp(a: str, b: str, expected: int) -> None:
    assert vercmp(a, b) == expected
    assert vercmp(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),  # epoch wins over version
        ("2:1.0", "1:9.9", 1),
        ("0:1.0-1", "1.0-1", 0),  # no epoch is epoch 0
        ("1.0-1", "1.0-2", -1),
        ("1.0-1.fc24", "1.0-1.fc23", 1),
        ("1.0", "1.0-5", 0),  # a missing release matches any release, as in dependency checks
        ("1.0~rc1-1", "1.0-0", -1),
        ("1.0^git1-1", "1.0-9", 1),
    ],
)
def test_evrcmp(a: str, b: str, expected: int) -> None:
    assert evrcmp(a, b) == expected
    assert evrcmp(b, a) == -expected


def test_split_evr() -> None:
    assert split_evr("3:1.2-4.fc24") == ("3", "1.2", "4.fc24")
    assert split_evr("1.2") == ("0", "1.2", None)
    assert split_evr(":1.2-1") == ("0", "1.2", "1")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("", "2.23.1", "8.fc24"), ("", "2.23.1", "7.fc24"), 1),
        ((None, "1.0", "1"), ("0", "1.0", "1"), 0),  # no epoch is epoch 0
        (("1", "1.0", "1"), ("", "9.9", "9"), 1),  # epoch first
        (("", "1.0", "10.fc24"), ("", "1.0", "9.fc24"), 1),  # numerically
        (("", "1.0", "1.fc24"), ("", "1.0", "1.fc24.1"), -1),  # releases always compared (unlike evrcmp)
    ],
)
def test_labelcompare_orders_builds(a: tuple, b: tuple, expected: int) -> None:
    assert labelcompare(a, b) == expected
    assert labelcompare(b, a) == -expected


def test_rpmdeps_uses_this_one_copy() -> None:
    assert rpmdeps.vercmp is rpmvercmp.vercmp
    assert rpmdeps.evrcmp is rpmvercmp.evrcmp
    assert rpmdeps.split_evr is rpmvercmp.split_evr


VERSION = st.text(alphabet="0123456789abz.~^_", min_size=1, max_size=8)


@given(VERSION, VERSION)
def test_vercmp_is_antisymmetric_and_reflexive(a: str, b: str) -> None:
    assert vercmp(a, a) == 0
    assert vercmp(a, b) == -vercmp(b, a)
    assert vercmp(a, b) in (-1, 0, 1)


@given(VERSION, VERSION, VERSION)
@settings(max_examples=300)
def test_vercmp_is_transitive(a: str, b: str, c: str) -> None:
    ordered = sorted([a, b, c], key=functools.cmp_to_key(vercmp))
    assert vercmp(ordered[0], ordered[2]) <= 0
    assert vercmp(ordered[0], ordered[1]) <= 0 and vercmp(ordered[1], ordered[2]) <= 0


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")
def test_vercmp_agrees_with_rpm_itself() -> None:
    """Random versions (fixed seed) compared by rpm's lua ``rpm.vercmp`` in one rpm process."""

    rng = random.Random(20161125)
    alphabet = "0123456789abcz.~^_-+"
    pairs = []
    for _ in range(400):
        a = "".join(rng.choice(alphabet.replace("-", "")) for _ in range(rng.randint(1, 7)))
        b = "".join(rng.choice(alphabet.replace("-", "")) for _ in range(rng.randint(1, 7)))
        pairs.append((a, b))
    pairs += [(a, b) for a, b, _ in VERCMP]
    script = " ".join(f'print(rpm.vercmp("{a}", "{b}")) print(" ")' for a, b in pairs)
    out = subprocess.run(["rpm", "--eval", f"%{{lua: {script}}}"], capture_output=True, text=True, check=True)
    answers = [int(x) for x in out.stdout.split()]
    assert len(answers) == len(pairs)
    wrong = [(a, b, rpm) for (a, b), rpm in zip(pairs, answers, strict=True) if vercmp(a, b) != max(-1, min(1, rpm))]
    assert not wrong
