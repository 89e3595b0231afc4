"""DRF refusals follow content negotiation: JSON for API clients, HTML for browsers, never a 500.

DRF's default renderers include the browsable API (HTML), which needs Django templates; the
exception handler answers a small HTML page when they are not configured.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from contrib_support import AUD

from s2s_guard.testing import LocalIssuer

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
HANDLER = "s2s_guard.contrib.drf.exception_handler"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]


@pytest.fixture(autouse=True)
def drf_settings(guard_config: dict[str, Any], django_base: None) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(S2S_GUARD=guard_config, MIDDLEWARE=[], TEMPLATES=[],
                           REST_FRAMEWORK={"EXCEPTION_HANDLER": HANDLER}):
        yield


def view() -> Any:
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, BearerAuthentication

    class Orders(APIView):
        authentication_classes = [BearerAuthentication]
        permission_classes = [AppOnly]
        required_scopes = ["orders.read"]

        def get(self, request: Any) -> Response:
            return Response({"ok": True})
    return Orders.as_view()


def call(headers: dict[str, str], method: str = "get") -> Any:
    from rest_framework.test import APIRequestFactory

    response = view()(getattr(APIRequestFactory(), method)("/orders", headers=headers))
    if hasattr(response, "render"):
        response.render()
    return response


def test_browser_without_templates_gets_an_html_refusal_not_a_500(issuer: LocalIssuer) -> None:
    r = call(BROWSER)
    assert r.status_code == 401 and r["Content-Type"] == "text/html; charset=utf-8"
    assert r["WWW-Authenticate"] == f'Bearer realm="{AUD}"'
    assert b"<h1>401 Unauthorized</h1>" in r.content and b"Bearer access token required" in r.content
    r = call({**BROWSER, "Authorization": f"Bearer {issuer.user_token(scopes='orders.read')}"})
    assert r.status_code == 403 and b"403 Forbidden" in r.content
    assert 'error="insufficient_scope"' in r["WWW-Authenticate"]
    assert call(BROWSER, "head").content == b""


def test_api_clients_still_get_json() -> None:
    r = call({"Accept": "application/json"})
    assert r.status_code == 401 and r["Content-Type"] == "application/json"
    assert r.content == b'{"error_description":"Bearer access token required"}'


def test_browser_with_templates_gets_the_browsable_api() -> None:
    from django.test import override_settings

    urls = types.ModuleType("s2s_guard_drf_html_urls")
    urls.urlpatterns = []  # type: ignore[attr-defined]
    with override_settings(TEMPLATES=TEMPLATES, STATIC_URL="/static/", ROOT_URLCONF=urls):
        r = call(BROWSER)
    assert r.status_code == 401 and r["Content-Type"] == "text/html; charset=utf-8"
    assert r["WWW-Authenticate"] == f'Bearer realm="{AUD}"'
    assert b"Django REST framework" in r.content  # DRF's negotiation honoured: its own HTML page
