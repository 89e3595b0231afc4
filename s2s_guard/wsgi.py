"""RFC 6750 for WSGI (PEP 3333): a plain middleware for any WSGI application, on the sync core.

Every request except the public paths is authenticated with :meth:`Guard.authenticate_sync`
(no event loop per request); the principal goes into ``environ["s2s_guard.principal"]``.
A refusal is the RFC 6750 response: status, ``WWW-Authenticate`` challenge, JSON body.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .contrib import bind_requirement
from .errors import AuthError
from .guard import Guard
from .policy import Requirement
from .principal import Principal
from .sender import environ_kwargs

__all__ = ["GuardMiddleware", "PRINCIPAL_KEY", "authenticate_environ", "authorization_values",
           "get_principal", "query_tokens", "send_error", "send_metadata"]

PRINCIPAL_KEY = "s2s_guard.principal"


def authorization_values(environ: WSGIEnvironment) -> list[str]:
    """The ``Authorization`` value of a WSGI environ, as a list (empty when absent)."""
    value = environ.get("HTTP_AUTHORIZATION")
    return [] if value is None else [value]


def query_tokens(query_string: str) -> list[str]:
    """RFC 6750 §2.3: every ``access_token`` in a query string (the guard decides if allowed)."""
    if "access_token" not in query_string:  # fast path: almost every request
        return []
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return [value for name, value in pairs if name == "access_token"]


def send_error(exc: AuthError, start_response: StartResponse, method: str = "GET") -> list[bytes]:
    """Start the RFC 6750 response for ``exc`` and return its body (none for HEAD)."""
    body = exc.body()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               *exc.headers.items()]
    start_response(f"{exc.status_code} {HTTPStatus(exc.status_code).phrase}", headers)
    return [] if method == "HEAD" else [body]  # RFC 9110 §9.3.2 (Content-Length: the GET one, §8.6)


def send_metadata(guard: Guard, method: str, start_response: StartResponse) -> list[bytes]:
    """RFC 9728 §3: start the protected resource metadata response and return its body."""
    if guard.resource_metadata is None:
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    status, headers, body = guard.resource_metadata.respond(method)
    length = len(guard.resource_metadata.body) if method == "HEAD" else len(body)
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [*headers.items(), ("Content-Length", str(length))])
    return [body]


def get_principal(environ: WSGIEnvironment) -> Principal | None:
    """The principal :class:`GuardMiddleware` authenticated for this request, if any."""
    principal = environ.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else None


def _path(environ: WSGIEnvironment) -> str:
    # PEP 3333: PATH_INFO is bytes decoded as latin-1; paths are UTF-8 on the wire.
    path = str(environ.get("PATH_INFO", ""))
    try:
        return path.encode("latin-1").decode("utf-8", "replace") or "/"
    except UnicodeEncodeError:
        return path  # a server (or a framework under us) that already decoded the path


def authenticate_environ(guard: Guard, environ: WSGIEnvironment, requirement: Requirement | None = None) -> Principal:
    """:meth:`Guard.authenticate_sync` with what a WSGI request carries; the method, URL, ``DPoP``
    proof and client certificate only when the guard checks sender-constrained tokens."""
    return guard.authenticate_sync(authorization_values(environ), requirement,
                                   query_tokens=query_tokens(str(environ.get("QUERY_STRING", ""))),
                                   path=_path(environ), **environ_kwargs(guard, environ, requirement))


class GuardMiddleware:
    """Authenticate every WSGI request except ``public_paths``; deny by default."""

    def __init__(self, app: WSGIApplication, *, guard: Guard, public_paths: Iterable[str] = (),
                 requirement: Requirement | None = None) -> None:
        self.app = app
        self.guard = guard
        self.public_paths = frozenset(public_paths)
        self.requirement = requirement
        metadata = guard.resource_metadata  # RFC 9728: answered here, before authentication
        self._metadata_path = None if metadata is None else metadata.path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = _path(environ)
        if path == self._metadata_path:
            return send_metadata(self.guard, str(environ.get("REQUEST_METHOD", "GET")), start_response)
        if path in self.public_paths or self.guard.is_public(path):
            return self.app(environ, start_response)
        requirement = None if self.requirement is None else bind_requirement(self.requirement, environ)
        try:
            principal = authenticate_environ(self.guard, environ, requirement)
        except AuthError as exc:
            return send_error(exc, start_response, str(environ.get("REQUEST_METHOD", "GET")))
        environ[PRINCIPAL_KEY] = principal
        return self.app(environ, start_response)
