"""rpm dependency strings and matching, checked against rpm's own answers.

Version comparison (vercmp, evrcmp, split_evr) is tested with its one copy in test_rpmvercmp.py.
"""

from __future__ import annotations

import re

import pytest

from relengotron_sandbox.rpmdeps import Dep, DependencyError, parse_dep, satisfies


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
