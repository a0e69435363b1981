"""A small HTTP server on 127.0.0.1 for download tests (tests never use the internet).

`FileServer` serves `files` by path, honours `Range: bytes=N-` unless told not to, logs every
request, and can misbehave on purpose: cut a body short, or go silent midway. `silent_server()`
accepts connections and never answers (for timeouts); `closed_port()` is a port nobody listens on.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves `files` by path; honours `Range: bytes=N-` unless told not to; logs requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []  # {"path": ..., "range": ...} per request
        self.honour_range = True
        self.cut_after: int | None = None  # send only this many body bytes, then hang up
        self.stall_after: int | None = None  # send this many body bytes, then go silent
        self.release = threading.Event()  # ends a stall (set when the server closes)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and server.honour_range:
                    start = int(match[1])
                    if start >= len(data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body = body[: server.cut_after]
                    self.close_connection = True
                if server.stall_after is not None:
                    self.wfile.write(body[: server.stall_after])
                    self.wfile.flush()
                    server.release.wait()
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """The URL of a server that accepts connections (the kernel does) but never sends a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
