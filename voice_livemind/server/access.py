"""Who may open a session: an Origin allow-list for browsers and an optional bearer token.

A browser sends `Origin` with every WebSocket handshake, and any page it has open may try one:
without a check, a page from anywhere could drive the model through a server bound to
127.0.0.1. Same origin (the playground this server serves) is allowed, plus the origins the
operator names; `Origin: null` (sandboxed frames, local files) is not. A request with no Origin
header comes from a program, not a page, and is allowed: scripts and harnesses keep working.

The token (`--token`, or `VOICE_LIVEMIND_TOKEN`) is for servers other machines can reach. It
is accepted as `Authorization: Bearer <token>` or as a `token` query parameter on `/ws` (a
browser's WebSocket cannot set headers; the playground reads it from its URL fragment, which
the browser never sends to the server).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_ENV = "VOICE_LIVEMIND_TOKEN"


@dataclass(frozen=True)
class AccessPolicy:
    token: str | None = None  # None: no token asked for
    allowed_origins: frozenset[str] = field(default_factory=frozenset)  # besides same origin

    def __post_init__(self) -> None:
        for origin in self.allowed_origins:
            if normalize_origin(origin) != origin:
                raise ValueError(
                    f"--allow-origin {origin!r}: give scheme://host[:port], e.g. "
                    "https://example.org"
                )

    def check(self, request: web.Request) -> None:
        """Raise 403 (foreign origin) or 401 (token missing or wrong); return if allowed."""
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin, request):
            raise web.HTTPForbidden(text=f"origin {origin!r} is not allowed\n")
        if not self.authorized(request):
            raise web.HTTPUnauthorized(
                text="a token is required: Authorization: Bearer <token> or ?token=<token>\n",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            given = header[len("bearer ") :].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _origin_allowed(self, origin: str, request: web.Request) -> bool:
        if origin in self.allowed_origins:
            return True
        # Same origin: the page came from this host and port. The scheme is not compared, as a
        # TLS proxy in front makes the page https:// while this server sees http://.
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host


def normalize_origin(origin: str) -> str:
    """`origin` as a browser writes it in the Origin header: scheme://host[:port], lower case."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
