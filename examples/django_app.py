"""Django: ``GuardMiddleware`` (``settings.S2S_GUARD``, deny by default) and ``@requires`` on views.

A single-file Django project. Run: ``python examples/django_app.py`` (the stdlib WSGI server),
``--check`` for a self-test with Django's test client.
"""

from __future__ import annotations

import sys
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views import View

from _demo import HOST, PORT, bearer, check, local_config, print_usage, sample_tokens, start_issuer
from s2s_guard.contrib.django import get_principal, requires


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})  # public: listed in public_paths


@requires(policy="app-only", scopes=["orders.read"])
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"orders": [], "app": request.principal.identity})


@requires(policy="user+app", scopes=["orders.read"])
class Me(View):
    async def get(self, request: HttpRequest) -> JsonResponse:  # async views work too
        principal = get_principal(request)
        return JsonResponse(principal.to_dict() if principal is not None else {})


urlpatterns = [path("health", health), path("orders", orders), path("me", Me.as_view())]


def configure(config: dict[str, Any]) -> None:
    settings.configure(
        DEBUG=False, SECRET_KEY="example-only", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
        MIDDLEWARE=["s2s_guard.contrib.django.GuardMiddleware"],
        S2S_GUARD=config,  # or a path to a TOML/JSON file
    )
    django.setup()


def main(argv: list[str]) -> int:
    issuer = start_issuer()
    configure(local_config(issuer))
    tokens = sample_tokens(issuer)
    if "--check" in argv:
        from django.test import Client

        client = Client()

        def call(path: str, token: str | None) -> tuple[int, str]:
            response = client.get(path, headers=bearer(token))
            return response.status_code, response.content.decode()
        return check(call, tokens)
    from wsgiref.simple_server import make_server

    from django.core.wsgi import get_wsgi_application

    print_usage(tokens)
    make_server(HOST, PORT, get_wsgi_application()).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
