"""Django REST framework: ``BearerAuthentication`` plus the ``AppOnly``/``UserAndApp``/``HasScopes`` permissions.

A single-file project. Run: ``python examples/drf_app.py`` (the stdlib WSGI server),
``--check`` for a self-test with Django's test client.
"""

from __future__ import annotations

import sys
from typing import Any

import django
from django.conf import settings
from django.urls import path

from _demo import HOST, PORT, bearer, check, local_config, print_usage, sample_tokens, start_issuer

urlpatterns: list[Any] = []  # filled by configure(): DRF's views need the settings first


def build_urls() -> list[Any]:
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, HasScopes, UserAndApp

    class Health(APIView):
        permission_classes: list[Any] = []  # public

        def get(self, request: Request) -> Response:
            return Response({"status": "ok"})

    class Orders(APIView):
        permission_classes = [AppOnly, HasScopes]  # all must pass
        required_scopes = ["orders.read"]

        def get(self, request: Request) -> Response:
            return Response({"orders": [], "app": request.auth.identity})

    class Me(APIView):
        permission_classes = [UserAndApp, HasScopes]
        required_scopes = ["orders.read"]

        def get(self, request: Request) -> Response:
            return Response(request.auth.to_dict())  # request.user is the Principal too

    return [path("health", Health.as_view()), path("orders", Orders.as_view()), path("me", Me.as_view())]


def configure(config: dict[str, Any]) -> None:
    settings.configure(
        DEBUG=False, SECRET_KEY="example-only", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        S2S_GUARD=config,  # or a path to a TOML/JSON file
        # DRF's browsable API answers browsers: it needs templates (without them, HTML is a 500).
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        STATIC_URL="/static/",
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["s2s_guard.contrib.drf.BearerAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["s2s_guard.contrib.drf.AppOnly"],  # a safe default
            "EXCEPTION_HANDLER": "s2s_guard.contrib.drf.exception_handler",  # every challenge header
        },
    )
    django.setup()
    urlpatterns[:] = build_urls()


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

        def browse(path: str, token: str | None) -> tuple[int, str]:  # what a browser asks for: HTML
            response = client.get(path, headers={**bearer(token), "Accept": "text/html,*/*;q=0.8"})
            return response.status_code, response["Content-Type"]
        return check(call, tokens) or check(browse, tokens)
    from wsgiref.simple_server import make_server

    from django.core.wsgi import get_wsgi_application

    print_usage(tokens)
    make_server(HOST, PORT, get_wsgi_application()).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
