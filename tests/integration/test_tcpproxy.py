"""The proxy the chaos run stops services with: down() refuses new connections and closes the open ones, as a
stopped service's port does; up() serves again on the same port."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from relengotron_sandbox.tcpproxy import TcpProxy

pytestmark = pytest.mark.integration


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def roundtrip(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        return sock.recv(16)


def test_a_stopped_front_refuses_and_closes_then_serves_again_on_its_port(echo: int) -> None:
    with TcpProxy("127.0.0.1", echo) as proxy:
        port = proxy.port
        assert roundtrip(port) == b"ping"
        held = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.sendall(b"x")
        assert held.recv(4) == b"x"
        assert proxy.down() == 1
        assert held.recv(4) == b""  # the open connection was closed
        held.close()
        with pytest.raises(ConnectionRefusedError):
            roundtrip(port)
        assert proxy.down() == 0  # idempotent
        proxy.up()
        proxy.up()  # idempotent
        assert proxy.port == port and roundtrip(port) == b"ping"


def test_the_chaos_run_fronts_koji_resultsdb_and_the_bus_relay(tmp_path: Path) -> None:
    from relengotron_sandbox.chaos.run import front

    config = tmp_path / "bus" / "fedmsg.d" / "sandbox.py"
    config.parent.mkdir(parents=True)
    text = (
        "config = {'endpoints': {'sandbox-relay': ['tcp://127.0.0.1:4001']}, 'relay_inbound': ['tcp://127.0.0.1:4002']}"
    )
    config.write_text(text)
    endpoints = {
        "koji": {"hub": "http://127.0.0.1:4003/kojihub", "topurl": "http://127.0.0.1:4003/kojifiles", "user": "x"},
        "resultsdb": {"url": "http://127.0.0.1:4004/api/v2.0/"},
        "bus": {"relay_outbound": "tcp://127.0.0.1:4001", "fedmsg_config": str(config)},
        "pdc": {"url": "http://127.0.0.1:4005/rest_api/v1/"},
    }
    fronts: dict[str, TcpProxy] = {}
    try:
        routed = front(endpoints, fronts)
        koji, resultsdb, bus = (fronts[name].port for name in ("koji", "resultsdb", "bus"))
        assert {name: proxy.target for name, proxy in fronts.items()} == {
            "koji": ("127.0.0.1", 4003),
            "resultsdb": ("127.0.0.1", 4004),
            "bus": ("127.0.0.1", 4001),
        }
        assert routed["koji"] == {
            "hub": f"http://127.0.0.1:{koji}/kojihub",
            "topurl": f"http://127.0.0.1:{koji}/kojifiles",
            "user": "x",
        }
        assert routed["resultsdb"] == {"url": f"http://127.0.0.1:{resultsdb}/api/v2.0/"}
        assert routed["pdc"] == endpoints["pdc"]  # not stopped by the chaos run: reached directly
        fronted = Path(routed["bus"]["fedmsg_config"])
        assert fronted != config and config.read_text() == text  # the sandbox's own config untouched
        assert fronted.read_text() == text.replace("tcp://127.0.0.1:4001", f"tcp://127.0.0.1:{bus}")
        assert routed["bus"]["relay_outbound"] == f"tcp://127.0.0.1:{bus}"
    finally:
        for proxy in fronts.values():
            proxy.close()
