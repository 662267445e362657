"""Connection hardening: a cap on open connections, a deadline per request, a bounded body and a bounded log.

uvicorn runs the app with :class:`GuardedH11Protocol` (its HTTP/1.1 protocol, guarded), a short
keep-alive and a small header buffer; :class:`BodyLimit` answers 413 to a body over the limit
however it is sent; :class:`LogBudget` keeps the log small under a flood of errors.
"""

import asyncio
import logging
import time

import h11
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from adain.apps.server.limits import Limits


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a connection cap and a deadline per request.

    At ``max_connections`` a new connection closes the oldest one that is waiting for a request
    (idle, or still sending its headers); if every one is busy with a request, the new one is
    dropped as soon as it is accepted. So idle sockets can neither use up the file handles nor
    lock out other clients. A request whose headers and body have not all arrived
    ``request_timeout`` seconds after the connection opened (or after the previous answer) is
    dropped too. A request being answered has no deadline (the queue bounds that work).
    """

    max_connections = 256
    request_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._opened = time.monotonic()
        self._dropped = len(self.connections) >= self.max_connections and not self._evict_oldest_waiting()
        if self._dropped:
            transport.abort()
            return
        super().connection_made(transport)
        self._arm()

    def _waiting(self) -> bool:
        """No request in progress: idle since the last answer, or its headers not all in."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _evict_oldest_waiting(self) -> bool:
        """Close the connection waiting for a request the longest; ``False`` if none is waiting."""
        waiting = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and c._waiting() and not c.transport.is_closing()]
        if not waiting:
            return False
        min(waiting, key=lambda c: c._opened).transport.close()
        return True

    def _arm(self) -> None:
        """Start the deadline of the next request."""
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in: the answer has no deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._dropped:
            return
        self._disarm()
        super().connection_lost(exc)


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (by Content-Length, else counted as it streams)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def message(self) -> str:
        """The answer's one line."""
        return f"the upload is over the limit of {self.max_bytes / 2**20:g} MiB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse({"detail": self.message()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self.message())
            return message

        await self.app(scope, counted, send)


class LogBudget(logging.Filter):
    """Lets at most ``burst`` records through per ``period`` seconds; the first record after a quiet
    period says how many were dropped. Keeps the log bounded under attack (a flood of errors)."""

    def __init__(self, burst: int = 20, period: float = 60.0) -> None:
        super().__init__()
        self.burst, self.period = burst, period
        self.window_start, self.count, self.dropped = time.monotonic(), 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.window_start >= self.period:
            if self.dropped:
                record.msg = f"({self.dropped} log messages dropped in {self.period:g} s) {record.msg}"
            self.window_start, self.count, self.dropped = now, 0, 0
        self.count += 1
        if self.count > self.burst:
            self.dropped += 1
            return False
        return True


def uvicorn_config(app: FastAPI, host: str, port: int, limits: Limits) -> uvicorn.Config:
    """uvicorn's settings for ``app``: the guarded protocol with ``limits``' cap and deadline, short keep-alive, small header buffer."""

    class Protocol(GuardedH11Protocol):
        max_connections = limits.max_connections
        request_timeout = limits.request_timeout

    return uvicorn.Config(app, host=host, port=port, http=Protocol, backlog=limits.max_connections, timeout_keep_alive=5,
                          h11_max_incomplete_event_size=16 * 1024, log_level="info")


def run_server(app: FastAPI, host: str, port: int, limits: Limits) -> None:
    """Serve ``app`` until interrupted, with bounded connections and a bounded log."""
    config = uvicorn_config(app, host, port, limits)
    for name in ("uvicorn.error", "uvicorn.access", "asyncio", "adain.serve"):
        logging.getLogger(name).addFilter(LogBudget())
    uvicorn.Server(config).run()
