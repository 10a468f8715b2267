"""A loopback HTTP server for download tests: serves a folder, speaks Range and HEAD, injects
faults.

Tests never touch the internet. This server binds 127.0.0.1 on a free port, records every request
(method, path, headers) and can be scripted per URL path to misbehave the ways real mirrors do:
answer 5xx a few times, cut the connection half-way through a body whose Content-Length promised
more, ignore Range, or stall. Custom routes (a fake Hub API) return a `Response`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Response:
    """What a route answers: a status with headers and a body, or a file to serve (with Range)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None

    @staticmethod
    def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(data).encode()
        return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)


@dataclass
class Fault:
    """Misbehaviour for the next `times` requests of one path."""

    times: int = 1
    status: int | None = None  # answer this status instead
    drop_after: int | None = None  # send full headers, then only this many body bytes, then close
    ignore_range: bool = False  # answer 200 with the whole body even when asked for a range
    stall_seconds: float = 0.0  # wait this long before answering


@dataclass
class Request:
    method: str
    path: str  # the full request target, with query
    headers: dict[str, str]

    @property
    def route(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)


Route = Callable[[Request, re.Match[str]], Response]


class LoopbackServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[Request] = []
        self.faults: dict[str, list[Fault]] = {}
        self.routes: list[tuple[re.Pattern[str], Route]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- scripting -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def add_fault(self, path: str, fault: Fault) -> None:
        self.faults.setdefault("/" + path.lstrip("/"), []).append(fault)

    def route(self, pattern: str, fn: Route) -> None:
        self.routes.append((re.compile(pattern), fn))

    def requests_for(self, path: str) -> list[Request]:
        path = "/" + path.lstrip("/")
        return [r for r in self.requests if r.route == path]

    # -- internals -----------------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path) or []
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_HEAD(self) -> None:
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            self.head = head
            req = Request("HEAD" if head else "GET", self.path, dict(self.headers.items()))
            with server._lock:
                server.requests.append(req)
            fault = server._take_fault(req.route)
            if fault and fault.stall_seconds:
                time.sleep(fault.stall_seconds)
            if fault and fault.status:
                self._send(Response(fault.status, body=b"injected failure"))
                return
            resp = None
            for pattern, fn in server.routes:
                m = pattern.fullmatch(req.route)
                if m:
                    resp = fn(req, m)
                    break
            if resp is None:
                resp = Response(file=server.root / req.route.lstrip("/"))
            if resp.file is not None:
                self._send_file(resp, fault)
            else:
                self._send(resp)

        def _send(self, resp: Response, drop_after: int | None = None) -> None:
            self.send_response(resp.status)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            if "Content-Length" not in resp.headers:
                self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.head:
                return
            if drop_after is None:
                self.wfile.write(resp.body)
                return
            self.wfile.write(resp.body[:drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _send_file(self, resp: Response, fault: Fault | None) -> None:
            path = resp.file
            assert path is not None
            if not path.is_file():
                self._send(Response(404, body=b"not found"))
                return
            data = path.read_bytes()
            size = len(data)
            headers = {"Accept-Ranges": "bytes", **resp.headers}
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if m and not (fault and fault.ignore_range):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                if start >= size:
                    headers["Content-Range"] = f"bytes */{size}"
                    self._send(Response(416, headers))
                    return
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                out = Response(206, headers, data[start : end + 1])
            else:
                out = Response(200, headers, data)
            self._send(out, fault.drop_after if fault else None)

    return Handler


@contextmanager
def serve(root: Path) -> Iterator[LoopbackServer]:
    server = LoopbackServer(root).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
