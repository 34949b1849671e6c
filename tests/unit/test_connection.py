"""connection_data: aliases, empties and unknown fields, as every adapter's from_mapping needs them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from relengotron.connection import connection_data


@dataclass
class Conn:
    url: str
    token: str | None = None


def test_aliases_are_renamed_unless_the_field_is_given_and_empties_dropped() -> None:
    assert connection_data(
        Conn, {"host": "h", "password": "p", "token": None}, service="x", aliases={"host": "url", "password": "token"}
    ) == {"url": "h", "token": "p"}
    with pytest.raises(ValueError, match=r"^x connection: unknown field\(s\) host$"):
        connection_data(Conn, {"host": "h", "url": "u"}, service="x", aliases={"host": "url"})


def test_unknown_fields_are_all_named() -> None:
    with pytest.raises(ValueError, match=r"^svc connection: unknown field\(s\) colour, size$"):
        connection_data(Conn, {"url": "u", "size": 1, "colour": 2}, service="svc", aliases={})
