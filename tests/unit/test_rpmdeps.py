"""rpm's version comparison and dependency matching, checked against rpm's own answers.

The vercmp table is rpm's rpmvercmp test suite; every row was also confirmed with rpm 4.18's
``rpm.vercmp`` (lua) on this machine.
"""

from __future__ import annotations

import re

import pytest

from relengotron.sandbox.rpmdeps import Dep, DependencyError, evrcmp, parse_dep, satisfies, split_evr, vercmp

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


@pytest.mark.parametrize(
    ("provide", "require", "expected"),
    [
        ("python(abi) = 3.5", "python(abi) = 3.5", True),
        ("python(abi) = 3.5", "python(abi) = 3.6", False),
        ("python3-urllib3 = 1.15.1-1.fc24", "python3-urllib3 >= 1.13", True),
        ("python3-urllib3 = 1.15.1-1.fc24", "python3-urllib3 >= 1.19", False),
        ("docker = 1.12.3-4.fc26", "docker >= 1.13", False),
        ("docker = 1.13.0-1.fc26", "docker >= 1.13", True),
        ("foo = 1.0~rc1-1", "foo < 1.0", True),
        ("foo = 1:1.0-1", "foo > 2.0", True),  # epoch
        ("foo = 1.0-1", "foo <= 1.0", True),
        ("foo = 1.0-2", "foo = 1.0-1", False),
        ("foo", "foo >= 99", True),  # an unversioned provide satisfies any version
        ("foo = 1.0", "foo", True),
        ("/bin/sh", "/bin/sh", True),
        ("foo = 1.0", "bar", False),
    ],
)
def test_satisfies(provide: str, require: str, expected: bool) -> None:
    assert satisfies(parse_dep(provide), parse_dep(require)) is expected


def test_parse_dep() -> None:
    assert parse_dep("libc.so.6") == Dep("libc.so.6")
    assert parse_dep("python3-urllib3 >= 1.13") == Dep("python3-urllib3", ">=", "1.13")
    assert parse_dep("  rtld(GNU_HASH)  ") == Dep("rtld(GNU_HASH)")
    assert str(parse_dep("foo = 2:1.0-3.fc24")) == "foo = 2:1.0-3.fc24"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty dependency"),
        ("   ", "empty dependency"),
        ("(foo or bar)", "rich (boolean) dependencies"),
        ("foo >> 1.0", "unknown operator '>>'"),
        ("foo >=", "expected 'name' or 'name OP version'"),
        ("foo >= 1.0 2.0", "expected 'name' or 'name OP version'"),
        ("fo%o", "bad dependency name"),
        ("foo >= 1.0-1-2", "bad version"),
        ("foo >= a:1.0", "bad version"),
        (5, "is not a string"),
    ],
)
def test_parse_dep_rejects(text: str, reason: str) -> None:
    with pytest.raises(DependencyError, match=re.escape(reason)):
        parse_dep(text)  # type: ignore[arg-type]
