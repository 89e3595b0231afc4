"""RFC 6750 for Django REST framework: an authentication class and one permission class per rule.

:class:`BearerAuthentication` authenticates ``Authorization: Bearer`` requests (other schemes
return ``None`` so other authenticators can try) and sets ``request.user`` and
``request.auth`` to the :class:`~s2s_guard.Principal`. The permission classes (:class:`AppOnly`,
:class:`UserAndApp`, :class:`UserOnly`, :class:`HasScopes`, :class:`HasRight`) raise the
RFC 6750 error themselves rather than return ``False``, so the response carries the
challenge and the JSON body; list several to require all of them. The three policy classes
also enforce the view's ``required_scopes`` when it sets them, so a refusal names the scopes.
A view's ``dpop = "allowed" | "required"`` (as ``requires(dpop=...)``, RFC 9449) is enforced by
:class:`BearerAuthentication`, where the proof is seen, whatever the permission classes; after
:class:`~s2s_guard.contrib.django.GuardMiddleware` only the issuer's own ``dpop`` mode can prove
a key, as with Django's ``@requires``. Set ``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` to
:func:`exception_handler` so refusals carry all their headers (``DPoP-Nonce``, ``Cache-Control``).
The guard is the one ``settings.S2S_GUARD`` configures (see :mod:`s2s_guard.contrib.django`).
"""
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from html import escape
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from ..core.bearer import malformed_bearer_scheme
from ..errors import AuthError, MissingToken
from ..guard import Guard
from ..policy import Requirement
from ..principal import Policy, Principal
from ..sender import wanted
from . import bind_requirement
from .django import _credentials, get_guard, get_principal, sender_kwargs

__all__ = ["AppOnly", "BearerAuthentication", "BearerError", "HasRight", "HasScopes",
           "UserAndApp", "UserOnly", "exception_handler", "html_response"]


class BearerError(APIException):
    """An :class:`~s2s_guard.AuthError` as DRF renders it: same status, challenge and JSON body."""

    def __init__(self, error: AuthError) -> None:
        super().__init__()
        self.error = error
        self.status_code = error.status_code
        self.detail = json.loads(error.body())  # a dict: DRF renders it as the body itself
        # DRF's exception_handler sends these two as WWW-Authenticate and Retry-After;
        # ours (below) sends every header of the refusal.
        self.auth_header = error.www_authenticate
        self.wait = error.retry_after


def _templates_missing(request: Any) -> bool:
    """Whether HTML was negotiated (RFC 9110 §12.5.1) but the renderer's template cannot be loaded."""
    renderer = getattr(request, "accepted_renderer", None)
    template = getattr(renderer, "template", None) or getattr(renderer, "template_name", None)
    if getattr(renderer, "media_type", None) != "text/html" or not isinstance(template, str):
        return False
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template

    try:
        get_template(template)
    except (TemplateDoesNotExist, ImproperlyConfigured):
        return True
    return False


def html_response(error: AuthError, method: str | None = "GET") -> HttpResponse:
    """A refusal as a small HTML page (no template needed), with the status and every challenge header."""
    phrase = HTTPStatus(error.status_code).phrase
    page = (f"<!doctype html><html><head><title>{error.status_code} {phrase}</title></head><body>"
            f"<h1>{error.status_code} {phrase}</h1><p>{escape(error.description or '')}</p></body></html>").encode()
    body = b"" if method == "HEAD" else page  # RFC 9110 §9.3.2
    return HttpResponse(body, status=error.status_code, headers=error.headers,
                        content_type="text/html; charset=utf-8")


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | HttpResponse | None:
    """DRF's handler, then every header of our refusals: ``DPoP-Nonce`` (RFC 9449 §9), ``Cache-Control``.

    Refusals follow DRF's content negotiation: a browser gets the browsable API's HTML page, or,
    when HTML was negotiated but its templates are not configured, :func:`html_response`
    (never a 500 from the renderer); API clients get the RFC 6750 JSON body.
    """
    from rest_framework.views import exception_handler as drf_handler  # reads settings on import

    if isinstance(exc, BearerError) and _templates_missing(context.get("request")):
        return html_response(exc.error, getattr(context.get("request"), "method", "GET"))
    response: Response | None = drf_handler(exc, context)
    if response is not None and isinstance(exc, BearerError):
        for name, value in exc.error.headers.items():
            response[name] = value
        request = context.get("request")
        if request is not None and request.method == "HEAD":
            response.data = None  # RFC 9110 §9.3.2: a refusal to HEAD carries no content
    return response


def _route(request: Request) -> Requirement | None:
    """The view's ``dpop`` mode as a requirement, or ``None`` when the view sets none."""
    mode = getattr(request.parser_context.get("view"), "dpop", None)
    return None if mode is None else Requirement(dpop=mode)


def _is_ours(header: str, guard: Guard, route: Requirement | None) -> bool:
    """Bearer, or DPoP (RFC 9449 §7.1) when the guard or the view checks sender-constrained tokens."""
    scheme = header.strip().partition(" ")[0]
    if malformed_bearer_scheme(scheme):
        return True  # RFC 6750 §2.1: "Bearer<TAB>..." is ours to refuse with 400, not another scheme
    scheme = scheme.lower()
    return scheme == "bearer" or (scheme == "dpop" and wanted(guard, route))


class BearerAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Bearer`` (or DPoP) requests; ``None`` for other schemes."""

    def authenticate(self, request: Request) -> tuple[Principal, Principal] | None:
        django_request, guard, route = request._request, get_guard(), _route(request)
        principal = get_principal(django_request)  # the middleware may have done it already
        try:
            if principal is not None:
                if route is not None:  # RFC 9449: proven only if the token's issuer binds (as Django's @requires)
                    guard.authorize(principal, route)
                return principal, principal
            headers, tokens = _credentials(django_request)
            if not tokens and not (headers and _is_ours(headers[0], guard, route)):
                return None  # another scheme, or none: let other authenticators try
            # The view's dpop goes in here, where the proof is checked (RFC 9449 §7.1).
            principal = guard.authenticate_sync(headers, route, query_tokens=tokens, path=django_request.path,
                                                **sender_kwargs(guard, django_request, route))
        except AuthError as exc:
            raise BearerError(exc) from None
        django_request.principal = principal
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        """The challenge DRF sends with its own 401s (RFC 6750 §3, RFC 9728 §5.1)."""
        return str(get_guard().challenge(MissingToken(), _route(request)).www_authenticate)


class _RequirementPermission(BasePermission):
    """Check the view's :class:`Requirement` against ``request.auth``; raise the RFC 6750 error."""

    policy: Policy | None = None

    def requirement(self, request: Request, view: Any) -> Requirement:
        # The view's required_scopes count here too, so a policy refusal names them (RFC 6750 §3);
        # allowed_actors and max_delegation_depth restrict who may act for a user (RFC 8693).
        return Requirement(policy=self.policy, scopes=getattr(view, "required_scopes", ()),
                           actors=getattr(view, "allowed_actors", None),
                           max_delegation_depth=getattr(view, "max_delegation_depth", None))

    def has_permission(self, request: Request, view: Any) -> bool:
        guard = get_guard()
        principal = request.auth
        if not isinstance(principal, Principal):
            raise BearerError(guard.challenge(MissingToken("no Bearer principal on this request"), _route(request)))
        requirement = bind_requirement(self.requirement(request, view), request)
        try:
            guard.authorize(principal, requirement)
        except AuthError as exc:
            raise BearerError(exc) from None
        return True


class AppOnly(_RequirementPermission):
    """The token names an app and no user (client credentials); plus the view's ``required_scopes``."""

    policy = "app-only"


class UserAndApp(_RequirementPermission):
    """The token names both a user and the app acting for them (delegated)."""

    policy = "user+app"


class UserOnly(_RequirementPermission):
    """The token names a user; the app, if any, is ignored."""

    policy = "user-only"


class HasScopes(_RequirementPermission):
    """Every scope in the view's ``required_scopes`` is granted, under any policy."""

    def requirement(self, request: Request, view: Any) -> Requirement:
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            raise ImproperlyConfigured(f"{type(view).__name__} uses HasScopes but sets no required_scopes")
        return Requirement(scopes=scopes)


class HasRight(_RequirementPermission):
    """The app (and user) hold ``required_right`` on ``required_resource`` (a path or ``f(request)``).

    Rights come from the guard's app grants (``[[grants]]``) and its ``user_permissions`` hook,
    following the token's policy; a resource no grant covers is refused with 403.
    """

    def requirement(self, request: Request, view: Any) -> Requirement:
        right = getattr(view, "required_right", None)
        if right is None:
            raise ImproperlyConfigured(f"{type(view).__name__} uses HasRight but sets no required_right")
        # Read it unbound: a lambda in the class body must get the request, not the view.
        resource = inspect.getattr_static(view, "required_resource", None)
        if isinstance(resource, staticmethod):
            resource = resource.__func__
        return Requirement(right=right, resource=resource)
