"""Run the app under uvicorn with limits that hold before the app sees a request: the size of
the request head, the time a client may take to send it, and which proxies are believed."""

from __future__ import annotations

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from rag.config import Settings


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete within
    ``header_timeout`` seconds of the connection or of the previous response (slow-header
    floods). httptools, uvicorn's default parser, has no cap on header size: h11 has one."""

    header_timeout = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_deadline = None
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        waiting_for_head = self.conn.their_state in (h11.IDLE, h11.DONE) and (
            self.cycle is None or self.cycle.response_complete)
        if waiting_for_head and not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers took over %.0f s", self.header_timeout)
            self.transport.close()


def server_config(app, settings: Settings, host: str, port: int) -> uvicorn.Config:
    protocol = type("Guarded", (GuardedH11,), {"header_timeout": settings.header_timeout})
    trusted = ",".join(settings.trusted_proxies)
    return uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                          http=protocol, h11_max_incomplete_event_size=settings.max_header_bytes,
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)


def serve(app, settings: Settings, host: str, port: int) -> None:
    uvicorn.Server(server_config(app, settings, host, port)).run()
