"""Django REST framework specifics: the authentication class contract and each permission class.

DRF modules are imported inside the tests: they read Django settings at import time, and the
settings are configured by the ``django_base`` fixture, after collection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from contrib_support import AUD

from s2s_guard import ServiceUnavailable
from s2s_guard.testing import LocalIssuer

View = Callable[..., Any]


@pytest.fixture(autouse=True)
def drf_settings(guard_config: dict[str, Any], django_base: None) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(S2S_GUARD=guard_config, MIDDLEWARE=[]):
        yield


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_view(*permissions: Any, **attributes: Any) -> View:
    """A DRF view with our authentication, the given permission classes and view attributes."""
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import BearerAuthentication

    def get(self: Any, request: Any) -> Response:
        return Response({"id": request.auth.identity, "user_is_auth": request.user is request.auth})

    body = {"authentication_classes": [BearerAuthentication], "permission_classes": list(permissions),
            "get": get, **attributes}
    cls: Any = type("Probe", (APIView,), body)
    return cls.as_view()  # type: ignore[no-any-return]


def call(view: View, headers: dict[str, str] | None = None, path: str = "/probe") -> Any:
    from rest_framework.test import APIRequestFactory

    response = view(APIRequestFactory().get(path, headers=headers or {}))
    response.render()
    return response


def test_authenticate_contract(issuer: LocalIssuer) -> None:
    from django.test import RequestFactory
    from rest_framework.request import Request

    from s2s_guard.contrib.drf import BearerAuthentication

    auth = BearerAuthentication()
    assert auth.authenticate(Request(RequestFactory().get("/"))) is None
    basic = RequestFactory().get("/", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert auth.authenticate(Request(basic)) is None  # another scheme: let other classes try
    result = auth.authenticate(Request(RequestFactory().get("/", headers=bearer(issuer.user_token("gus")))))
    assert result is not None and result[0] is result[1] and result[1].identity == "gus"
    assert auth.authenticate_header(Request(basic)) == f'Bearer realm="{AUD}"'


def test_reuses_the_django_middleware_principal(issuer: LocalIssuer) -> None:
    from django.test import RequestFactory
    from rest_framework.request import Request

    from s2s_guard.contrib.django import GuardMiddleware
    from s2s_guard.contrib.drf import BearerAuthentication

    django_request = RequestFactory().get("/", headers=bearer(issuer.app_token("svc")))
    GuardMiddleware(lambda request: None)(django_request)
    django_request.META["HTTP_AUTHORIZATION"] = "Bearer not-checked-again"
    result = BearerAuthentication().authenticate(Request(django_request))
    assert result is not None and result[0] is django_request.principal


def test_policy_classes(issuer: LocalIssuer) -> None:
    from s2s_guard.contrib.drf import AppOnly, UserAndApp, UserOnly

    app, delegated = issuer.app_token("svc"), issuer.user_token("hal", "web")
    user_only = issuer.mint({"sub": "ida"})  # a user and no client
    expected = {AppOnly: (app,), UserAndApp: (delegated,), UserOnly: (delegated, user_only)}
    for permission, accepted in expected.items():
        view = api_view(permission)
        for token in (app, delegated, user_only):
            response = call(view, bearer(token))
            assert response.status_code == (200 if token in accepted else 403), permission
    assert call(api_view(UserOnly), bearer(delegated)).data == {"id": "hal", "user_is_auth": True}


def test_policy_classes_enforce_the_views_scopes(issuer: LocalIssuer) -> None:
    from s2s_guard.contrib.drf import AppOnly

    view = api_view(AppOnly, required_scopes=["orders.read"])
    refused = call(view, bearer(issuer.app_token(scopes="other")))
    assert refused.status_code == 403 and 'scope="orders.read"' in refused["WWW-Authenticate"]
    assert call(view, bearer(issuer.app_token(scopes="orders.read"))).status_code == 200


def test_has_scopes_needs_required_scopes(issuer: LocalIssuer) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from s2s_guard.contrib.drf import HasScopes

    view = api_view(HasScopes, required_scopes=["a", "b"])
    assert call(view, bearer(issuer.user_token(scopes="a b"))).status_code == 200
    assert json.loads(call(view, bearer(issuer.user_token(scopes="a"))).content) == {
        "error": "insufficient_scope", "scope": "a b",
        "error_description": "The access token lacks a scope this resource requires"}
    with pytest.raises(ImproperlyConfigured, match="required_scopes"):
        call(api_view(HasScopes), bearer(issuer.app_token()))


def test_has_right_fails_closed(issuer: LocalIssuer) -> None:
    """No grant covers the resource: 403, never acceptance."""
    from django.core.exceptions import ImproperlyConfigured

    from s2s_guard.contrib.drf import HasRight

    view = api_view(HasRight, required_right="Write", required_resource=lambda request: request.path)
    refused = call(view, bearer(issuer.app_token("svc")), path="/sites/hr")
    assert refused.status_code == 403 and refused.data["error"] == "insufficient_scope"
    with pytest.raises(ImproperlyConfigured, match="required_right"):
        call(api_view(HasRight), bearer(issuer.app_token()))


def test_has_right_with_a_grant(guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    from django.test import override_settings

    from s2s_guard.contrib.drf import HasRight

    grants = [{"app": "svc", "resource": "/sites/hr", "right": "Write", "app_only": True}]
    view = api_view(HasRight, required_right="Write", required_resource=lambda request: request.path)
    with override_settings(S2S_GUARD={**guard_config, "grants": grants}):
        assert call(view, bearer(issuer.app_token("svc")), path="/sites/hr/docs").status_code == 200
        assert call(view, bearer(issuer.app_token("svc")), path="/sites/finance").status_code == 403


def test_drfs_own_not_authenticated_gets_our_challenge() -> None:
    from rest_framework.permissions import IsAuthenticated

    response = call(api_view(IsAuthenticated))
    assert response.status_code == 401 and response["WWW-Authenticate"] == f'Bearer realm="{AUD}"'


def test_unavailable_keeps_retry_after() -> None:
    from s2s_guard.contrib.drf import BearerError

    error = BearerError(ServiceUnavailable(realm=AUD, retry_after=7))
    assert (error.status_code, error.wait, error.auth_header) == (503, 7, None)
    assert error.detail["error"] == "temporarily_unavailable"
