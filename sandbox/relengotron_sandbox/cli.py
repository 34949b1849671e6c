"""The ``relengotron-sandbox`` command: the sandbox of Fedora's services and the demo (development only).

``up``/``down``/``endpoints``/``build-world`` drive the sandbox (:mod:`relengotron_sandbox.control`),
``demo``/``demo-stop`` the demo (:mod:`relengotron_sandbox.demo`). The production ``relengotron`` command knows
none of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from relengotron.yamlfile import FileError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def state_option(default: str, holds: str) -> Decorator:
    """``--state DIR``: the directory holding all of the sandbox's or the demo's state."""
    return click.option(
        "--state",
        "state_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path(default),
        show_default=True,
        help=f"Directory holding all of {holds}.",
    )


SANDBOX_STATE = state_option("var/sandbox", "the sandbox's state")
DEMO_STATE = state_option("var/demo", "the demo's state (sandbox, Airflow home, listener inbox, logs)")
WORLD = click.option(
    "--world", "world_path", type=click.Path(path_type=Path, dir_okay=False), help="World file (YAML)."
)
CACHE = click.option(
    "--cache", "cache_dir", type=click.Path(path_type=Path), default=Path("var/cache/world"), show_default=True
)


@contextmanager
def reported(*errors: type[Exception]) -> Iterator[None]:
    """An error of these types ends the command with its message and exit status 1, without a traceback."""
    try:
        yield
    except errors as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="relengotron-sandbox")
def main() -> None:
    """Local stand-ins for Koji, PDC, ResultsDB, Bugzilla, the fedmsg bus and Taskotron, and the demo."""


@main.command()
@WORLD
@SANDBOX_STATE
@CACHE
@click.option("--restart", is_flag=True, help="Stop a running sandbox first and start from a clean state.")
def up(world_path: Path | None, state_dir: Path, cache_dir: Path, restart: bool) -> None:
    """Start every service on 127.0.0.1 and write their endpoints to STATE/endpoints.json."""
    from relengotron_sandbox import control
    from relengotron_sandbox.worldbuild import WorldBuildError

    with reported(FileError, WorldBuildError, control.SandboxError):
        running = control.up(world_path, state_dir, cache_dir, restart=restart)
    click.echo(f"sandbox up (pid {running.pid}); endpoints in {Path(state_dir) / 'endpoints.json'}")
    for name, entry in running.endpoints.items():
        if name in ("sandbox", "signing"):
            continue
        for key, value in entry.items():
            if isinstance(value, str) and "://" in value:
                click.echo(f"  {name:<10} {key:<15} {value}")


@main.command()
@SANDBOX_STATE
def down(state_dir: Path) -> None:
    """Stop the sandbox and every process it started."""
    from relengotron_sandbox import control

    with reported(control.SandboxError):
        stopped = control.down(state_dir)
    click.echo("sandbox stopped" if stopped else "no sandbox was running")


@main.command()
@SANDBOX_STATE
def endpoints(state_dir: Path) -> None:
    """Print the running sandbox's endpoints as JSON."""
    from relengotron_sandbox import control

    with reported(control.SandboxError):
        click.echo(json.dumps(control.read_endpoints(state_dir), indent=2, sort_keys=True))


@main.command("build-world")
@WORLD
@CACHE
def build_world_command(world_path: Path | None, cache_dir: Path) -> None:
    """Validate and build a world (RPMs, signing key) without starting anything."""
    from relengotron_sandbox.world import load_world
    from relengotron_sandbox.worldbuild import WorldBuildError, build_world

    with reported(FileError, WorldBuildError):
        world = load_world(world_path) if world_path else load_world()
        built = build_world(world, cache_dir.absolute())
    count = sum(len(rpms) for rpms in built.rpms.values())
    click.echo(f"world {world.path} built in {built.root}: {len(built.rpms)} builds, {count} RPMs, key {built.key_id}")


@main.command()
@DEMO_STATE
def demo(state_dir: Path) -> None:
    """Start the sandbox, an embedded Airflow and the listener; play a release-engineering day on the bus."""
    from relengotron_sandbox.demo import run_demo
    from relengotron_sandbox.demo.run import DemoError

    with reported(DemoError):
        code = run_demo(state_dir)
    sys.exit(code)


@main.command("demo-stop")
@DEMO_STATE
def demo_stop(state_dir: Path) -> None:
    """Stop everything the demo started (the listener, Airflow, the sandbox)."""
    from relengotron_sandbox.control import SandboxError
    from relengotron_sandbox.demo import stop

    with reported(SandboxError):
        stopped = stop(state_dir)
    click.echo(f"demo stopped: {', '.join(stopped)}" if stopped else "nothing was running")


if __name__ == "__main__":
    main()
