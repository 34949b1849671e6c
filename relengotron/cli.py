"""The ``relengotron`` command: production verbs only (today the bus listener)."""

from __future__ import annotations

import click

from relengotron.listener.cli import listener


@click.group()
@click.version_option(package_name="relengotron")
def main() -> None:
    """releng-o-tron: Fedora release engineering on Apache Airflow 3."""


main.add_command(listener)

if __name__ == "__main__":
    main()
