"""``relengotron listener``: run the listener, look at its inbox, replay a window, retry dead letters, and say
what the rules make of one message (``route``)."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from relengotron.yamlfile import FileError

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The listener's config file (see config/listener.yaml).",
)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float | None = None) -> float:
    """An epoch from ``2016-06-14T10:00:00`` (UTC unless it says otherwise), ``1465898400`` or ``2h`` ago."""
    now = time.time() if now is None else now
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give an ISO date-time, epoch seconds or a duration like 2h") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _config(path: Path) -> Any:
    from relengotron.listener.config import load_config

    try:
        return load_config(path)
    except FileError as exc:
        raise click.ClickException(str(exc)) from None


def _rules(config: Any, rules_path: Path | None = None) -> Any:
    """The rules file with the release configuration the listener's config names."""
    try:
        return config.load_rules(rules_path)
    except FileError as exc:
        raise click.ClickException(f"bad rule: {exc}") from None


def _ingestor(config: Any) -> Any:
    from relengotron.listener.inbox import Inbox, InboxError
    from relengotron.listener.ingest import Ingestor
    from relengotron.listener.validate import SignatureChecker, Validator

    rules = _rules(config)
    try:
        signatures = SignatureChecker(config.crypto) if config.signatures else None
        inbox = Inbox(config.inbox_path, synchronous=config.synchronous)
    except (ValueError, InboxError) as exc:
        raise click.ClickException(str(exc)) from None
    return Ingestor(inbox, rules, Validator(max_body_bytes=config.max_body_bytes, signatures=signatures))


@click.group()
def listener() -> None:
    """Turn fedmsg bus messages into Airflow DAG runs, exactly once (see config/listener.yaml)."""


@listener.command("run")
@CONFIG_OPTION
def run_command(config_path: Path) -> None:
    """Subscribe to the bus and trigger DAG runs until SIGTERM."""
    from relengotron.listener import service
    from relengotron.listener.inbox import InboxError
    from relengotron.listener.observe import setup_logging

    config = _config(config_path)
    rules = _rules(config)
    setup_logging(config.log_level)
    try:
        code = service.run(config, rules)
    except (ValueError, InboxError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@listener.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--limit", default=50, show_default=True, help="Dead letters shown.")
def status(config_path: Path, as_json: bool, limit: int) -> None:
    """Pending messages, dead letters, and the last message seen from each publisher."""
    from relengotron.listener.inbox import Inbox, InboxError

    config = _config(config_path)
    if not config.inbox_path.exists():
        raise click.ClickException(f"no inbox at {config.inbox_path} (has the listener run?)")
    try:
        inbox = Inbox(config.inbox_path, synchronous=config.synchronous)
    except InboxError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        state = inbox.status(dead_letter_limit=limit)
    finally:
        inbox.close()
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True))
        return
    units = state["units"]
    click.echo(f"inbox {state['inbox']}")
    click.echo(
        f"pending messages: {state['pending_messages']} (runs to trigger: {units.get('ready', 0)}, open batches: "
        f"{units.get('open', 0)}, retrying: {state['retrying']}); runs triggered: {units.get('done', 0)}"
    )
    if state["head"] and state["head"]["attempts"]:
        head = state["head"]
        click.echo(f"waiting on: {head['dag_id']} {head['dag_run_id']} after {head['attempts']} attempt(s):")
        click.echo(f"  {head['last_error']}")
    click.echo(f"dead letters: {state['dead_letters_total']}")
    for letter in state["dead_letters"]:
        click.echo(
            f"  #{letter['id']} {letter['kind']:<8} {_when(letter['created_at'])} "
            f"{letter['msg_id'] or '-'} {letter['topic'] or '-'}"
        )
        click.echo(f"      {letter['reason']}")
    click.echo(f"last message seen live: {_when(state['live_mark'])}")
    for publisher in state["publishers"]:
        click.echo(
            f"  {publisher['name']}: i={publisher['last_i']} at {_when(publisher['last_sent_at'])} "
            f"{publisher['last_topic']} {publisher['last_msg_id']}"
        )


@listener.command()
@CONFIG_OPTION
@click.option("--since", required=True, help="Start: ISO date-time (UTC), epoch seconds, or a duration (2h).")
@click.option("--until", "until", default=None, help="End (default: now).")
def replay(config_path: Path, since: str, until: str | None) -> None:
    """Fetch a window of the bus from datagrepper into the inbox (messages already there are skipped). A
    running listener triggers what this stores."""
    from relengotron.listener.replay import Datagrepper, ReplayError, Window

    config = _config(config_path)
    if not config.datagrepper_url:
        raise click.ClickException(f"{config.path}: no datagrepper.url configured")
    start = parse_when(since)
    end = parse_when(until) if until else None
    if end is not None and end < start:
        raise click.BadParameter("--until is before --since")
    ingestor = _ingestor(config)
    grepper = Datagrepper(config.datagrepper_url, rows_per_page=config.rows_per_page)
    counts: dict[str, int] = {}
    try:
        for data in grepper.messages(Window(start, end, "replay command")):
            kind = ingestor.replayed(data).kind
            counts[kind] = counts.get(kind, 0) + 1
    except ReplayError as exc:
        raise click.ClickException(f"{exc} (after {sum(counts.values())} messages; run again to go on)") from None
    finally:
        grepper.close()
        ingestor.inbox.close()
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
    click.echo(f"replayed {_when(start)} → {_when(end) if end else 'now'}: {summary}")


@listener.command("retry-dead-letter")
@CONFIG_OPTION
@click.argument("letter_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter.")
def retry_dead_letter(config_path: Path, letter_ids: tuple[int, ...], retry_all: bool) -> None:
    """Give dead letters another go with the current rules (IDs from `status`)."""
    from relengotron.listener.ingest import retry_dead_letter as retry

    if not letter_ids and not retry_all:
        raise click.UsageError("give dead letter IDs (see `relengotron listener status`) or --all")
    config = _config(config_path)
    ingestor = _ingestor(config)
    failed = False
    try:
        for letter_id in ingestor.inbox.dead_letter_ids() if retry_all else letter_ids:
            try:
                click.echo(retry(ingestor, letter_id))
            except KeyError as exc:
                failed = True
                click.echo(f"error: {exc.args[0]}", err=True)
    finally:
        ingestor.inbox.close()
    if failed:
        sys.exit(1)


@listener.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="RELENGOTRON_LISTENER_CONFIG",
    default="config/listener.yaml",
    show_default=True,
    help="The listener's config (its rules, release configuration and validation limits); "
    "also $RELENGOTRON_LISTENER_CONFIG.",
)
@click.option(
    "--message",
    "message_path",
    type=click.File("rb"),
    required=True,
    help="A fedmsg envelope as JSON (from the bus or datagrepper; '-' for stdin), or a bare body with --topic.",
)
@click.option("--topic", default=None, help="The message's full topic, when --message is a bare body.")
@click.option("--msg-id", default=None, help="The message id to assume (a bare body's default: from its digest).")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Judge with this rules file instead of the configured one (try a change before deploying it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def route(
    config_path: Path, message_path: Any, topic: str | None, msg_id: str | None, rules_path: Path | None, as_json: bool
) -> None:
    """What the rules make of one message: which rule, which DAG, the run id and the conf; or why it is dropped
    (no rule), deliberately ignored, or dead-lettered. Touches neither the inbox nor Airflow.

    Exit codes: 0 routed, 3 dropped (no rule wants it), 4 deliberately ignored, 5 dead-lettered
    (1: the config or the file cannot be read, 2: usage)."""
    from relengotron.listener import explain
    from relengotron.listener.validate import SignatureChecker, Validator

    config = _config(config_path)
    rules = _rules(config, rules_path)
    raw = message_path.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        data = None
        failure = f"the file is not JSON ({exc}): the listener would dead-letter it"
    else:
        failure = None
    if failure is None:
        try:
            envelope = explain.envelope_of(data, topic=topic, msg_id=msg_id)
        except explain.MessageFileError as exc:
            raise click.ClickException(str(exc)) from None
        signatures = None
        if config.signatures and topic is None:
            try:
                signatures = SignatureChecker(config.crypto)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
        validator = Validator(max_body_bytes=config.max_body_bytes, signatures=signatures)
        found = explain.explain(rules, validator, envelope, bare=topic is not None)
    else:
        found = explain.Explanation(topic, msg_id, invalid=failure)
    click.echo(json.dumps(explain.as_json(found), indent=2) if as_json else explain.as_text(found))
    sys.exit(found.exit_code)
