"""What every sandbox service is given and must provide.

The sandbox daemon starts the services in order (the broker and the bus first, since the others publish on them),
hands each the same :class:`SandboxContext`, and records what each :meth:`Service.start` returns under the
service's name in the endpoints file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from relengotron_sandbox.world import World


class Publisher(Protocol):
    """Publishes one fedmsg message on the sandbox bus (through the relay)."""

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None: ...


@dataclass
class SandboxContext:
    state_dir: Path  # all mutable state of every service lives under here
    world: World
    built: Any  # relengotron_sandbox.worldbuild.BuiltWorld (RPMs, signing key)
    endpoints: dict[str, Any] = field(default_factory=dict)  # filled in as services start
    publisher: Publisher | None = None
    broker: Any = None  # relengotron_sandbox.broker.Broker once the broker service has launched it
    amqp: Any = None  # relengotron_sandbox.amqp.AmqpBus once the bus has one (the process's fedora-messaging)
    stopping: threading.Event = field(default_factory=threading.Event)

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        """Publish ``org.fedoraproject.<env>.<modname>.<topic>`` with body ``msg`` on the bus."""
        if self.publisher is None:
            raise RuntimeError("the bus is not started")
        self.publisher.publish(modname, topic, msg)

    def service_dir(self, name: str) -> Path:
        path = self.state_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class Service(Protocol):
    name: str

    def start(self) -> dict[str, Any]:
        """Start serving (on 127.0.0.1 only) and return this service's endpoints entry."""

    def stop(self) -> None:
        """Stop serving and release every socket, thread and child process."""

    # A service may also define ``ready()``: block until it can serve. The daemon calls it once every service
    # has started (the broker boots for seconds; the others start meanwhile) and before writing the endpoints.
