"""``right=`` and a callable ``resource=`` pass through every adapter's decorator to the guard's grants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from s2s_guard.testing import LocalIssuer

GRANTS = [{"app": "svc", "resource": "/sites/hr", "right": "Write", "app_only": True}]
Get = Callable[[str, str], int]  # (path, token) -> status


def flask_get(config: dict[str, Any]) -> Get:
    from flask import Flask, request

    from s2s_guard.contrib.flask import Guard

    app = Flask("rights")
    app.config["S2S_GUARD"] = config
    guard = Guard(app)

    @app.get("/sites/<path:rest>")
    @guard.require(policy="app-only", right="Write", resource=lambda req: req.path)
    def site(rest: str) -> str:
        return request.path

    client = app.test_client()
    return lambda path, token: client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def fastapi_get(config: dict[str, Any]) -> Get:
    from fastapi import FastAPI, Security
    from fastapi.testclient import TestClient

    from s2s_guard.contrib.fastapi import FastAPIGuard

    guard = FastAPIGuard.from_config(config)
    app = FastAPI()
    guard.init_app(app)
    dependency = guard.require(right="Write", resource=lambda req: req.url.path)

    @app.get("/sites/{rest:path}")
    def site(rest: str, principal: Any = Security(dependency)) -> str:
        return rest

    client = TestClient(app)
    return lambda path, token: client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def django_get(config: dict[str, Any]) -> Get:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from s2s_guard.contrib.django import requires

    @requires(right="Write", resource=lambda req: req.path)
    def site(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    factory = RequestFactory()
    return lambda path, token: site(factory.get(path, headers={"Authorization": f"Bearer {token}"})).status_code


@pytest.fixture(params=[flask_get, fastapi_get, django_get], ids=["flask", "fastapi", "django"])
def get(request: pytest.FixtureRequest, guard_config: dict[str, Any], django_base: None) -> Iterator[Get]:
    from django.test import override_settings

    config = {**guard_config, "grants": GRANTS}
    with override_settings(S2S_GUARD=config):
        yield request.param(config)


def test_right_on_a_resource_from_the_request(get: Get, issuer: LocalIssuer) -> None:
    token = issuer.app_token("svc")
    assert get("/sites/hr/docs", token) == 200
    assert get("/sites/finance", token) == 403
    assert get("/sites/hr/docs", issuer.app_token("other-app")) == 403
