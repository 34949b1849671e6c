"""The ``relengotron`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from relengotron.listener.cli import listener
from relengotron.yamlfile import FileError

STATE_OPTION = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/sandbox"),
    show_default=True,
    help="Directory holding all of the sandbox's state.",
)


@click.group()
@click.version_option(package_name="relengotron")
def main() -> None:
    """releng-o-tron: Fedora release engineering on Apache Airflow 3."""


@main.group()
def sandbox() -> None:
    """Local stand-ins for Koji, PDC, ResultsDB, Bugzilla and the fedmsg bus (development and tests only)."""


@sandbox.command()
@click.option("--world", "world_path", type=click.Path(path_type=Path, dir_okay=False), help="World file (YAML).")
@STATE_OPTION
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    default=Path("var/cache/world"),
    show_default=True,
)
@click.option("--restart", is_flag=True, help="Stop a running sandbox first and start from a clean state.")
def up(world_path: Path | None, state_dir: Path, cache_dir: Path, restart: bool) -> None:
    """Start every service on 127.0.0.1 and write their endpoints to STATE/endpoints.json."""
    from relengotron.sandbox import control
    from relengotron.sandbox.worldbuild import WorldBuildError

    try:
        running = control.up(world_path, state_dir, cache_dir, restart=restart)
    except (FileError, WorldBuildError, control.SandboxError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sandbox up (pid {running.pid}); endpoints in {Path(state_dir) / 'endpoints.json'}")
    for name, entry in running.endpoints.items():
        if name in ("sandbox", "signing"):
            continue
        for key, value in entry.items():
            if isinstance(value, str) and "://" in value:
                click.echo(f"  {name:<10} {key:<15} {value}")


@sandbox.command()
@STATE_OPTION
def down(state_dir: Path) -> None:
    """Stop the sandbox and every process it started."""
    from relengotron.sandbox import control

    try:
        stopped = control.down(state_dir)
    except control.SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("sandbox stopped" if stopped else "no sandbox was running")


@sandbox.command()
@STATE_OPTION
def endpoints(state_dir: Path) -> None:
    """Print the running sandbox's endpoints as JSON."""
    from relengotron.sandbox import control

    try:
        click.echo(json.dumps(control.read_endpoints(state_dir), indent=2, sort_keys=True))
    except control.SandboxError as exc:
        raise click.ClickException(str(exc)) from None


@sandbox.command("build-world")
@click.option("--world", "world_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    default=Path("var/cache/world"),
    show_default=True,
)
def build_world_command(world_path: Path | None, cache_dir: Path) -> None:
    """Validate and build a world (RPMs, signing key) without starting anything."""
    from relengotron.sandbox.world import load_world
    from relengotron.sandbox.worldbuild import WorldBuildError, build_world

    try:
        world = load_world(world_path) if world_path else load_world()
        built = build_world(world, cache_dir.absolute())
    except (FileError, WorldBuildError) as exc:
        raise click.ClickException(str(exc)) from None
    count = sum(len(rpms) for rpms in built.rpms.values())
    click.echo(f"world {world.path} built in {built.root}: {len(built.rpms)} builds, {count} RPMs, key {built.key_id}")


DEMO_STATE_OPTION = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/demo"),
    show_default=True,
    help="Directory holding all of the demo's state (sandbox, Airflow home, listener inbox, logs).",
)


@main.command()
@DEMO_STATE_OPTION
def demo(state_dir: Path) -> None:
    """Start the sandbox, an embedded Airflow and the listener; play a release-engineering day on the bus."""
    from relengotron.demo import run_demo
    from relengotron.demo.run import DemoError

    try:
        code = run_demo(state_dir)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command("demo-stop")
@DEMO_STATE_OPTION
def demo_stop(state_dir: Path) -> None:
    """Stop everything the demo started (the listener, Airflow, the sandbox)."""
    from relengotron.demo import stop
    from relengotron.sandbox.control import SandboxError

    try:
        stopped = stop(state_dir)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"demo stopped: {', '.join(stopped)}" if stopped else "nothing was running")


main.add_command(listener)

if __name__ == "__main__":
    main()
