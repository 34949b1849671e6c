"""The ``relengotron-sandbox`` command: the sandbox of Fedora's services and the demo (development only).

``up``/``down``/``endpoints``/``build-world`` drive the sandbox (:mod:`relengotron_sandbox.control`),
``demo``/``demo-stop`` the demo (:mod:`relengotron_sandbox.demo`), ``bodhi push|new|request|login`` the sandbox's
Bodhi (:mod:`relengotron_sandbox.bodhi.api`). The production ``relengotron`` command knows
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
EXECUTOR = click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    default="local",
    show_default=True,
    help="Airflow's executor: local (SQLite, LocalExecutor) or celery (docker-compose.yaml's deployment: "
    "PostgreSQL, Redis and two Celery workers).",
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
    """Local stand-ins for Koji, PDC, ResultsDB, Bugzilla, Bodhi, the fedmsg bus and Taskotron, and the demo."""


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
@click.option(
    "--bus",
    "transport",
    type=click.Choice(["fedmsg", "amqp"]),
    default="fedmsg",
    show_default=True,
    help="The bus the pipeline publishes and listens on: fedmsg (ZeroMQ) or amqp (the sandbox's RabbitMQ, "
    "with fedora-messaging); the sandbox's services publish on both.",
)
@EXECUTOR
def demo(state_dir: Path, transport: str, executor: str) -> None:
    """Start the sandbox, an embedded Airflow and the listener; play a release-engineering day on the bus."""
    from relengotron_sandbox.demo import run_demo
    from relengotron_sandbox.demo.run import DemoError

    with reported(DemoError):
        code = run_demo(state_dir, transport=transport, executor=executor)
    sys.exit(code)


@main.command()
@state_option("var/chaos", "the chaos run's stack (as a demo's)")
@click.option("--seed", type=int, default=None, help="The plan's seed (default: a new one, printed to replay it).")
@click.option("--faults", type=click.IntRange(min=1), default=20, show_default=True, help="How many faults.")
@EXECUTOR
@click.option("--targets", default=None, help="Only these fault targets, comma-separated (default: all).")
def chaos(
    state_dir: Path,
    seed: int | None,
    faults: int,
    executor: str,
    targets: str | None,
) -> None:
    """Play the demo's workload while a seeded controller kills the parts; check every promise at the end."""
    import secrets

    from relengotron_sandbox.chaos.run import run_chaos
    from relengotron_sandbox.demo.run import DemoError

    chosen = [t.strip() for t in targets.split(",") if t.strip()] if targets else None
    with reported(DemoError, ValueError):
        code = run_chaos(
            state_dir,
            seed=secrets.randbelow(10**6) if seed is None else seed,
            faults=faults,
            targets=chosen,
            executor=executor,
        )
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


@main.group()
def bodhi() -> None:
    """Drive the running sandbox's Bodhi: bodhi-push, new updates, requests, logins for the bodhi CLI."""


def _bodhi_endpoint(state_dir: Path) -> dict[str, Any]:
    from relengotron_sandbox import control

    with reported(control.SandboxError):
        endpoints = control.read_endpoints(state_dir)
    if "bodhi" not in endpoints:
        raise click.ClickException(f"the sandbox on {state_dir} has no Bodhi: restart it (up --restart)")
    return dict(endpoints["bodhi"])


def _as(endpoint: dict[str, Any], user: str | None, state_dir: Path) -> Any:
    from relengotron_sandbox.bodhi.api import SandboxBodhi

    if user is None:
        return SandboxBodhi(endpoint)
    return SandboxBodhi.as_user(endpoint, user, Path(state_dir) / "bodhi")


@contextmanager
def _bodhi_errors(*errors: type[Exception]) -> Iterator[None]:
    """Bodhi's refusal as its error descriptions (the client raises with the answer's JSON as text)."""
    try:
        yield
    except errors as exc:
        try:
            answer = json.loads(str(exc))
            message = "; ".join(e["description"] for e in answer["errors"])
        except (ValueError, KeyError, TypeError):
            message = str(exc)
        raise click.ClickException(message) from None


def _csv(value: str | None) -> list[str] | None:
    return [item for item in value.replace(",", " ").split() if item] if value else None


USER = click.option("--user", help="Act as this user (default: the provider's default user).")


@bodhi.command("push")
@SANDBOX_STATE
@click.option("--releases", help="Comma-separated releases (default: every current and pending release).")
@click.option("--request", "requests_", default="testing,stable", show_default=True, help="testing and/or stable.")
@click.option("--builds", help="Only the updates of these comma-separated builds.")
@click.option("--updates", help="Only these comma-separated update aliases.")
@click.option("--username", "agent", default="releng", show_default=True, help="Who pushes (the agent).")
@click.option("--bodhi2", is_flag=True, help="Publish Bodhi 2's bodhi.masher.start instead of the compose messages.")
def bodhi_push(
    state_dir: Path,
    releases: str | None,
    requests_: str,
    builds: str | None,
    updates: str | None,
    agent: str,
    bodhi2: bool,
) -> None:
    """bodhi-push --yes: compose the requested updates (resuming composes left over), announce it on the bus."""
    from relengotron_sandbox.bodhi.api import SandboxBodhi, SandboxBodhiError

    client = SandboxBodhi(_bodhi_endpoint(state_dir))
    with reported(SandboxBodhiError):
        result = client.push(
            agent=agent,
            releases=_csv(releases),
            requests_=_csv(requests_) or [],
            builds=_csv(builds),
            updates=_csv(updates),
            bodhi2=bodhi2,
        )
    for title in result["unsigned"]:
        click.echo(f"Warning: {title} has unsigned builds and has been skipped", err=True)
    if result["resumed"]:
        click.echo("Existing composes detected. Resuming all.")
    for compose in result["composes"]:
        click.echo(f"\n===== <Compose: {compose['release']['name']} {compose['request']}> =====\n")
        for summary in compose["update_summary"]:
            click.echo(f"{summary['alias']}: {summary['title']}")
    if result["composes"]:
        count = sum(len(c["update_summary"]) for c in result["composes"])
        click.echo(f"\nPushing {count} updates ({'bodhi.masher.start' if bodhi2 else 'bodhi.compose.composing'}).")
    else:
        click.echo("\nThere are no updates to push.")


@bodhi.command("new")
@SANDBOX_STATE
@USER
@click.argument("builds", nargs=-1, required=True)
@click.option("--type", "type_", default="bugfix", show_default=True)
@click.option("--severity", default="unspecified", show_default=True)
@click.option("--notes", default="", help="Why the update exists.")
@click.option("--bugs", help="Comma-separated bug numbers.")
@click.option("--request", default="testing", show_default=True, help="testing or stable.")
def bodhi_new(
    state_dir: Path,
    user: str | None,
    builds: tuple[str, ...],
    type_: str,
    severity: str,
    notes: str,
    bugs: str | None,
    request: str,
) -> None:
    """A new update of BUILDS (POST /updates/, as `bodhi updates new` does)."""
    from bodhi.client.bindings import BodhiClientException

    client = _as(_bodhi_endpoint(state_dir), user, state_dir)
    with _bodhi_errors(BodhiClientException):
        update = client.new_update(
            builds, type=type_, severity=severity, notes=notes, bugs=[int(b) for b in _csv(bugs) or []], request=request
        )
    click.echo(f"{update['alias']} {update['title']} ({update['status']}, request {update['request']})")


@bodhi.command("request")
@SANDBOX_STATE
@USER
@click.argument("alias")
@click.argument("request", type=click.Choice(["testing", "stable", "revoke"]))
def bodhi_request(state_dir: Path, user: str | None, alias: str, request: str) -> None:
    """Set an update's request (POST /updates/ALIAS/request); Bodhi tags its builds in Koji."""
    from bodhi.client.bindings import BodhiClientException

    client = _as(_bodhi_endpoint(state_dir), user, state_dir)
    with _bodhi_errors(BodhiClientException):
        update = client.request(alias, request)
    click.echo(f"{update['alias']} {update['title']} ({update['status']}, request {update['request']})")


@bodhi.command("login")
@SANDBOX_STATE
@click.option("--user", default="releng", show_default=True)
@click.option(
    "--storage",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the token (default STATE/bodhi/client-USER.json; the bodhi CLI reads "
    "~/.config/bodhi/client.json).",
)
def bodhi_login(state_dir: Path, user: str, storage: Path | None) -> None:
    """Log USER in with the sandbox's OpenID Connect provider and print how to point the bodhi CLI at it."""
    from relengotron_sandbox.bodhi.api import SandboxBodhiError, login

    endpoint = _bodhi_endpoint(state_dir)
    with reported(SandboxBodhiError):
        path = login(endpoint, user, storage or Path(state_dir) / "bodhi" / f"client-{user}.json")
    click.echo(f"token for {user} written to {path}")
    click.echo(f"export BODHI_URL={endpoint['url']} BODHI_OPENID_PROVIDER={endpoint['id_provider']}")


if __name__ == "__main__":
    main()
