"""The server's sockets, before any request reaches the app: uvicorn's HTTP/1.1 protocol (the
one it picks itself, httptools when installed, else h11) with limits on request headers, a share
of sockets per client address, and /healthz served past the connection limit.

uvicorn has no header timeout: a socket that sends its headers a byte at a time, or nothing,
stays open for ever, and a few hundred of them fill MAX_CONNECTIONS (past which uvicorn answers
every request 503, the health check's too). Here a socket has HEADER_TIMEOUT seconds, from its
opening or the end of its last response, to finish a request's headers, which may not pass
MAX_HEADER_BYTES (httptools has no limit of its own); one address may hold at most
CLIENT_CONNECTIONS sockets (not counted for the proxies of FORWARDED_ALLOW_IPS, whose sockets
carry everyone's requests); and /healthz is answered whatever the number of open connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json

HEALTH = "/healthz"
# The request line and headers of one request: a browser's are under 2 KB; 16 KB is the limit
# uvicorn's h11 parser was already given (server.py), now the same whichever parser serves.
MAX_HEADER_BYTES = 16_384
_REASONS = {408: b"Request Timeout", 429: b"Too Many Requests", 431: b"Request Header Fields Too Large"}


def guarded_protocol(settings) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http`` option, with ``settings``' limits; each call
    makes a class with its own count of sockets per address (one server's)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    trusted = _Addresses(settings.proxies)

    class Guarded(_Guard, AutoHTTPProtocol):
        header_timeout = settings.header_timeout
        per_client = settings.client_connections
        held: dict[str, int] = {}
        is_proxy = trusted

    return Guarded


class _Guard:
    """Put before one of uvicorn's HTTP protocol classes (h11 or httptools): both keep the
    request being served in ``self.cycle`` and its scope in ``self.scope``."""

    header_timeout: float
    per_client: int
    held: dict[str, int]
    is_proxy: "_Addresses"

    def __init__(self, *args, **kwargs) -> None:
        self._counted = ""  # the address this socket is counted under ("" when not counted)
        self._timer = None
        self._waiting_after = None  # the request cycle the headers timer started after
        self._bytes_since = 0  # received while waiting for a request's headers
        super().__init__(*args, **kwargs)

    # uvicorn reads this once a request's headers are in (self.scope is then that request's) to
    # decide whether to answer it 503: the health check is always served.
    @property
    def limit_concurrency(self):
        if self.scope is not None and self.scope.get("path") == HEALTH:
            return None
        return self._limit_concurrency

    @limit_concurrency.setter
    def limit_concurrency(self, value) -> None:
        self._limit_concurrency = value

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if address and not self.is_proxy(address):
            self._counted = address
            self.held[address] = self.held.get(address, 0) + 1
            if self.held[address] > self.per_client:
                self._refuse(429, f"too many connections from your address (at most {self.per_client}): "
                                  "close some and try again", retry_after=5)
                return
        self._await_headers()

    def connection_lost(self, exc) -> None:
        self._stop_timer()
        if self._counted:
            self.held[self._counted] -= 1
            if not self.held[self._counted]:
                del self.held[self._counted]
            self._counted = ""
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._bytes_since += len(data)
        super().data_received(data)
        if self._timer is None:
            return
        if self.cycle is not self._waiting_after:
            self._stop_timer()  # a new request's headers are in
        elif self._bytes_since > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._stop_timer()
            self._refuse(431, f"request headers too large: send at most {MAX_HEADER_BYTES} bytes")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_headers()

    def _await_headers(self) -> None:
        self._stop_timer()
        if self.transport.is_closing():
            return
        self._waiting_after, self._bytes_since = self.cycle, 0
        self._timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # a request is being served (a pipelined one began meanwhile)
        if self._bytes_since:
            self._refuse(408, f"request headers not received within {self.header_timeout:g} s: send them at once")
        else:  # nothing sent at all (an idle or speculative connection): closed without a word
            self.transport.close()

    def _refuse(self, status: int, message: str, retry_after: int = 0) -> None:
        """Answer ``status`` in place of any request, and close the socket."""
        body = json.dumps({"error": message}).encode()
        head = [b"HTTP/1.1 %d %s" % (status, _REASONS[status]), b"content-type: application/json",
                b"content-length: %d" % len(body), b"connection: close", b"x-content-type-options: nosniff",
                b"cache-control: no-store"]
        if retry_after:
            head.append(b"retry-after: %d" % retry_after)
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()


class _Addresses:
    """Whether an address is one of FORWARDED_ALLOW_IPS (addresses, networks or "*")."""

    def __init__(self, entries: list[str]) -> None:
        self.any, self.networks, self.names = "*" in entries, [], set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:  # "*", or a name such as a Unix socket's, compared as written
                self.names.add(entry)

    def __call__(self, address: str) -> bool:
        if self.any or address in self.names:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)
