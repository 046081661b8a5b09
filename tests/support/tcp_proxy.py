"""A loopback TCP proxy that can freeze: the database host stops answering, sockets stay open."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class FreezableProxy:
    """Forwards 127.0.0.1:<port> to an upstream address until frozen.

    Frozen, it keeps every socket open and lets nothing more reach the server, as when a database
    process is stopped (SIGSTOP) or a network drops packets silently: no error, no answer. An
    answer already on its way still arrives: held back, a statement that committed just before
    the freeze would lose its acknowledgement, and a test could not tell whether it was stored.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._running = threading.Event()
        self._running.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        """Stop forwarding anything to the server."""
        self._running.clear()

    def close(self) -> None:
        """Close every socket: the server sees its sessions end."""
        self._closed = True
        self._running.set()
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, sink, gated in ((client, server, True), (server, client, False)):
                pump = threading.Thread(target=self._pump, args=(source, sink, gated), daemon=True)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if gated:
                self._running.wait()
            if self._closed:
                return
            try:
                sink.sendall(data)
            except OSError:
                return


@contextlib.contextmanager
def freezable_proxy(upstream: tuple[str, int]) -> Iterator[FreezableProxy]:
    """A proxy for the test's duration."""
    proxy = FreezableProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
