"""Django specifics: the dual-mode middleware, settings, request.user, and decorators without middleware."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from contrib_support import AUD

from s2s_guard import ConfigurationError, Guard, Principal
from s2s_guard.testing import LocalIssuer


class CountingGuard(Guard):
    """A guard that records which driver served each request."""

    calls: list[str]

    async def authenticate(self, *args: Any, **kwargs: Any) -> Principal:
        self.calls.append("async")
        return await super().authenticate(*args, **kwargs)

    def authenticate_sync(self, *args: Any, **kwargs: Any) -> Principal:
        self.calls.append("sync")
        return super().authenticate_sync(*args, **kwargs)


@pytest.fixture
def guard(guard_config: dict[str, Any], django_base: None) -> Iterator[CountingGuard]:
    from django.test import override_settings

    counting = CountingGuard.from_config({**guard_config, "allow_query_token": True})
    assert isinstance(counting, CountingGuard)
    counting.calls = []
    with override_settings(S2S_GUARD=counting):
        yield counting


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seen(request: Any) -> Any:
    from django.http import HttpResponse

    response = HttpResponse("ok")
    response.seen = request
    return response


def test_one_class_serves_sync_and_async(guard: CountingGuard, issuer: LocalIssuer) -> None:
    from django.test import RequestFactory

    from s2s_guard.contrib.django import GuardMiddleware

    async def aget_response(request: Any) -> Any:
        return _seen(request)

    sync_mw, async_mw = GuardMiddleware(_seen), GuardMiddleware(aget_response)
    assert not iscoroutinefunction(sync_mw) and iscoroutinefunction(async_mw)
    request = RequestFactory().get("/x", headers=bearer(issuer.app_token("svc")))
    assert sync_mw(request).seen.principal.identity == "svc"
    request = RequestFactory().get("/x", headers=bearer(issuer.app_token("svc")))
    assert asyncio.run(async_mw(request)).seen.principal.identity == "svc"
    assert guard.calls == ["sync", "async"]  # no event loop per sync request, no thread per async one


def test_request_user_is_left_alone_unless_asked(guard: CountingGuard, issuer: LocalIssuer) -> None:
    from django.test import RequestFactory, override_settings

    from s2s_guard.contrib.django import GuardMiddleware

    request = RequestFactory().get("/x", headers=bearer(issuer.app_token("svc")))
    request.user = "django's own"
    assert GuardMiddleware(_seen)(request).seen.user == "django's own"
    with override_settings(S2S_GUARD_SET_USER=True):
        request = RequestFactory().get("/x", headers=bearer(issuer.app_token("svc")))
        seen = GuardMiddleware(_seen)(request).seen
    assert seen.user is seen.principal and seen.user.is_authenticated


def test_public_paths_query_tokens_and_refusals(guard: CountingGuard, issuer: LocalIssuer) -> None:
    from django.test import RequestFactory

    from s2s_guard.contrib.django import GuardMiddleware

    mw = GuardMiddleware(_seen)
    assert mw(RequestFactory().get("/health")).seen.principal is None
    ok = mw(RequestFactory().get("/x", {"access_token": issuer.user_token("eve")}))
    assert ok.seen.principal.identity == "eve"
    refused = mw(RequestFactory().get("/x"))
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == f'Bearer realm="{AUD}"'
    assert refused["Content-Type"] == "application/json"


def test_missing_setting_fails_at_start_up(django_base: None) -> None:
    from django.test import override_settings

    from s2s_guard.contrib.django import GuardMiddleware

    with override_settings(S2S_GUARD=None), pytest.raises(ConfigurationError, match="S2S_GUARD"):
        GuardMiddleware(_seen)


def test_changing_the_setting_rebuilds_the_guard(guard_config: dict[str, Any], django_base: None) -> None:
    from django.test import override_settings

    from s2s_guard.contrib.django import get_guard

    with override_settings(S2S_GUARD=guard_config):
        first = get_guard()
        assert get_guard() is first
        with override_settings(S2S_GUARD={**guard_config, "realm": "other"}):
            assert get_guard().realm == "other"
        assert get_guard() is not first and get_guard().realm == AUD


def test_decorators_work_without_the_middleware(guard: CountingGuard, issuer: LocalIssuer) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from s2s_guard.contrib.django import requires

    @requires(policy="user-only")
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.principal.identity)

    @requires()
    async def aview(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.principal.identity)

    assert view(RequestFactory().get("/x", headers=bearer(issuer.user_token("fay")))).content == b"fay"
    assert view(RequestFactory().get("/x", headers=bearer(issuer.app_token()))).status_code == 403
    assert view(RequestFactory().get("/x")).status_code == 401
    assert iscoroutinefunction(aview)
    request = RequestFactory().get("/x", headers=bearer(issuer.app_token("svc")))
    assert asyncio.run(aview(request)).content == b"svc"


def test_class_decorator_wraps_handlers_not_options(guard: CountingGuard, issuer: LocalIssuer) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory
    from django.views import View

    from s2s_guard.contrib.django import requires

    @requires(policy="app-only")
    class Orders(View):
        def get(self, request: HttpRequest) -> HttpResponse:
            return HttpResponse("list")

        def post(self, request: HttpRequest) -> HttpResponse:
            return HttpResponse("created", status=201)

    view = Orders.as_view()
    factory = RequestFactory()
    assert view(factory.options("/orders")).status_code == 200  # CORS preflights carry no token
    assert view(factory.get("/orders")).status_code == 401
    assert view(factory.head("/orders", headers=bearer(issuer.user_token()))).status_code == 403
    assert view(factory.post("/orders", headers=bearer(issuer.app_token()))).status_code == 201


def test_requires_needs_a_request(guard: CountingGuard) -> None:
    from s2s_guard.contrib.django import requires

    with pytest.raises(TypeError, match="HttpRequest"):
        requires()(lambda value: value)("not a request")
