"""Plain connection fields (an Airflow connection's host/login/password merged with its extra) → an adapter's
connection dataclass arguments. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def connection_data(cls: Any, fields: Mapping[str, Any], *, service: str, aliases: Mapping[str, str]) -> dict[str, Any]:
    """Drop empty (None) fields, rename each alias to its field unless the field is given, refuse unknown keys.

    ``aliases`` maps a generic name (``host``, ``password``) to the dataclass field it stands for; the error
    names the service and every unknown field.
    """
    data = {k: v for k, v in fields.items() if v is not None}
    for alias, name in aliases.items():
        if alias in data and name not in data:
            data[name] = data.pop(alias)
    unknown = sorted(set(data) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{service} connection: unknown field(s) {', '.join(unknown)}")
    return data
