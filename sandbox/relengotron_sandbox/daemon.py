"""The sandbox daemon: one process that runs every service until it is told to stop.

Started by :func:`relengotron_sandbox.control.up` in its own session (so ``down`` can stop it and every child
it spawned as one process group). It writes ``endpoints.json`` only once every service answers, so a reader
that finds the file can use it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from relengotron_sandbox.composefiles import ComposeFiles
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.service import SandboxContext, Service
from relengotron_sandbox.world import load_world
from relengotron_sandbox.worldbuild import load_built

log = logging.getLogger("relengotron_sandbox")

ENDPOINTS_FILE = "endpoints.json"

# (endpoints key, module, class). Order matters: the bus first (everyone publishes), the Taskotron runner last
# (it reads Koji and writes ResultsDB). Bodhi after Koji and Bugzilla, whose clients it is. The RabbitMQ broker
# before the bus, which publishes on it too; a service with a ``ready()`` is waited for once all have started.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("broker", "relengotron_sandbox.broker", "BrokerService"),  # launched first: it boots while the rest start
    ("bus", "relengotron_sandbox.bus", "BusService"),
    ("koji", "relengotron_sandbox.koji", "KojiHub"),
    ("pdc", "relengotron_sandbox.pdc", "PDCService"),
    ("resultsdb", "relengotron_sandbox.resultsdb", "ResultsDBService"),
    ("bugzilla", "relengotron_sandbox.bugzilla", "BugzillaService"),
    ("bodhi", "relengotron_sandbox.bodhi", "BodhiService"),  # drives Koji and Bugzilla, consumes the bus
    ("taskotron", "relengotron_sandbox.taskotron", "TaskotronRunner"),
)


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def start_services(ctx: SandboxContext) -> list[Service]:
    """Start every service in order; if one fails, stop those already started and re-raise."""
    started: list[Service] = []
    try:
        for key, module, cls in SERVICES:
            service: Service = getattr(importlib.import_module(module), cls)(ctx)
            ctx.endpoints[key] = service.start()
            started.append(service)
            log.info("%s started: %s", key, ctx.endpoints[key])
        for service in started:
            ready = getattr(service, "ready", None)
            if ready is not None:
                ready()
                log.info("%s ready", service.name)
    except BaseException:
        stop_services(started)
        raise
    return started


def stop_services(services: list[Service]) -> None:
    for service in reversed(services):
        try:
            service.stop()
        except Exception:
            log.exception("stopping %s failed", service.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relengotron-sandbox-daemon")
    parser.add_argument("--world", required=True, type=Path)
    parser.add_argument("--built", required=True, type=Path, help="a built world directory")
    parser.add_argument("--state", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    world = load_world(args.world)
    built = load_built(args.built)
    ctx = SandboxContext(state_dir=args.state, world=world, built=built)
    # the compose file server first: the configuration's translate_paths name its URL
    compose = ComposeFiles()
    try:
        config = render_release_config(world, built.key_id, args.state, compose_url=compose.url)
        compose.serve(config.translate_paths)
        ctx.endpoints[compose.name] = compose.start()
        services = start_services(ctx)
    except BaseException:
        compose.stop()
        raise
    try:
        ctx.endpoints["signing"] = {
            "key_id": built.key_id,
            "fingerprint": built.fingerprint,
            "gnupghome": str(built.gnupghome),
            "public_key": str(built.public_key),
        }
        ctx.endpoints["releng"] = {"config": str(config.path), "policies": str(config.gating_policies)}
        ctx.endpoints["sandbox"] = {
            "pid": os.getpid(),
            "state_dir": str(args.state),
            "world": str(args.world),
            "world_digest": world.digest,
        }
        write_json_atomic(args.state / ENDPOINTS_FILE, ctx.endpoints)
        log.info("sandbox ready")
        stop.wait()
        log.info("stopping")
    finally:
        ctx.stopping.set()
        stop_services(services)
        compose.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
