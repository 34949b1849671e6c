"""The sandbox's AMQP broker: Debian's RabbitMQ as a process of the sandbox, on 127.0.0.1 only.

Fedora runs its message bus on RabbitMQ (``amqps://rabbitmq.fedoraproject.org/%2Fpubsub``, the ``/pubsub``
virtual host, every publisher on the ``amq.topic`` exchange: fedora-messaging's default ``publish_exchange``;
https://fedora-messaging.readthedocs.io/en/stable/user-guide/quick-start.html and the Fedora Infrastructure
developer guide, "Messaging"). The sandbox runs the same broker, Debian's ``rabbitmq-server``, without systemd:

* everything on loopback: the AMQP listener (``listeners.tcp.default``), the Erlang distribution port
  (``RABBITMQ_DIST_PORT`` with ``-kernel inet_dist_use_interface {127,0,0,1}``), and an ``epmd`` this module
  starts itself on ``-address 127.0.0.1`` (so it is ours, stopped by its pid: the one the Erlang VM would
  start is a daemon of no one's);
* all its state under one directory: mnesia, logs, pid file, configuration, ``enabled_plugins`` (none),
  feature flags and the Erlang cookie (``HOME``);
* a virtual host ``/pubsub`` and a user of the sandbox, created by the broker itself on its first boot
  (``default_vhost``/``default_user``: RabbitMQ then creates no ``guest``); ``amq.topic`` exists in every
  virtual host;
* ready when its AMQP port accepts connections (it opens last in the boot) and ``rabbitmq-diagnostics ping``
  answers (ping alone answers as soon as the Erlang node is up, seconds before the broker has booted).

The broker runs as whoever runs the sandbox (root included: Debian's ``/usr/sbin`` wrapper would switch to the
``rabbitmq`` user, who cannot reach a state directory under a 0700 one, such as pytest's; the scripts of
``/usr/lib/rabbitmq/bin`` run as anyone). :func:`running` is the throwaway broker of tests and bench;
:class:`BrokerService` the sandbox's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relengotron_sandbox import testing
from relengotron_sandbox.service import SandboxContext

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's rabbitmq-server: the scripts behind /usr/sbin's wrappers
VHOST = "/pubsub"  # Fedora's broker: amqps://rabbitmq.fedoraproject.org/%2Fpubsub
EXCHANGE = "amq.topic"  # fedora-messaging's default publish_exchange, the one Fedora's publishers use
USER = "relengotron-sandbox"
LOOPBACK_ERL_ARGS = "-kernel inet_dist_use_interface {127,0,0,1}"
START_TIMEOUT = 60.0  # first boot here: ~4 s; a loaded machine (two shared cores) may take several times that
CTL_TIMEOUT = 60.0


class BrokerError(RuntimeError):
    """The broker could not be started, reached or stopped."""


@dataclass
class Broker:
    """One RabbitMQ node whose state lives in ``directory``. Its node name, ports and password are fixed at
    :meth:`create`, so a restart finds its durable queues and persistent messages again."""

    directory: Path
    node: str
    amqp_port: int
    dist_port: int
    epmd_port: int
    password: str
    process: testing.Process | None = None
    epmd: testing.Process | None = None
    _ready: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, directory: Path) -> Broker:
        """A broker of fresh ports and password, its configuration written into ``directory`` (created; any
        previous state there is kept). Starts nothing."""
        directory = Path(directory).absolute()
        ports = _free_ports(3)
        broker = cls(directory, f"sandbox-{ports[0]}@localhost", *ports, secrets.token_urlsafe(18))
        broker._configure()
        return broker

    # ----------------------------------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        """The AMQP URL of the sandbox's virtual host, as fedora-messaging's ``amqp_url`` takes it."""
        vhost = urllib.parse.quote(VHOST, safe="")
        return f"amqp://{USER}:{self.password}@127.0.0.1:{self.amqp_port}/{vhost}"

    def endpoints(self) -> dict[str, Any]:
        """This broker's entry in the sandbox's endpoints file."""
        return {
            "amqp_url": self.url,
            "vhost": VHOST,
            "user": USER,
            "exchange": EXCHANGE,
            "node": self.node,
            "amqp_port": self.amqp_port,
            "directory": str(self.directory),
        }

    def env(self) -> dict[str, str]:
        """The environment of the server and of its command-line tools (pure)."""
        d = self.directory
        return {
            **testing.child_env(),
            "HOME": str(d),  # the Erlang cookie, shared by the server and rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(d / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),  # RabbitMQ adds ".conf"
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": LOOPBACK_ERL_ARGS,
            "RABBITMQ_CTL_ERL_ARGS": LOOPBACK_ERL_ARGS,  # the CLI tools are Erlang nodes too
        }

    # ----------------------------------------------------------------------------------------- lifecycle

    def launch(self) -> None:
        """Start epmd (once) and the server, without waiting for either. Not idempotent while running:
        :class:`BrokerError` if the server already runs."""
        if self.process is not None and self.process.alive():
            raise BrokerError(f"the broker {self.node} already runs (pid {self.process.pid})")
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise BrokerError(f"{RABBITMQ_BIN}/rabbitmq-server not found: install Debian's rabbitmq-server")
        env = self.env()
        if self.epmd is None or not self.epmd.alive():
            epmd = shutil.which("epmd") or "epmd"
            self.epmd = testing.start(
                "epmd",
                [epmd, "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                log=self.directory / "log" / "epmd.log",
                env=env,
                marker=f"-port {self.epmd_port}",
            )
        self._ready = False
        self.process = testing.start(
            "rabbitmq-server",
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            log=self.directory / "log" / "server.log",
            env=env,
            marker="rabbitmq-server",
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the broker accepts connections and ``ping`` answers. Idempotent and
        thread-safe: a second caller waits for the first. :class:`BrokerError` with the server's log if it
        exits or is not ready in ``timeout`` seconds."""
        with self._lock:
            if self._ready:
                return
            if self.process is None:
                raise BrokerError(f"the broker {self.node} was never launched")
            try:
                # the AMQP listener opens last in the boot; polling it is cheap, where each CLI call boots an
                # Erlang VM (a second of CPU on a machine the broker is booting on)
                testing.wait_for(
                    f"the broker {self.node} listening on 127.0.0.1:{self.amqp_port}",
                    self._listening,
                    timeout,
                    every=0.1,
                    watch=[self.process],
                )
                self._cli("rabbitmq-diagnostics", "-q", "ping")
            except testing.ProcessError as exc:
                raise BrokerError(f"the broker {self.node} did not start: {exc}") from None
            self._ready = True

    def start(self, timeout: float = START_TIMEOUT) -> Broker:
        """:meth:`launch` and :meth:`wait_ready`; the broker itself."""
        self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM: RabbitMQ's script has the VM shut down cleanly, SIGKILL after
        :data:`testing.STOP_TIMEOUT`), then epmd. Idempotent."""
        self._stop_server()
        if self.epmd is not None:
            testing.stop(self.epmd)

    def restart(self, timeout: float = START_TIMEOUT) -> Broker:
        """Stop the server and start it again on the same node name, ports and directory: durable queues and
        their persistent messages are there again. epmd keeps running."""
        self._stop_server()
        return self.start(timeout)

    def kill(self) -> None:
        """SIGKILL the Erlang VM (``beam.smp``), as a crash would: no clean shutdown. Its script then exits;
        :meth:`restart` (or :meth:`start`) brings the node back."""
        if self.process is None or not self.process.alive():
            raise BrokerError(f"the broker {self.node} is not running")
        beams = [p for p in testing.descendants(self.process.pid) if "beam.smp" in (testing.cmdline(p) or "")]
        if not beams:
            raise BrokerError(f"the broker {self.node} has no beam.smp process\n{self.process.tail()}")
        for pid in beams:
            os.kill(pid, signal.SIGKILL)
        self._ready = False
        testing.wait_for("the broker's VM to die", lambda: not any(testing.alive(p) for p in beams), 10)
        self._stop_server()  # its script and erl_child_setup, by pid

    def _listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.amqp_port)) == 0

    def ctl(self, *args: str, timeout: float = CTL_TIMEOUT) -> str:
        """Run ``rabbitmqctl -n <node> <args>`` and return its output; :class:`BrokerError` naming the command
        and its output if it fails."""
        return self._cli("rabbitmqctl", *args, timeout=timeout).stdout

    def _cli(self, tool: str, *args: str, check: bool = True, timeout: float = CTL_TIMEOUT) -> Any:
        argv = [str(RABBITMQ_BIN / tool), "-n", self.node, *args]
        try:
            done = subprocess.run(
                argv,
                env=self.env(),
                cwd=self.directory,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BrokerError(f"{tool} {' '.join(args)}: no answer within {timeout} s") from None
        if check and done.returncode != 0:
            raise BrokerError(f"{tool} {' '.join(args)} failed (exit {done.returncode}): {done.stdout}{done.stderr}")
        return done

    def _stop_server(self) -> None:
        self._ready = False
        if self.process is not None:
            try:
                testing.stop(self.process)
            except testing.ProcessError as exc:
                raise BrokerError(f"the broker {self.node}: {exc}") from None

    def _configure(self) -> None:
        """Write the configuration files into the directory."""
        d = self.directory
        (d / "log").mkdir(parents=True, exist_ok=True)
        # rabbitmq.conf (new-style): the AMQP listener on loopback only; the sandbox's virtual host and user,
        # created on the node's first boot in place of guest, with every permission in that virtual host.
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"default_vhost = {VHOST}\n"
            f"default_user = {USER}\n"
            f"default_pass = {self.password}\n"
            "default_permissions.configure = .*\n"
            "default_permissions.read = .*\n"
            "default_permissions.write = .*\n"
            "default_user_tags.administrator = true\n"
        )
        (d / "enabled_plugins").write_text("[].\n")


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now."""
    ports: list[int] = []
    while len(ports) < count:
        port = testing.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def listener_amqp(url: str, directory: Path, **settings: Any) -> dict[str, Any]:
    """The listener's ``bus.amqp`` block for the broker at ``url`` (plus ``settings``: queue, heartbeat, ...): the
    URL without its password, which goes to ``directory/amqp-password`` (mode 0600) as ``password_file`` — the
    listener's configuration refuses a password in the URL. Writes that file (idempotent)."""
    block = dict(settings)
    parts = urllib.parse.urlsplit(url)
    block["url"] = url
    if parts.password:
        directory.mkdir(parents=True, exist_ok=True)
        secret = directory / "amqp-password"
        secret.write_text(urllib.parse.unquote(parts.password))
        secret.chmod(0o600)
        netloc = f"{parts.username}@{parts.netloc.rsplit('@', 1)[1]}"
        block["url"] = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        block["password_file"] = secret.name
    return block


@contextmanager
def running(directory: Path, *, timeout: float = START_TIMEOUT) -> Iterator[Broker]:
    """A throwaway broker with its state in ``directory``, ready, stopped (with its epmd) on exit."""
    broker = Broker.create(directory)
    broker.start(timeout)
    try:
        yield broker
    finally:
        broker.stop()


class BrokerService:
    """The sandbox's broker. :meth:`start` only launches it (RabbitMQ takes seconds to boot: the other
    services start meanwhile); :meth:`ready` waits for it, and the daemon calls it before declaring the
    sandbox up. The bus connects to it through ``ctx.broker``."""

    name = "broker"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.broker: Broker | None = None

    def start(self) -> dict[str, Any]:
        self.broker = Broker.create(self.ctx.service_dir(self.name))
        self.broker.launch()
        self.ctx.broker = self.broker
        return self.broker.endpoints()

    def ready(self) -> None:
        assert self.broker is not None
        self.broker.wait_ready()

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()
