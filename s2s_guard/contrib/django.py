"""RFC 6750 for Django: one dual-mode middleware, ``@requires`` for views, ``request.principal``.

Configured by ``settings.S2S_GUARD`` (the same schema: a mapping, a TOML/JSON path or a
:class:`~s2s_guard.GuardConfig`). :class:`GuardMiddleware` denies by default, like the ASGI
middleware: every request except the configured ``public_paths`` needs a valid token, and
unknown paths are refused before URL resolution (no route oracle). Sync requests use
:meth:`~s2s_guard.Guard.authenticate_sync`, async ones ``await`` :meth:`~s2s_guard.Guard.authenticate`.
``request.user`` is left to Django's auth unless ``settings.S2S_GUARD_SET_USER = True``.
With ``preload = true`` in the configuration the middleware fetches every issuer's keys when
Django loads it (at start-up) and raises :class:`~s2s_guard.ConfigurationError` without them.
"""
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse

from ..errors import AuthError, ConfigurationError
from ..guard import Guard
from ..policy import Requirement
from ..principal import Policy, Principal
from ..readiness import preload
from ..sender import SenderKwargs, environ_sender, wanted
from . import bind_requirement, make_requirement

__all__ = ["GuardMiddleware", "error_response", "get_guard", "get_principal", "metadata_response",
           "requires", "resource_metadata", "sender_kwargs"]

_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def get_guard() -> Guard:
    """The guard built from ``settings.S2S_GUARD``, once (rebuilt when the setting changes)."""
    source = getattr(settings, "S2S_GUARD", None)
    if source is None:
        raise ConfigurationError("S2S_GUARD", "add S2S_GUARD to the Django settings: a mapping "
                                              "or a TOML/JSON path (same schema as s2s_guard.toml)")
    return source if isinstance(source, Guard) else Guard.from_config(source)


def _reset_guard(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("S2S_GUARD"):
        get_guard.cache_clear()


setting_changed.connect(_reset_guard, dispatch_uid="s2s_guard.contrib.django")


def error_response(exc: AuthError, method: str | None = "GET") -> HttpResponse:
    """The RFC 6750 response for ``exc``: status, challenge header and JSON body (none for HEAD)."""
    if method == "HEAD":  # RFC 9110 §9.3.2: no content; Content-Length the GET one (§8.6)
        return HttpResponse(b"", status=exc.status_code, content_type="application/json",
                            headers={**exc.headers, "Content-Length": str(len(exc.body()))})
    return HttpResponse(exc.body(), status=exc.status_code, headers=exc.headers,
                        content_type="application/json")


def metadata_response(guard: Guard, method: str) -> HttpResponse:
    """RFC 9728 §3: the guard's protected resource metadata document (GET/HEAD; else 405)."""
    if guard.resource_metadata is None:
        return HttpResponse(b"{}", status=404, content_type="application/json")
    status, headers, body = guard.resource_metadata.respond(method)
    return HttpResponse(body, status=status, headers=headers)


def resource_metadata(request: HttpRequest) -> HttpResponse:
    """A view for URLconfs without :class:`GuardMiddleware` (e.g. DRF only): the metadata document."""
    return metadata_response(get_guard(), request.method or "GET")


def get_principal(request: HttpRequest) -> Principal | None:
    """The request's principal (``request.principal``), or ``None``."""
    principal = getattr(request, "principal", None)
    return principal if isinstance(principal, Principal) else None


def _credentials(request: HttpRequest) -> tuple[list[str], list[str]]:
    """The ``Authorization`` values and the query-string ``access_token`` values."""
    header = request.META.get("HTTP_AUTHORIZATION")
    tokens = request.GET.getlist("access_token") if "access_token" in request.META.get(
        "QUERY_STRING", "") else []
    return ([] if header is None else [header]), tokens


def sender_kwargs(guard: Guard, request: HttpRequest, requirement: Requirement | None = None) -> SenderKwargs:
    """Method, URL, ``DPoP`` proof and client certificate, when the guard checks bound tokens (RFC 9449, 8705)."""
    if not wanted(guard, requirement):
        return {}
    return environ_sender(request.META, guard.config.trusted_proxy, request.scheme)


def _attach(request: HttpRequest, principal: Principal | None) -> None:
    request.principal = principal
    if principal is not None and getattr(settings, "S2S_GUARD_SET_USER", False):
        request.user = principal


class GuardMiddleware:
    """Authenticate every request except ``public_paths``; sync and async in one class."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.guard = get_guard()  # fail at start-up on a bad configuration
        if self.guard.config.preload:  # and without keys, when asked to fetch them now
            preload(self.guard.ready())
        metadata = self.guard.resource_metadata  # RFC 9728: answered here, before authentication
        self._metadata_path = None if metadata is None else metadata.path
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def _prepare(self, request: HttpRequest) -> tuple[Any, dict[str, Any] | None]:
        """What both drivers do first: (a response to send at once, or ``None``; the arguments to
        authenticate with, or ``None`` on a public path)."""
        if request.path_info == self._metadata_path:  # RFC 9728: answered before authentication
            return metadata_response(self.guard, request.method or "GET"), None
        if self.guard.is_public(request.path_info):
            return None, None
        headers, tokens = _credentials(request)
        return None, {"authorization": headers, "query_tokens": tokens, "path": request.path,
                      **sender_kwargs(self.guard, request)}

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        response, arguments = self._prepare(request)
        if response is not None:
            return response
        try:
            principal = None if arguments is None else self.guard.authenticate_sync(**arguments)
        except AuthError as exc:
            return error_response(exc, request.method)
        _attach(request, principal)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        response, arguments = self._prepare(request)
        if response is not None:
            return response
        try:
            principal = None if arguments is None else await self.guard.authenticate(**arguments)
        except AuthError as exc:
            return error_response(exc, request.method)
        _attach(request, principal)
        return await self.get_response(request)


# -- view decorators ---------------------------------------------------------------------------

def _request_of(args: Iterable[Any]) -> HttpRequest:
    for value in args:  # (request, ...) for functions, (self, request, ...) for methods
        if isinstance(value, HttpRequest):
            return value
    raise TypeError("@requires needs an HttpRequest argument (for DRF use s2s_guard.contrib.drf)")


def _authorize(request: HttpRequest, requirement: Requirement) -> None:
    guard, bound = get_guard(), bind_requirement(requirement, request)
    principal = get_principal(request)
    if principal is None:  # no middleware, or a public path: authenticate here
        headers, tokens = _credentials(request)
        _attach(request, guard.authenticate_sync(headers, bound, query_tokens=tokens,
                                                 path=request.path, **sender_kwargs(guard, request, bound)))
    else:
        guard.authorize(principal, bound)


async def _aauthorize(request: HttpRequest, requirement: Requirement) -> None:
    guard, bound = get_guard(), bind_requirement(requirement, request)
    principal = get_principal(request)
    if principal is None:
        headers, tokens = _credentials(request)
        _attach(request, await guard.authenticate(headers, bound, query_tokens=tokens,
                                                  path=request.path, **sender_kwargs(guard, request, bound)))
    else:
        guard.authorize(principal, bound)


def _wrap(view: _F, requirement: Requirement) -> _F:
    if iscoroutinefunction(view):
        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args)
            try:
                await _aauthorize(request, requirement)
            except AuthError as exc:
                return error_response(exc, request.method)
            return await view(*args, **kwargs)
        return markcoroutinefunction(async_wrapper)  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _request_of(args)
        try:
            _authorize(request, requirement)
        except AuthError as exc:
            return error_response(exc, request.method)
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _wrap_class(view: type[Any], requirement: Requirement) -> type[Any]:
    # Each handler (get, post, ...) is wrapped, so sync and async class-based views both work;
    # OPTIONS stays open for CORS preflights, as Django's View.options only lists methods.
    for name in getattr(view, "http_method_names", ()):
        handler = getattr(view, name, None)
        if name != "options" and callable(handler):
            setattr(view, name, _wrap(handler, requirement))
    return view


def requires(*, policy: Policy | None = None, scopes: Iterable[str] | str = (),
             **extra: Any) -> Callable[[_F], _F]:
    """Decorate a view function, a view method or a class-based view with a requirement.

    ``extra`` keywords (``right=``, ``resource=``) pass through to :class:`~s2s_guard.Requirement`;
    a callable ``resource`` is called with the ``HttpRequest``.
    """
    requirement = make_requirement(policy, scopes, **extra)

    def decorator(view: _F) -> _F:
        if isinstance(view, type):
            return _wrap_class(view, requirement)  # type: ignore[return-value]
        return _wrap(view, requirement)
    return decorator
