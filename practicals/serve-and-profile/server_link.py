"""The contestant's way to the grader's inference server (runs in the sandboxed contestant).

A sandboxed contestant has no network of its own, so the grader serves its inference server on
a Unix socket (``SOCKET_NAME``) in the contestant's folder. Here a small relay listens on this
process's own 127.0.0.1 and forwards every connection to that socket, so ``diagnose`` gets an
ordinary ``http://127.0.0.1:PORT`` URL.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

SOCKET_NAME = "inference.sock"
_CHUNK = 1 << 16


class Relay:
    """TCP on 127.0.0.1 -> the Unix socket, two pump threads per connection."""

    def __init__(self, socket_path: str) -> None:
        self._socket_path = socket_path
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def url(self) -> str:
        with self._lock:
            if self._listener is None:
                self._listener = socket.create_server(("127.0.0.1", 0))
                threading.Thread(target=self._accept, name="relay", daemon=True).start()
            return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            client, _ = self._listener.accept()
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        """Relay one connection both ways until both sides are done, then close it."""
        # The server's reply reaches us in pieces (headers, then body); with Nagle's algorithm
        # on, the body waits here for the client's delayed ACK of the headers (about 40 ms on
        # Linux), in some exchanges only, which made whole load tests swing.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            try:
                upstream.connect(self._socket_path)
            except OSError:
                return
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(_CHUNK):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:  # a side broke off: end the other direction too
        for side in (source, target):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The candidate's endpoint: ``diagnose()`` runs ``solution.diagnose(url)`` against the
    grader's server and returns its answer."""
    diagnose = getattr(solution, "diagnose", None)
    if not callable(diagnose):
        raise AttributeError("solution.py must define diagnose(base_url)")
    relay = Relay(SOCKET_NAME)
    return {"diagnose": lambda: diagnose(relay.url())}


def load_test(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The grader's load contestant (``solution`` is the trusted ``baseline.py``):
    ``load(requests, concurrency, seed)`` sends load and returns the HTTP statuses."""
    relay = Relay(SOCKET_NAME)
    return {"load": lambda *args: solution.load(relay.url(), *args)}
