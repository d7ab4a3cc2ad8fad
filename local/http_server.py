"""The stdlib HTTP server in front of the gateway: reads each request (its body within the payload
quota, chunked or not), hands it to `Front.handle`, writes the reply and logs one line for it."""

from __future__ import annotations

import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import sigv4
from .console import complain, say
from .front import BAD_REQUEST, MAX_BODY_BYTES, TOO_LARGE, Front, Reply, gateway_reply


class FrontServer(ThreadingHTTPServer):
    request_queue_size = 128
    front: Front


class FrontHandler(BaseHTTPRequestHandler):
    """stdlib HTTP plumbing; every method goes to `Front.handle`."""

    server: FrontServer
    server_version = "swaig-local"
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    disable_nagle_algorithm = True

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; routing (and 404) is the router's job, for any method.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except _BadBody as exc:
            reply, answered_by = exc.reply, "-"
            self.close_connection = True
        else:
            hosts = sigv4.api_hosts(self.server.server_address[1])
            reply, answered_by = self.server.front.handle(
                self.command, self.path, list(self.headers.items()), body, hosts
            )
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to answer
            answered_by += " (client gone)"
        millis = (time.perf_counter() - started) * 1000
        say(f"{self.command} {self.path.partition('?')[0]} {reply.status} {millis:.0f}ms {answered_by}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        if not raw_length.strip().isdigit():
            raise _BadBody(gateway_reply(BAD_REQUEST))
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            raise _BadBody(gateway_reply(TOO_LARGE))
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadBody(gateway_reply(BAD_REQUEST)) from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return body
            if len(body) + size > MAX_BODY_BYTES:
                raise _BadBody(gateway_reply(TOO_LARGE))
            body += self.rfile.read(size)
            self.rfile.readline(8)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unsupported version, ...) in the gateway's shape."""
        self.close_connection = True
        self._write(gateway_reply((code, HTTPStatus(code).phrase)))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line per request, with the function and the time taken

    def log_message(self, format: str, *args: Any) -> None:
        complain(f"http: {format % args}")


class _BadBody(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply
