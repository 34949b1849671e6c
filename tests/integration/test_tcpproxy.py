"""The proxy the chaos run stops services with: down() refuses new connections and closes the open ones, as a
stopped service's port does; up() serves again on the same port."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

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
