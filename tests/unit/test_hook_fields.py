"""Hooks store their connection id only; the mapping merges the connection's fields with its extra."""

from __future__ import annotations

from types import SimpleNamespace

from relengotron.airflow.hooks import KojiHook, connection_fields


def test_fields_merge_extra_over_the_connection_and_drop_empties() -> None:
    conn = SimpleNamespace(
        host="https://koji.example.org/kojihub",
        login="releng",
        password="",
        port=None,
        extra_dejson={"topurl": "https://kojipkgs.example.org", "login": "override"},
    )
    assert connection_fields(conn) == {
        "host": "https://koji.example.org/kojihub",
        "login": "override",
        "topurl": "https://kojipkgs.example.org",
    }


def test_constructing_a_hook_reads_no_connection() -> None:
    hook = KojiHook("does_not_exist")  # a missing connection would raise if it were read here
    assert hook.conn_id == "does_not_exist"
    assert KojiHook().conn_id == "koji_default"
