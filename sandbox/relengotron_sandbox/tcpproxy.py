"""A TCP proxy on 127.0.0.1 that can cut its connections *silently*: no FIN, no RST, the bytes just stop.

This is how a connection dies behind a NAT or a firewall that forgot it, or when a host vanishes: the client's
socket stays open and quiet, and only an application-level heartbeat can tell (fedora-messaging issue 208: a
consumer idle for ten days). Tests, bench and chaos put it between a client and a server:

    with TcpProxy("127.0.0.1", broker.amqp_port) as proxy:
        ...connect to proxy.port...
        proxy.stall()       # the connections open now stop forwarding, stay open, and are never closed by us
        ...                 # new connections are forwarded normally (the "network" is back for them)
        proxy.down()        # or: the service stopped — connections refused, the open ones closed
        proxy.up()          # and started again, on the same port

:meth:`stall` returns how many connections it froze; :meth:`close` closes everything. Threads: one accepting,
one per connection (a select loop over both sockets).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType

CHUNK = 65536


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.stalled = threading.Event()
        self.closed = threading.Event()

    def pump(self) -> None:
        peers = {self.client: self.server, self.server: self.client}
        try:
            while not self.closed.is_set():
                if self.stalled.is_set():  # read nothing, write nothing, close nothing: silence
                    self.closed.wait(0.2)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    if self.stalled.is_set():
                        break
                    data = sock.recv(CHUNK)
                    if not data:  # an orderly close on one side is passed on
                        peers[sock].shutdown(socket.SHUT_WR)
                        del peers[sock]
                        if not peers:
                            return
                        continue
                    peers[sock].sendall(data)
                if not peers:
                    return
        except OSError:
            pass
        finally:
            if not self.stalled.is_set():
                self.close()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` (any free port) to ``host``:``target_port``."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target = (host, target_port)
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listen(0)

    def _listen(self, port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR: the same port again after down()
        self.port: int = self._listener.getsockname()[1]
        self._refusing = threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(self._listener, self._refusing), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket, refusing: threading.Event) -> None:
        while not (self._closed.is_set() or refusing.is_set()):
            try:
                readable, _, _ = select.select([listener], [], [], 0.2)
                if not readable:
                    continue
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, server)
            with self._lock:
                self._pairs = [p for p in self._pairs if not p.closed.is_set()] + [pair]
            threading.Thread(target=pair.pump, name="tcpproxy-pump", daemon=True).start()

    def connections(self) -> int:
        """Connections open and forwarding."""
        with self._lock:
            return sum(1 for p in self._pairs if not p.closed.is_set() and not p.stalled.is_set())

    def stall(self) -> int:
        """Stop forwarding on every connection open now, silently; returns how many. New ones still work."""
        with self._lock:
            live = [p for p in self._pairs if not p.closed.is_set() and not p.stalled.is_set()]
        for pair in live:
            pair.stalled.set()
        return len(live)

    def down(self) -> int:
        """Be a stopped service: new connections refused, the open ones closed; how many were open. Idempotent
        (down already: 0). :meth:`up` listens again on the same port."""
        self._refusing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        live = [pair for pair in pairs if not pair.closed.is_set()]
        for pair in pairs:
            pair.close()
        return len(live)

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`. Idempotent (listening already: nothing)."""
        if self._refusing.is_set() and not self._closed.is_set():
            self._listen(self.port)

    def close(self) -> None:
        """Close the listening socket and every connection (stalled ones too). Idempotent."""
        self._closed.set()
        self.down()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
