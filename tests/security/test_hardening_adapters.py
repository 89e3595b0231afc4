"""Issue 12 hardening, adapters and claims: odd paths, HEAD refusals, Bearer separators, scope-tokens, RFC 9068.

Every adapter is driven through its framework's own test client, through the raw protocol
(an ASGI scope or a WSGI environ, where a test client would normalize the path) and, for
Django ASGI, a real uvicorn server on 127.0.0.1. Tokens come from the attack suite's forge
(inline JWK Set, clock fixed at ``NOW``), so a refusal is for the reason under test.
"""
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import asyncio
import io
import json
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from loopback import configure_django, serve_uvicorn

from s2s_guard import AuthError, Guard, GuardMiddleware, Requirement
from s2s_guard.errors import InvalidClaim

from security_kit import (AUD, ISS, NOW, Forge, IntrospectionServer, bearer, call_raw, expect_accepted,
                          expect_refused, make_guard)

# -- one reply shape, and the protocol-level drivers ------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


Send = Callable[[str, str, Mapping[str, str]], Reply]  # (method, path, headers) -> reply


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers}


def asgi_call(app: Any, method: str, path: str, raw_path: bytes | None,
              headers: Mapping[str, str]) -> Reply:
    """One request as an ASGI scope; ``raw_path=None`` leaves the optional key out."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode("latin-1"))
                                                 for k, v in headers.items())],
        "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    if raw_path is not None:
        scope["raw_path"] = raw_path
    sent: list[Mapping[str, Any]] = []

    async def run() -> None:
        first = True

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected; the app cancels this
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Reply(start["status"], _lower((k.decode("latin-1"), v.decode("latin-1"))
                                         for k, v in start["headers"]), body)


def wsgi_call(app: Any, method: str, path_info: str, headers: Mapping[str, str]) -> Reply:
    """One request as a PEP 3333 environ (``path_info`` exactly as given)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path_info, "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, response_headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Reply(int(started[0].split()[0]), _lower(started[1]), body)


# -- the same protected catch-all route in every framework -----------------------------------

def starlette_app(guard: Guard) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return GuardMiddleware(Starlette(routes=[Route("/{rest:path}", ok)]), guard=guard)


def fastapi_app(guard: Guard) -> Any:
    from fastapi import Depends, FastAPI

    from s2s_guard.contrib.fastapi import FastAPIGuard

    fguard = FastAPIGuard(guard)
    app = FastAPI()
    fguard.init_app(app)

    @app.api_route("/{rest:path}", methods=["GET", "HEAD"])
    async def ok(rest: str, principal: Any = Depends(fguard.require())) -> str:
        return "ok"

    return app


def flask_app(guard: Guard) -> Any:
    from flask import Flask

    from s2s_guard.contrib.flask import Guard as FlaskGuard

    app = Flask("hardening")
    app.config["S2S_GUARD"] = guard
    FlaskGuard(app)  # deny by default: every path needs a token
    app.add_url_rule("/<path:rest>", "ok", lambda rest: "ok")
    return app


def wsgi_app(guard: Guard) -> Any:
    from s2s_guard.wsgi import GuardMiddleware as WSGIGuardMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return WSGIGuardMiddleware(app, guard=guard)


def _django_urls(kind: str) -> types.ModuleType:
    from django.http import HttpRequest, HttpResponse
    from django.urls import re_path

    def ok(request: HttpRequest, rest: str = "") -> HttpResponse:
        return HttpResponse("ok")

    async def aok(request: HttpRequest, rest: str = "") -> HttpResponse:
        return HttpResponse("ok")

    if kind == "drf":
        from rest_framework.request import Request
        from rest_framework.response import Response
        from rest_framework.views import APIView

        from s2s_guard.contrib.drf import AppOnly, BearerAuthentication, exception_handler

        class Orders(APIView):
            authentication_classes = [BearerAuthentication]
            permission_classes = [AppOnly]

            def get(self, request: Request, rest: str = "") -> Response:
                return Response("ok")

            def get_exception_handler(self) -> Callable[..., Any]:
                return exception_handler  # the handler the DRF module docstring asks for

        view: Any = Orders.as_view()
    else:
        view = aok if kind == "async" else ok
    module = types.ModuleType(f"s2s_guard_hardening_urls_{kind}")
    module.urlpatterns = [re_path(r"^(?P<rest>.*)$", view)]  # type: ignore[attr-defined]
    return module


@contextmanager
def django_settings(guard: Guard, kind: str) -> Iterator[None]:
    """``kind``: "sync" or "async" (GuardMiddleware and a plain view), or "drf" (no middleware)."""
    from django.test import override_settings

    configure_django()
    middleware = [] if kind == "drf" else ["s2s_guard.contrib.django.GuardMiddleware"]
    with override_settings(S2S_GUARD=guard, MIDDLEWARE=middleware, ROOT_URLCONF=_django_urls(kind)):
        yield


def _httpx_send(client: Any) -> Send:
    def send(method: str, path: str, headers: Mapping[str, str]) -> Reply:
        r = client.request(method, path, headers=dict(headers))
        return Reply(r.status_code, _lower(r.headers.items()), r.content)
    return send


def _werkzeug_send(app: Any) -> Send:
    from werkzeug.test import Client

    client = Client(app)

    def send(method: str, path: str, headers: Mapping[str, str]) -> Reply:
        r = client.open(path, method=method, headers=dict(headers))
        return Reply(r.status_code, _lower(r.headers.items()), r.get_data())
    return send


@contextmanager
def framework_client(adapter: str, guard: Guard) -> Iterator[Send]:
    """Each framework's own test client in front of the catch-all route."""
    if adapter in ("starlette", "fastapi"):
        from starlette.testclient import TestClient

        app = starlette_app(guard) if adapter == "starlette" else fastapi_app(guard)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield _httpx_send(client)
    elif adapter in ("flask", "wsgi"):
        yield _werkzeug_send(flask_app(guard) if adapter == "flask" else wsgi_app(guard))
    else:
        from asgiref.sync import async_to_sync
        from django.test import AsyncClient, Client

        kind = {"django": "sync", "django-async": "async", "drf": "drf"}[adapter]
        with django_settings(guard, kind):
            if kind == "async":
                aclient = AsyncClient(raise_request_exception=False)

                async def ageneric(method: str, path: str, **kwargs: Any) -> Any:
                    return await aclient.generic(method, path, **kwargs)
                generic = async_to_sync(ageneric)
            else:
                generic = Client(raise_request_exception=False).generic

            def send(method: str, path: str, headers: Mapping[str, str]) -> Reply:
                r = generic(method, path, headers=dict(headers))
                return Reply(r.status_code, _lower(r.headers.items()), r.content)
            yield send


ADAPTERS = ["starlette", "fastapi", "flask", "wsgi", "django", "django-async", "drf"]


# == 11a. No 5xx before authentication for odd paths ==========================================

#: (percent-encoded path as sent, the decoded path an ASGI server puts in scope["path"])
ODD_PATHS = [("/orders/%E2%82%AC", "/orders/\u20ac"), ("/orders/%FF", "/orders/\ufffd"),
             ("/orders/%00", "/orders/\x00"), ("/orders/%C3%A9t%C3%A9", "/orders/\u00e9t\u00e9")]


def _sender_guard(forge: Forge, constrained: bool) -> Guard:
    return make_guard(forge, dpop="allowed") if constrained else make_guard(forge)


def _expect_normal(reply: Reply, authorized: bool, where: str) -> None:
    """The answer any path gets: 200, or the bare RFC 6750 §3.1 challenge."""
    if authorized:
        assert reply.status == 200, (where, reply)
    else:
        assert reply.status == 401, (where, reply)
        assert reply.headers["www-authenticate"].startswith(("Bearer", "DPoP")), (where, reply)
        assert "error=" not in reply.headers["www-authenticate"], (where, reply)


@pytest.mark.parametrize("constrained", [False, True], ids=["plain", "sender-constrained"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_odd_paths_through_each_test_client(forge: Forge, adapter: str, constrained: bool) -> None:
    """RFC 9110 §15.6.1 (5xx is a server fault), RFC 3986 §2.1, RFC 6750 §3.1; RFC 9449 §4.3 (htu).

    Percent-encoded UTF-8, invalid UTF-8 (%FF), %00 and raw non-ASCII paths get the normal
    401/200. The Django and DRF instances with a sender-constrained issuer failed
    on f84b319 (Django's decoded path_info was encoded as latin-1: 500); the others are
    positive controls (Django's AsyncClient puts latin-1 text in scope["path"], unlike a real
    server: see the next two tests for Django ASGI).
    """
    guard = _sender_guard(forge, constrained)
    token = {"Authorization": bearer(forge.token())}
    with framework_client(adapter, guard) as send:
        for path in [p for p, _ in ODD_PATHS] + ["/orders/\u20ac"]:
            _expect_normal(send("GET", path, {}), False, path)
            _expect_normal(send("GET", path, token), True, path)


@pytest.mark.parametrize("constrained", [False, True], ids=["plain", "sender-constrained"])
def test_django_asgi_real_scope_paths(forge: Forge, constrained: bool) -> None:
    """RFC 9110 §15.6.1, RFC 3986 §2.1: Django's ASGIHandler with the scope a real server builds
    (decoded UTF-8 ``path``, the raw bytes in ``raw_path``) answers 401/200, never 500 (f84b319: 500
    with a sender-constrained issuer; the plain instance is a positive control)."""
    from django.core.handlers.asgi import ASGIHandler

    guard = _sender_guard(forge, constrained)
    token = {"Authorization": bearer(forge.token())}
    for kind in ("async", "sync", "drf"):
        with django_settings(guard, kind):
            for raw, decoded in [*ODD_PATHS, ("/orders/\xe2\x82\xac", "/orders/\u20ac")]:
                for headers, ok in (({}, False), (token, True)):
                    reply = asgi_call(ASGIHandler(), "GET", decoded, raw.encode("latin-1"), headers)
                    _expect_normal(reply, ok, f"{kind} {raw}")


def test_django_asgi_behind_uvicorn(forge: Forge) -> None:
    """RFC 9110 §15.6.1; RFC 9449 §4.3: the reported case, Django ASGI under a real server on
    127.0.0.1 with dpop on: ``/orders/%E2%82%AC`` answered 500 on f84b319; now 401/200, and a DPoP
    proof for that very URL is accepted (htu compared after RFC 3986 normalization)."""
    from django.core.handlers.asgi import ASGIHandler

    from s2s_guard.testing.dpop import DPoPKey

    guard = _sender_guard(forge, True)
    with django_settings(guard, "async"), serve_uvicorn(ASGIHandler()) as port:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as client:
            for path, _ in ODD_PATHS:
                assert client.get(path).status_code == 401, path
                assert client.get(path, headers={"Authorization": bearer(forge.token())}).status_code == 200
            key = DPoPKey("ES256")
            token = forge.token(forge.claims(cnf={"jkt": key.jkt}))
            url = f"{base}/orders/%E2%82%AC"
            proof = key.proof("GET", url, access_token=token, iat=NOW)
            r = client.get("/orders/%E2%82%AC", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
            assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/orders/\udcff", "/orders/\u20ac"], ids=["lone-surrogate", "euro"])
def test_asgi_scope_without_raw_path(forge: Forge, path: str) -> None:
    """ASGI HTTP scope (``raw_path`` is optional), RFC 3986 §2.1: a server that sends only the
    decoded ``path``, even one with a lone surrogate, gets 401/200 from GuardMiddleware and FastAPI
    with a sender-constrained issuer (f84b319: the surrogate made quote() raise, 500; the euro
    instance is a positive control)."""
    guard = _sender_guard(forge, True)
    for app in (starlette_app(guard), fastapi_app(guard)):
        _expect_normal(asgi_call(app, "GET", path, None, {}), False, path)
        _expect_normal(asgi_call(app, "GET", path, None, {"Authorization": bearer(forge.token())}), True, path)


@pytest.mark.parametrize("constrained", [False, True], ids=["plain", "sender-constrained"])
def test_wsgi_path_info_already_decoded(forge: Forge, constrained: bool) -> None:
    """PEP 3333 (PATH_INFO as latin-1), RFC 9110 §15.6.1: the WSGI middleware also answers 401/200
    when a server or framework under it hands PATH_INFO already decoded (f84b319: 500, both modes)."""
    guard = _sender_guard(forge, constrained)
    for path in ("/orders/\u20ac", "/orders/\u3000"):
        _expect_normal(wsgi_call(wsgi_app(guard), "GET", path, {}), False, path)
        _expect_normal(wsgi_call(wsgi_app(guard), "GET", path, {"Authorization": bearer(forge.token())}),
                       True, path)


@pytest.mark.parametrize("constrained", [False, True], ids=["plain", "sender-constrained"])
def test_raw_bytes_paths_through_wsgi_servers_view(forge: Forge, constrained: bool) -> None:
    """PEP 3333, RFC 9110 §15.6.1: raw UTF-8, invalid UTF-8 and NUL bytes in PATH_INFO (latin-1, as
    a WSGI server passes them) get 401/200 from Flask, the WSGI middleware and Django's WSGIHandler
    (middleware and DRF). f84b319: 500 from Django with a sender-constrained issuer (its decoded
    path_info); the plain instance is a positive control."""
    from django.core.handlers.wsgi import WSGIHandler

    guard = _sender_guard(forge, constrained)
    token = {"Authorization": bearer(forge.token())}
    paths = ["/orders/\xe2\x82\xac", "/orders/\xff", "/orders/\x00"]
    for path in paths:
        for app in (flask_app(guard), wsgi_app(guard)):
            _expect_normal(wsgi_call(app, "GET", path, {}), False, path)
            _expect_normal(wsgi_call(app, "GET", path, token), True, path)
    for kind in ("sync", "drf"):
        with django_settings(guard, kind):
            for path in paths:
                _expect_normal(wsgi_call(WSGIHandler(), "GET", path, {}), False, f"{kind} {path}")
                _expect_normal(wsgi_call(WSGIHandler(), "GET", path, token), True, f"{kind} {path}")


# == 11b. A refusal to HEAD carries no body ===================================================

def _assert_head_like_get(get: Reply, head: Reply) -> None:
    """RFC 9110 §9.3.2: same status and challenge, no content; §8.6: a Content-Length is the GET one's."""
    assert get.body and json.loads(get.body).get("error_description")
    assert (head.status, head.headers.get("www-authenticate")) == (get.status, get.headers.get("www-authenticate"))
    assert head.body == b"", head
    if "content-length" in head.headers:
        assert head.headers["content-length"] == str(len(get.body))


@pytest.mark.parametrize("adapter", ["starlette", "fastapi"])
def test_head_refusal_has_no_body_asgi(forge: Forge, adapter: str) -> None:
    """RFC 9110 §9.3.2: a 401 and a 400 to HEAD carry the GET refusal's status and WWW-Authenticate,
    and no body, in the ASGI messages themselves (Starlette's TestClient hides a HEAD body; a server
    that trusts the app would send it). f84b319: the JSON body was sent."""
    guard = make_guard(forge)
    app = starlette_app(guard) if adapter == "starlette" else fastapi_app(guard)
    for headers in ({}, {"Authorization": "Bearer a b"}):
        _assert_head_like_get(asgi_call(app, "GET", "/orders", b"/orders", headers),
                              asgi_call(app, "HEAD", "/orders", b"/orders", headers))


def test_head_refusal_has_no_body_wsgi(forge: Forge) -> None:
    """RFC 9110 §9.3.2: the WSGI middleware's refusal to HEAD, through Werkzeug's test client, has the
    GET status and WWW-Authenticate and no body (f84b319: the JSON body was sent)."""
    with framework_client("wsgi", make_guard(forge)) as send:
        for headers in ({}, {"Authorization": "Bearer a b"}):
            _assert_head_like_get(send("GET", "/orders", headers), send("HEAD", "/orders", headers))


def test_head_refusal_flask_positive_control(forge: Forge) -> None:
    """Positive control (RFC 9110 §9.3.2): Werkzeug already drops a HEAD body for Flask."""
    app = flask_app(make_guard(forge))
    for headers in ({}, {"Authorization": "Bearer a b"}):
        get, head = wsgi_call(app, "GET", "/orders", headers), wsgi_call(app, "HEAD", "/orders", headers)
        _assert_head_like_get(get, head)


@pytest.mark.parametrize("kind", ["sync", "async", "drf"])
def test_head_refusal_has_no_body_django(forge: Forge, kind: str) -> None:
    """RFC 9110 §9.3.2: Django's own handlers (WSGI and ASGI; its test client would hide the body)
    send a refusal to HEAD without a body, for the middleware and DRF (f84b319: JSON body sent)."""
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    with django_settings(make_guard(forge), kind):
        for headers in ({}, {"Authorization": "Bearer a b"}):
            if kind == "async":
                get = asgi_call(ASGIHandler(), "GET", "/orders", b"/orders", headers)
                head = asgi_call(ASGIHandler(), "HEAD", "/orders", b"/orders", headers)
            else:
                get = wsgi_call(WSGIHandler(), "GET", "/orders", headers)
                head = wsgi_call(WSGIHandler(), "HEAD", "/orders", headers)
            _assert_head_like_get(get, head)


def test_head_refusal_from_requires_decorators(forge: Forge) -> None:
    """RFC 9110 §9.3.2: a 403 from Starlette's and Django's ``requires`` to HEAD has no body
    (f84b319: JSON body sent)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, HttpResponse
    from django.test import override_settings
    from django.urls import path
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from s2s_guard import requires
    from s2s_guard.contrib.django import requires as drequires

    guard = make_guard(forge)
    token = {"Authorization": bearer(forge.token())}  # scope orders.read, not orders.write

    @requires(scopes=["orders.write"])
    async def write(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = GuardMiddleware(Starlette(routes=[Route("/orders", write)]), guard=guard)
    _assert_head_like_get(asgi_call(app, "GET", "/orders", b"/orders", token),
                          asgi_call(app, "HEAD", "/orders", b"/orders", token))

    @drequires(scopes=["orders.write"])
    def dwrite(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urls = types.ModuleType("s2s_guard_hardening_requires")
    urls.urlpatterns = [path("orders", dwrite)]  # type: ignore[attr-defined]
    configure_django()
    with override_settings(S2S_GUARD=guard, MIDDLEWARE=[], ROOT_URLCONF=urls):
        _assert_head_like_get(wsgi_call(WSGIHandler(), "GET", "/orders", token),
                              wsgi_call(WSGIHandler(), "HEAD", "/orders", token))


# == 11c. RFC 6750 §2.1: "Bearer" 1*SP b64token ================================================

SEPARATORS = ["\t", "\x0b", "\x0c", "\x00", ",", "\u00a0", "\u3000", "\u2028", "\u200b"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=repr)
def test_bearer_with_another_separator_is_invalid_request(guard: Guard, forge: Forge, sep: str) -> None:
    """RFC 6750 §2.1 (credentials = "Bearer" 1*SP b64token): TAB, VT, FF, NUL, ",", NBSP, U+3000,
    U+2028 or ZWSP after "Bearer" is a malformed credential, 400 invalid_request, through both drivers
    and the raw ASGI bytes (f84b319: taken for another scheme, a bare 401)."""
    value = f"Bearer{sep}{forge.token()}"
    with pytest.raises(AuthError) as caught:
        guard.authenticate_sync(value)
    assert (caught.value.status_code, caught.value.error) == (400, "invalid_request")
    reply = call_raw(guard, [(b"authorization", value.encode("utf-8"))])
    assert reply.status == 400 and 'error="invalid_request"' in reply.headers["www-authenticate"]


def test_bearer_tab_through_middleware_and_warm_cache(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §2.1: with the token already in the verified cache, ``Bearer<TAB>token`` is still
    400 invalid_request (the warm path only takes ``Bearer `` + SP), not a hit and not a bare 401."""
    token = forge.token()
    expect_accepted(guard, bearer(token))  # warms the cache
    expect_refused(guard, f"Bearer\t{token}", 400, "invalid_request", "invalid_request")
    expect_refused(guard, f"bearer\t{token}", 400, "invalid_request", "invalid_request")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_bearer_tab_in_every_adapter(forge: Forge, adapter: str) -> None:
    """RFC 6750 §2.1, §3.1: every adapter, DRF's authenticator included, answers ``Bearer<TAB>token``
    with 400 invalid_request (f84b319: 401 without error code)."""
    with framework_client(adapter, make_guard(forge)) as send:
        reply = send("GET", "/orders", {"Authorization": f"Bearer\t{forge.token()}"})
    assert reply.status == 400, reply
    assert 'error="invalid_request"' in reply.headers["www-authenticate"]


def test_bearer_separator_positive_controls(guard: Guard, forge: Forge) -> None:
    """Positive control (RFC 6750 §2.1 1*SP, RFC 9110 §5.5 OWS, §11.1): one or more SPs, a
    lower-case scheme and surrounding OWS are accepted; scheme names that merely start with
    "Bearer" (``BearerX``, ``Bearer-ish``) stay other schemes (bare 401)."""
    token = forge.token()
    for value in (f"Bearer {token}", f"Bearer  {token}", f"bearer {token}", f" \tBearer {token}\t"):
        guard.authenticate_sync(value)
    for value in (f"BearerX {token}", f"Bearer-ish {token}"):
        expect_refused(guard, value, 401, None, "missing_token")


# == 6. Scopes are split on U+0020 only (RFC 6749 §3.3) =========================================

ILL_SEPARATORS = ["\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u1680", "\u2000",
                  "\u2028", "\u2029", "\u202f", "\u3000"]


@pytest.mark.parametrize("sep", ILL_SEPARATORS, ids=repr)
@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_scope_never_split_on_other_whitespace(forge: Forge, claim: str, sep: str) -> None:
    """RFC 6749 §3.3 (scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B /
    %x5D-7E )): ``"orders.read a<sep>orders.admin"`` grants orders.read and never orders.admin;
    the ill-formed token is dropped, not split (f84b319: str.split() granted orders.admin)."""
    claims = {k: v for k, v in forge.claims().items() if k != "scope"}
    claims[claim] = f"orders.read a{sep}orders.admin"
    guard = make_guard(forge)
    principal = guard.authenticate_sync(bearer(forge.token(claims)))
    assert principal.scopes == frozenset({"orders.read"})
    expect_refused(guard, bearer(forge.token(claims)), 403, "insufficient_scope",
                   requirement=Requirement(scopes=["orders.admin"]))


def test_entra_scp_never_split_on_other_whitespace() -> None:
    """RFC 6749 §3.3; Microsoft identity platform access token claims (``scp``, space-separated):
    an Entra delegated token's ``scp`` with TAB or U+3000 inside a token grants nothing across it
    (f84b319: granted Orders.Admin)."""
    from s2s_guard.testing import LocalIssuer
    from s2s_guard.testing.mint import mint_token, trust_config

    with LocalIssuer(audience=AUD) as issuer:
        guard = Guard.from_config(trust_config(issuer))
        try:
            for sep in ("\t", "\u3000"):
                token = mint_token(issuer, "entra-v2-delegated", scopes=f"Orders.Read x{sep}Orders.Admin")
                assert guard.authenticate_sync(bearer(token)).scopes == frozenset({"Orders.Read"})
        finally:
            guard.close()


def test_introspected_scope_never_split_on_other_whitespace(forge: Forge) -> None:
    """RFC 7662 §2.2 (scope per RFC 6749 §3.3): an introspection response's ``scope`` with a TAB
    inside a token grants nothing across it (f84b319: granted orders.admin)."""
    with IntrospectionServer() as server:
        guard = make_guard(forge, top={"introspection": {"endpoint": server.url, "issuer": ISS,
                                                         "client_id": "rs", "client_secret": "s" * 32}})
        server.answer({"active": True, "iss": ISS, "aud": AUD, "client_id": "daemon", "sub": "daemon",
                       "exp": NOW + 300, "scope": "orders.read a\torders.admin"})
        principal = guard.authenticate_sync("Bearer opaque-token-0123456789")
        assert principal.scopes == frozenset({"orders.read"})


def test_list_valued_scp_elements_are_never_split(forge: Forge) -> None:
    """RFC 6749 §3.3, RFC 9068 §2.2.3 (Okta/Duende send ``scp`` arrays): each element is one scope;
    one with a space or TAB is dropped, never two scopes (f84b319 already kept the space element
    whole, but kept the ill-formed elements in ``Principal.scopes``)."""
    claims = {k: v for k, v in forge.claims().items() if k != "scope"}
    claims["scp"] = ["orders.read", "a orders.admin", "b\torders.admin", "orders.write"]
    guard = make_guard(forge)
    principal = guard.authenticate_sync(bearer(forge.token(claims)))
    assert principal.scopes == frozenset({"orders.read", "orders.write"})


# == RFC 9068 §2.2: the required claims of an at+jwt token =====================================

@pytest.mark.parametrize("claim", ["sub", "client_id", "iat", "jti"])
def test_at_jwt_required_claims(forge: Forge, claim: str) -> None:
    """RFC 9068 §2.2: with ``typ = "at+jwt"`` required, a token without ``sub``, ``client_id``,
    ``iat`` or ``jti`` is 401 invalid_token; the log detail names the claim, the client gets the
    fixed description (f84b319: accepted)."""
    guard = make_guard(forge, typ="at+jwt")
    refused = expect_refused(guard, bearer(forge.token(drop=(claim,))), 401, "invalid_token", "invalid_claim")
    assert claim in refused.detail
    assert refused.description == InvalidClaim.description


@pytest.mark.parametrize("claim", ["iss", "exp", "aud"])
def test_at_jwt_required_claims_already_refused(forge: Forge, claim: str) -> None:
    """Positive control (RFC 9068 §2.2, RFC 7519 §4.1): without ``iss``, ``exp`` or ``aud`` a token
    was and is refused with 401 invalid_token."""
    guard = make_guard(forge, typ="at+jwt")
    expect_refused(guard, bearer(forge.token(drop=(claim,))), 401, "invalid_token")


def test_rfc9068_claims_only_when_at_jwt_is_required(forge: Forge) -> None:
    """Positive control (RFC 9068 §2.2 applies to at+jwt tokens): an issuer that does not require
    ``typ`` still accepts a token without ``jti``, ``iat`` or ``client_id`` (its ``sub`` is the app)."""
    guard = make_guard(forge)
    principal = guard.authenticate_sync(bearer(forge.token(drop=("jti", "iat", "client_id"))))
    assert principal.identity == "daemon"


def test_local_issuer_tokens_are_complete_rfc9068() -> None:
    """Positive control (RFC 9068 §2.2): every RFC 9068 family the testing kit mints, and its
    client-credentials grant, carries iss, exp, aud, sub, client_id, iat and jti, so a guard
    requiring at+jwt accepts them."""
    from s2s_guard.testing import LocalIssuer
    from s2s_guard.testing.mint import mint_token

    with LocalIssuer(audience=AUD) as issuer:
        guard = Guard.from_config(issuer.guard_config())
        try:
            assert issuer.guard_config()["issuers"][0]["typ"] == "at+jwt"
            for family in ("app-only", "user+app", "act-chain"):
                guard.authenticate_sync(bearer(mint_token(issuer, family)))
            guard.authenticate_sync(bearer(issuer.app_token()))
            guard.authenticate_sync(bearer(issuer.user_token()))
        finally:
            guard.close()
