"""A service's own HTTP(S) endpoint on 127.0.0.1, for the server to call back.

Single-logout URLs, proxy-callback (``pgtUrl``) endpoints: each test's
endpoint defines its request handler, :class:`LocalEndpoint` serves it in a
thread on a free port. ``release`` is set on :meth:`~LocalEndpoint.stop`, so
that a handler made to hang returns at once.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    """Handler threads never hold up the test, and a broken connection is not reported."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the server under test gave up on us: expected of an endpoint made to hang


class LocalEndpoint:
    """Serves ``handler`` (over TLS with ``context``) until :meth:`stop`."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None
    ) -> None:
        self.release = threading.Event()
        self.server = QuietServer(("127.0.0.1", 0), handler)
        if context is not None:
            self.server.socket = context.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
