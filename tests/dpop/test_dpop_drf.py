"""DPoP (RFC 9449) through Django REST framework: the authentication class, a view's ``dpop`` and
``s2s_guard.contrib.drf.exception_handler``, which sends every header of a refusal (``DPoP-Nonce``,
``Cache-Control: no-store``) where DRF's own handler sends only WWW-Authenticate and Retry-After.

DRF modules are imported inside the tests: they read Django settings at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey, bound_token

from dpop_support import GuardFactory
from loopback import configure_django

URL = "http://testserver/orders"  # what APIRequestFactory's requests are sent to: the proofs' htu
HANDLER = {"EXCEPTION_HANDLER": "s2s_guard.contrib.drf.exception_handler"}
View = Callable[..., Any]
Reply = tuple[int, dict[str, str], dict[str, Any]]  # status, lower-cased headers, JSON body


@pytest.fixture(scope="module")
def drf_ready() -> None:
    """Configure Django once (if nothing else did), with DRF installed."""
    configure_django()


@pytest.fixture
def use(drf_ready: None) -> Iterator[Callable[..., None]]:
    """``use(guard, handler=True)``: S2S_GUARD, and our exception handler unless ``handler=False``."""
    from django.test import override_settings

    applied: list[Any] = []

    def apply(guard: Guard, *, handler: bool = True) -> None:
        overrides = override_settings(S2S_GUARD=guard, MIDDLEWARE=[], REST_FRAMEWORK=HANDLER if handler else {})
        overrides.enable()
        applied.append(overrides)

    yield apply
    for overrides in reversed(applied):
        overrides.disable()


def api_view(**attributes: Any) -> View:
    """A DRF view with our authentication class and AppOnly, plus the given view attributes."""
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, BearerAuthentication

    def get(self: Any, request: Any) -> Response:
        return Response({"app": request.auth.app.client_id, "cnf": request.auth.claims.get("cnf")})

    body = {"authentication_classes": [BearerAuthentication], "permission_classes": [AppOnly],
            "get": get, **attributes}
    cls: Any = type("Orders", (APIView,), body)
    return cls.as_view()  # type: ignore[no-any-return]


def send(view: View, headers: dict[str, str]) -> Reply:
    """GET /orders through ``view`` (a DRF view, or GuardMiddleware in front of one)."""
    import json

    from rest_framework.test import APIRequestFactory

    response = view(APIRequestFactory().get("/orders", headers=headers))
    if hasattr(response, "render"):
        response.render()
    body = json.loads(response.content) if response.content else {}
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, body


def dpop(key: DPoPKey, token: str, **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", URL, access_token=token, **proof)}


def test_bound_token_with_proof_accepted(use: Callable[..., None], make_guard: GuardFactory,
                                         issuer: LocalIssuer, key: DPoPKey) -> None:
    use(make_guard(dpop="allowed"))
    token = bound_token(issuer, key)
    headers = dpop(key, token)
    status, _, body = send(api_view(), headers)
    assert status == 200 and body == {"app": "daemon-app", "cnf": {"jkt": key.jkt}}
    status, response, body = send(api_view(), headers)  # RFC 9449 §11.1: the same proof again
    assert status == 401 and body["error"] == "invalid_dpop_proof"
    assert response["cache-control"] == "no-store"


def test_bound_token_without_proof_refused(use: Callable[..., None], make_guard: GuardFactory,
                                           issuer: LocalIssuer, key: DPoPKey) -> None:
    use(make_guard(dpop="allowed"))
    token = bound_token(issuer, key)
    status, response, body = send(api_view(), {"Authorization": f"Bearer {token}"})  # RFC 9449 §7.2
    assert status == 401 and body["error"] == "invalid_token"
    assert 'DPoP realm="api://orders"' in response["www-authenticate"] and 'algs="' in response["www-authenticate"]
    assert response["cache-control"] == "no-store"
    status, response, body = send(api_view(), {"Authorization": f"DPoP {token}"})  # the scheme, no proof
    assert status == 401 and body["error"] == "invalid_dpop_proof"
    assert 'DPoP realm="api://orders", error="invalid_dpop_proof"' in response["www-authenticate"]
    assert response["cache-control"] == "no-store"


def test_nonce_round_trip(use: Callable[..., None], make_guard: GuardFactory, issuer: LocalIssuer,
                          key: DPoPKey) -> None:
    """RFC 9449 §9: the first proof gets use_dpop_nonce and a DPoP-Nonce; the retry with it is accepted."""
    use(make_guard({"dpop": {"nonce": True}}, dpop="allowed"))
    token = bound_token(issuer, key)
    status, response, body = send(api_view(), dpop(key, token))
    assert status == 401 and body["error"] == "use_dpop_nonce"
    assert 'error="use_dpop_nonce"' in response["www-authenticate"] and response["cache-control"] == "no-store"
    assert send(api_view(), dpop(key, token, nonce=response["dpop-nonce"]))[0] == 200


def test_drfs_own_handler_drops_the_nonce(use: Callable[..., None], make_guard: GuardFactory,
                                          issuer: LocalIssuer, key: DPoPKey) -> None:
    """Why the exception handler exists: DRF's default sends no DPoP-Nonce, so clients cannot retry."""
    use(make_guard({"dpop": {"nonce": True}}, dpop="allowed"), handler=False)
    status, response, _ = send(api_view(), dpop(key, bound_token(issuer, key)))
    assert status == 401 and "dpop-nonce" not in response and "cache-control" not in response


def test_view_dpop_required_tightens_the_issuer(use: Callable[..., None], make_guard: GuardFactory,
                                                issuer: LocalIssuer, key: DPoPKey) -> None:
    """``dpop = "required"`` on a view, issuer mode "off": the proof is checked at authentication."""
    use(make_guard())
    strict, token = api_view(dpop="required"), bound_token(issuer, key)
    assert send(strict, dpop(key, token))[:3:2] == (200, {"app": "daemon-app", "cnf": {"jkt": key.jkt}})
    status, response, _ = send(strict, {"Authorization": "Bearer " + issuer.app_token()})
    assert status == 401 and response["www-authenticate"].startswith('DPoP realm="api://orders"')
    assert "Bearer" not in response["www-authenticate"] and response["cache-control"] == "no-store"
    assert send(api_view(), {"Authorization": "Bearer " + issuer.app_token()})[0] == 200  # other views: as before


def test_view_dpop_required_after_the_middleware(use: Callable[..., None], make_guard: GuardFactory,
                                                 issuer: LocalIssuer, key: DPoPKey) -> None:
    """GuardMiddleware authenticated first: the view's ``dpop`` is checked on its principal."""
    from s2s_guard.contrib.django import GuardMiddleware

    use(make_guard(dpop="allowed"))
    strict = GuardMiddleware(api_view(dpop="required"))
    assert send(strict, dpop(key, bound_token(issuer, key)))[0] == 200
    status, response, body = send(strict, {"Authorization": "Bearer " + issuer.app_token()})
    assert status == 401 and body["error_description"] == "A DPoP-bound access token and a DPoP proof are required"
    assert response["www-authenticate"].startswith("DPoP ") and response["cache-control"] == "no-store"


def test_no_credentials_get_the_dpop_challenge(use: Callable[..., None], make_guard: GuardFactory) -> None:
    """RFC 9449 §7.1: a request without credentials learns DPoP's algs (guard-wide or per view)."""
    use(make_guard(dpop="allowed"))
    status, response, body = send(api_view(), {})
    assert status == 401 and "error" not in body
    assert response["www-authenticate"].startswith("Bearer ") and 'DPoP realm="api://orders", algs="' in response["www-authenticate"]
    use(make_guard())
    status, response, _ = send(api_view(dpop="required"), {})
    assert status == 401 and response["www-authenticate"].startswith('DPoP realm="api://orders", algs="')
    assert "Bearer" not in response["www-authenticate"]
    assert send(api_view(), {})[1]["www-authenticate"] == 'Bearer realm="api://orders"'  # no DPoP anywhere
