"""The dashboard's guard: credentials, cross-site request checks and safe headers.

An ASGI middleware in front of every route:

* **Credentials** (when configured): HTTP Basic ``user:password``, or a token sent
  as ``Authorization: Bearer <token>`` (or as the Basic password, any user name, so
  a browser's login prompt works). Compared in constant time. Without them a
  request gets 401 and a Basic challenge.
* **Actions** (every non-GET request): refused with 403 on a read-only dashboard;
  otherwise they need the app's anti-forgery token in ``X-Corral-Csrf`` (the page
  reads it from ``/api/config``, which another site cannot read), a JSON body, and
  when the browser says where the request comes from (``Origin``,
  ``Sec-Fetch-Site``), the dashboard's own origin.
* **Headers** on every answer: a Content-Security-Policy that runs only the
  dashboard's own scripts (so a payload that slipped into the page could not
  run), no framing, no sniffing, no referrer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CSRF_HEADER", "Credentials", "Guard", "parse_auth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_HEADER = "x-corral-csrf"
"""The request header that carries the anti-forgery token."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        b"form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request must present: a user and password, a token, or both."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def required(self) -> bool:
        """Whether any credentials are configured."""
        return self.password is not None or self.token is not None

    def accepts(self, authorization: str) -> bool:
        """Whether an ``Authorization`` header value presents them."""
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return self.token is not None and _same(value, self.token)
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        if self.token is not None and _same(password, self.token):
            return True
        if self.password is None or self.user is None:
            return False
        # Both compared, always: the time taken says nothing about which one was wrong.
        user_ok = _same(user, self.user)
        return _same(password, self.password) and user_ok


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` → ``(user, password)``; ValueError naming the fix otherwise."""
    if auth is None:
        return None
    if not isinstance(auth, str):
        raise TypeError("auth must be a 'user:password' string")
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("auth must look like 'user:password' (both parts non-empty)")
    return user, password


class Guard:
    """The ASGI middleware described in the module docstring."""

    def __init__(
        self, app: ASGIApp, *, credentials: Credentials, csrf_token: str, read_only: bool
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.csrf_token = csrf_token
        self.read_only = read_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        if refusal is not None:
            status, text, extra = refusal
            body = json.dumps({"error": text}).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        credentials = self.credentials
        if credentials.required and not credentials.accepts(headers.get("authorization", "")):
            return 401, "credentials required", [(b"www-authenticate", b'Basic realm="corral"')]
        if scope["method"] in SAFE_METHODS:
            return None
        if self.read_only:
            return 403, "this dashboard is read-only", []
        if not _same(headers.get(CSRF_HEADER, ""), self.csrf_token):
            return 403, "missing or wrong anti-forgery token (reload the dashboard)", []
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, f"cross-site request refused ({site})", []
        origin = headers.get("origin")
        if origin is not None and origin.partition("://")[2] != headers.get("host", ""):
            return 403, f"request from another origin refused ({origin})", []
        if headers.get("content-type", "").partition(";")[0].strip() != "application/json":
            return 415, "actions take a JSON body (content-type: application/json)", []
        return None
