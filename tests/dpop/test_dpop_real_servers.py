"""DPoP against real servers on 127.0.0.1.

* Two uvicorn "workers" behind a load balancer share one real ``redis-server``: a proof used at
  one is refused at the other (the async replay path, ``SharedCache.aadd``), the public URL is
  rebuilt from ``X-Forwarded-*`` because ``[trusted_proxy]`` says so, and a server nonce one
  worker issued is accepted by the other (shared ``nonce_secret_env``).
  ``test_replay_shared.py`` covers the sync path with guards called directly.
* Without ``[trusted_proxy]``, a real uvicorn server ignores ``X-Forwarded-Host`` for ``htu``.
* Django REST framework under a real WSGI server: the three outcomes every other adapter
  shows (``test_dpop_adapters.py`` has no DRF case), a view's ``dpop``, nonces, and the
  DPoP challenge on a request without any token.
* The demo keeps the rows the issue names.
"""
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dpop_support import api
from loopback import configure_django, serve_uvicorn, serve_wsgi

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPAuth, DPoPKey, bound_token

PUBLIC = "https://api.example.com/whoami"
BALANCER = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}


def _closing(inner: Any, guard: Guard) -> Any:
    """``inner`` plus an ASGI lifespan that closes the guard's async (Redis) clients on its own loop."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await inner(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await guard.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    return app


def _uvicorn(app: Any, guard: Guard | None = None) -> Iterator[httpx.Client]:
    if guard is not None:
        app = _closing(app, guard)
    with (serve_uvicorn(app, lifespan="off" if guard is None else "on") as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client


def _dpop(key: DPoPKey, token: str, url: str = PUBLIC, **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token, **proof)}


# -- two workers, one Redis, one load balancer -------------------------------------------------------

@pytest.fixture
def workers(issuer: LocalIssuer, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Client]]:
    monkeypatch.setenv("S2S_TEST_DPOP_NONCE_SECRET", "n" * 48)
    config = {**issuer.guard_config(dpop="allowed"), "cache": {"backend": "redis", "url": redis_url, "secret": "r" * 48},
              "trusted_proxy": {"url_headers": "x-forwarded"},
              "dpop": {"nonce": True, "nonce_secret_env": "S2S_TEST_DPOP_NONCE_SECRET"}}
    guards = [Guard.from_config(config), Guard.from_config(config)]
    one, two = (_uvicorn(api(guard), guard) for guard in guards)
    clients = [next(one), next(two)]
    yield clients
    for gen in (one, two):
        gen.close()
    for guard in guards:
        guard.close()


def test_replayed_proof_is_refused_by_the_other_worker_over_http(workers: list[httpx.Client],
                                                                 issuer: LocalIssuer, key: DPoPKey) -> None:
    one, two = workers
    token = bound_token(issuer, key)
    first = one.get("/whoami", headers={**_dpop(key, token), **BALANCER})
    assert first.status_code == 401 and first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    headers = {**_dpop(key, token, nonce=nonce), **BALANCER}
    ok = one.get("/whoami", headers=headers)
    assert ok.status_code == 200, ok.text  # htu = the public URL, rebuilt from the trusted headers
    assert ok.json() == {"app": "daemon-app", "cnf": {"jkt": key.jkt}}
    replay = two.get("/whoami", headers=headers)  # the same proof at the other worker
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"
    assert 'error="invalid_dpop_proof"' in replay.headers["www-authenticate"]
    assert replay.headers["DPoP-Nonce"]  # a fresh nonce on a proof refusal (RFC 9449 §9)
    assert one.get("/whoami", headers=headers).status_code == 401  # and at the first worker again
    fresh = two.get("/whoami", headers={**_dpop(key, token, nonce=nonce), **BALANCER})
    assert fresh.status_code == 200  # worker one's nonce is good at worker two (shared secret)


def test_without_the_balancer_headers_the_public_proof_does_not_fit(workers: list[httpx.Client],
                                                                    issuer: LocalIssuer, key: DPoPKey) -> None:
    one, _ = workers
    token = bound_token(issuer, key)
    nonce = one.get("/whoami", headers={**_dpop(key, token), **BALANCER}).headers["DPoP-Nonce"]
    r = one.get("/whoami", headers=_dpop(key, token, nonce=nonce))  # proof for PUBLIC, request to 127.0.0.1
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"


def test_forwarded_host_is_ignored_by_a_real_server_unless_trusted(issuer: LocalIssuer, key: DPoPKey) -> None:
    """Nothing is trusted by default: X-Forwarded-Host does not change the URL the proof must name.

    (uvicorn itself rewrites the *scheme* from X-Forwarded-Proto for clients in its
    ``forwarded_allow_ips``, 127.0.0.1 by default; that is the server's trust setting, so only
    the host, which uvicorn leaves alone, is used here.)
    """
    guard = Guard.from_config(issuer.guard_config(dpop="allowed"))
    token = bound_token(issuer, key)
    for client in _uvicorn(api(guard)):
        own = str(client.base_url.join("/whoami"))
        spoofed = {"X-Forwarded-Host": "api.example.com"}
        forged = client.get("/whoami", headers={**_dpop(key, token, url="http://api.example.com/whoami"), **spoofed})
        honest = client.get("/whoami", headers={**_dpop(key, token, url=own), **spoofed})
    guard.close()
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_dpop_proof"
    assert honest.status_code == 200


# -- Django REST framework under a real WSGI server ---------------------------------------------------

def _drf_urls() -> types.ModuleType:
    from django.urls import path
    from rest_framework.renderers import JSONRenderer
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, BearerAuthentication

    class Orders(APIView):
        authentication_classes = [BearerAuthentication]
        permission_classes = [AppOnly]
        renderer_classes = [JSONRenderer]

        def get(self, request: Request) -> Response:
            return Response({"app": request.auth.app.client_id})

    class Strict(Orders):
        dpop = "required"

    module = types.ModuleType("s2s_guard_test_dpop_drf_urls")
    module.urlpatterns = [path("orders", Orders.as_view()), path("strict", Strict.as_view())]  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def drf_ready() -> None:
    configure_django()


def _drf_server(guard: Guard) -> Iterator[httpx.Client]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    rest = {"EXCEPTION_HANDLER": "s2s_guard.contrib.drf.exception_handler", "UNAUTHENTICATED_USER": None}
    with (override_settings(S2S_GUARD=guard, MIDDLEWARE=[], ROOT_URLCONF=_drf_urls(), REST_FRAMEWORK=rest),
          serve_wsgi(WSGIHandler()) as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client


def test_drf_three_outcomes_over_http(drf_ready: None, issuer: LocalIssuer, key: DPoPKey) -> None:
    guard = Guard.from_config(issuer.guard_config(dpop="allowed"))
    token = bound_token(issuer, key)
    for client in _drf_server(guard):
        url = str(client.base_url.join("/orders"))
        headers = _dpop(key, token, url=url)
        ok = client.get("/orders", headers=headers)
        replay = client.get("/orders", headers=headers)
        bare = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
        plain = client.get("/orders", headers={"Authorization": "Bearer " + issuer.app_token()})
        strict = client.get("/strict", headers={"Authorization": "Bearer " + issuer.app_token()})
        strict_ok = client.get("/strict", headers=_dpop(key, token, url=str(client.base_url.join("/strict"))))
    guard.close()
    assert ok.status_code == 200 and ok.json() == {"app": "daemon-app"}, ok.text
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"
    assert 'DPoP realm="api://orders", error="invalid_dpop_proof"' in replay.headers["www-authenticate"]
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_token"
    assert 'DPoP realm="api://orders", algs="' in bare.headers["www-authenticate"]
    assert plain.status_code == 200  # an unbound token is still fine as Bearer ("allowed")
    assert strict.status_code == 401 and strict.headers["www-authenticate"].startswith("DPoP ")
    assert strict_ok.status_code == 200


def test_drf_nonce_round_trip_over_http(drf_ready: None, issuer: LocalIssuer, key: DPoPKey) -> None:
    guard = Guard.from_config({**issuer.guard_config(dpop="allowed"), "dpop": {"nonce": True}})
    token = bound_token(issuer, key)
    for client in _drf_server(guard):
        first = client.get("/orders", headers=_dpop(key, token, url=str(client.base_url.join("/orders"))))
        auth = DPoPAuth(token, key)
        retried = client.get("/orders", auth=auth)  # retries once with the DPoP-Nonce it was sent
    guard.close()
    assert first.status_code == 401 and first.json()["error"] == "use_dpop_nonce"
    assert first.headers.get("DPoP-Nonce"), "the nonce header is lost on the way out of DRF"
    assert retried.status_code == 200 and auth.nonce is not None


def test_drf_missing_token_offers_the_dpop_scheme(drf_ready: None, issuer: LocalIssuer) -> None:
    """A request without any token gets the DPoP challenge too (Guard.challenge, commit 31d60a9)."""
    guard = Guard.from_config(issuer.guard_config(dpop="allowed"))
    for client in _drf_server(guard):
        r = client.get("/orders")
    guard.close()
    assert r.status_code == 401
    assert 'DPoP realm="api://orders", algs="' in r.headers["www-authenticate"], r.headers["www-authenticate"]


# -- the demo -----------------------------------------------------------------------------------------

def test_the_demo_keeps_the_dpop_rows() -> None:
    """The issue's demo story: a DPoP-bound call accepted, the same token without the proof refused.

    ``tests/test_demo.py::test_run_demo_matches_every_row`` runs every row against uvicorn; this
    pins the DPoP rows so that removing them fails a test.
    """
    from s2s_guard.demo import CASES

    rows = {case.name: case for case in CASES}
    fresh = rows["DPoP-bound token, fresh proof"]
    replayed = rows["same DPoP proof replayed"]
    bare = rows["DPoP-bound token, no proof"]
    assert (fresh.expected_status, replayed.expected_status, bare.expected_status) == (200, 401, 401)
    assert 'error="invalid_dpop_proof"' in replayed.challenge_has
    assert "DPoP realm=" in bare.challenge_has
