"""Who may use the console, and how a page of another site is kept out.

- **Host check.** Served on a loopback address, the console answers only requests
  addressed to a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``): a site
  whose name an attacker points at 127.0.0.1 (DNS rebinding) gets nothing.
- **Token.** With a token, every request needs it: ``Authorization: Bearer TOKEN``,
  or the cookie set when a page is opened with ``?token=TOKEN`` (HttpOnly,
  SameSite=Strict).
- **Cross-site requests.** Every POST must carry the page's CSRF token in the
  ``X-CSRF-Token`` header (a form or script of another site cannot send that header
  without the console's consent, which it never gives) and, when the browser says
  where it comes from (``Origin``, ``Sec-Fetch-Site``), come from the console itself.
- **Read-only.** Every POST is refused.
- **Headers.** A content security policy that allows scripts and styles from the
  console only (no inline script, so nothing a job holds can run even if it reached
  the page as markup), no framing, no referrer, no sniffing of content types.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

__all__ = ["CSP", "TOKEN_COOKIE", "Guard", "is_loopback"]

TOKEN_COOKIE: Final = "beanstalkm_token"
CSRF_HEADER: Final = "X-CSRF-Token"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this
    machine only."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name of a Host header, without its port."""
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@dataclass
class Guard:
    """The console's rules for requests (see the module's docstring), as aiohttp
    middleware."""

    #: Answer only requests addressed to a loopback name.
    loopback_only: bool
    token: str | None = None
    read_only: bool = False
    #: The token the pages send back with each POST.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and _same(bearer[7:], self.token):
            return True
        cookie = request.cookies.get(TOKEN_COOKIE)
        return cookie is not None and _same(cookie, self.token)

    def _cross_site(self, request: web.Request) -> str | None:
        """Why a POST is refused as cross-site, or None."""
        origin = request.headers.get("Origin")
        # The host alone: behind a proxy that speaks HTTPS the scheme differs.
        if origin is not None and origin.partition("://")[2] != request.host:
            return f"a request from {origin} is not accepted"
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return f"a {site} request is not accepted"
        given = request.headers.get(CSRF_HEADER)
        if given is None or not _same(given, self.csrf):
            return f"the {CSRF_HEADER} header is missing or wrong: reload the page"
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the request, run it, and add the security headers to the response."""
        response = await self._checked(request, handler)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.loopback_only and not is_loopback(_host_name(request.host)):
            return _refuse(
                421, f"this console answers only to a loopback address, not {request.host}"
            )
        given = request.query.get("token")
        if self.token is not None and given is not None and request.method == "GET":
            if not _same(given, self.token):
                return _refuse(401, "wrong token")
            # The token goes into a cookie and out of the address bar (and history).
            query = {k: v for k, v in request.query.items() if k != "token"}
            response = web.Response(
                status=303, headers={"Location": str(request.rel_url.with_query(query))}
            )
            response.set_cookie(
                TOKEN_COOKIE, self.token, httponly=True, samesite="Strict", path="/"
            )
            return response
        if not self._authorized(request):
            return _refuse(
                401, "a token is needed: open the address beanstalkm web printed, with ?token="
            )
        if request.method not in ("GET", "HEAD"):
            reason = self._cross_site(request)
            if reason is not None:
                return _refuse(403, reason)
            if self.read_only:
                return _refuse(403, "this console is read-only")
        return await handler(request)
