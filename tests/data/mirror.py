"""A download mirror on 127.0.0.1 for the download tests: real HTTP, no internet.

``Mirror(files)`` serves ``files`` (name -> bytes) under ``/a/`` and ``/b/``; per-name behaviours make a
server misbehave: ``"missing"`` (404), ``"reset"`` (close the connection after a few bytes),
``"lie"`` (a Content-Length smaller than what it sends), ``"flood"`` (send far more than the cap).
Every request path is recorded in ``seen``.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator


class Mirror:
    def __init__(self, files: dict[str, bytes], behaviour: dict[str, str] | None = None,
                 flood_bytes: int = 0):
        self.files = files
        self.behaviour = behaviour or {}
        self.flood_bytes = flood_bytes
        self.seen: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                mirror.seen.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                how = mirror.behaviour.get(self.path, mirror.behaviour.get(name, "ok"))
                body = mirror.files.get(name)
                if body is None or how == "missing":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if how == "flood":
                    chunk = b"\0" * (1 << 20)
                    self.send_response(200)
                    self.send_header("Content-Length", str(mirror.flood_bytes))
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        for _ in range(mirror.flood_bytes // len(chunk)):
                            self.wfile.write(chunk)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) if how != "lie" else max(1, len(body) // 2)))
                self.end_headers()
                if how == "reset":
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def mirrors(self) -> tuple[str, str]:
        return (f"{self.url}/a/", f"{self.url}/b/")

    def __enter__(self) -> Mirror:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A loopback URL nothing listens on (connection refused at once)."""
    import socket

    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
