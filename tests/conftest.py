"""Shared fixtures."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch


class ArchiveServer:
    """A local HTTP server for download tests: serves bytes by name, honours ``Range: bytes=N-``
    (unless ``ignore_range``), can cut a response after a given number of body bytes, and logs
    every request's path and Range header."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cuts: dict[str, list[int]] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    def cut(self, name: str, *after_bytes: int) -> None:
        """Cut the next responses for ``name`` after these many body bytes, one per request."""
        self.cuts.setdefault(name, []).extend(after_bytes)

    def ranges(self, name: str) -> list[str | None]:
        return [header for path, header in self.requests if path == name]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                header = self.headers.get("Range")
                server.requests.append((name, header))
                if name not in server.files:
                    self.send_error(404, "Not Found")
                    return
                data = server.files[name]
                match = re.fullmatch(r"bytes=(\d+)-", header or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    start = 0
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                cuts = server.cuts.get(name)
                if cuts:
                    self.wfile.write(body[: cuts.pop(0)])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    """A running :class:`ArchiveServer` on 127.0.0.1 (an OS-chosen port)."""
    with ArchiveServer() as server:
        yield server


@pytest.fixture
def float64() -> Iterator[None]:
    """Run the test in float64 (:mod:`clar.precision`): for comparisons of two computations
    that should agree, which float32 rounding would blur by an amount that differs per CPU."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Many tiny tensor ops: on a busy 2-core machine two OpenMP threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def registries() -> Iterator[None]:
    """Methods a test registers (plug-ins) are gone after it: the registries are the
    process's, and other tests list what they hold."""
    from clar.encoders import ENCODERS
    from clar.heads import HEADS
    from clar.objectives import OBJECTIVES

    kept = [(r, dict(r._methods), dict(r._plugins)) for r in (OBJECTIVES, ENCODERS, HEADS)]
    for registry, *_ in kept:
        registry.names()  # the project's own loaded before the snapshot
    kept = [(r, dict(r._methods), dict(r._plugins)) for r, *_ in kept]
    yield
    for registry, methods, plugins in kept:
        registry._methods, registry._plugins = methods, plugins
