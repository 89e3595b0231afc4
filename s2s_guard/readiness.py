"""Readiness (a Kubernetes probe, RFC 7517 §5 JWK Sets, RFC 8414 metadata): can every issuer be trusted now?

:meth:`Guard.ready` and :meth:`Guard.aready` fetch what each issuer needs before a first request
would (its JWK Set or SharePoint metadata, and its discovery document, through the guard's own
key sources, so the fetched keys stay cached), and the introspection endpoint from discovery
when it is not configured. They return a :class:`Readiness`: ``ok`` plus, per issuer, what is
missing. Keys already cached and fresh cost no I/O, so a probe every few seconds is cheap.

``preload = true`` (top-level key) makes the adapters fail at start-up when the guard is not
ready: ASGI lifespan startup in :class:`~s2s_guard.GuardMiddleware`, the Flask extension's
``init_app`` and the Django middleware's construction (see :func:`preload`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .config import GuardConfig, IssuerConfig, redact_url
from .errors import ConfigurationError, ServiceUnavailable
from .sources.discovery import Discovery, Metadata
from .sources.introspection import Introspector
from .sources.jwks import KeySource, RemoteJWKS

__all__ = ["IssuerReadiness", "Readiness", "check_keys", "preload"]

log = logging.getLogger("s2s_guard")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerReadiness:
    """One issuer: its configured name and ``iss``, and what is missing (empty when ready)."""

    name: str
    issuer: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether nothing is missing for this issuer."""
        return not self.problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    """What :meth:`Guard.ready` found: ``ok`` (also the truth value) and each issuer's problems."""

    issuers: tuple[IssuerReadiness, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every issuer is ready."""
        return all(issuer.ok for issuer in self.issuers)

    @property
    def problems(self) -> dict[str, tuple[str, ...]]:
        """Issuer name → what is missing, for the issuers that are not ready."""
        return {issuer.name: issuer.problems for issuer in self.issuers if issuer.problems}

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"ready ({len(self.issuers)} issuer(s))"
        return "not ready: " + "; ".join(f"{name}: {', '.join(found)}" for name, found in self.problems.items())

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view for a probe endpoint: ``{"ok": ..., "problems": {issuer: [...]}}``."""
        return {"ok": self.ok, "problems": {name: list(found) for name, found in self.problems.items()}}


def _name(issuer: IssuerConfig) -> str:
    return issuer.name or issuer.issuer


def _source_url(source: RemoteJWKS) -> str:
    if source.uri is not None:
        return redact_url(source.uri)
    return redact_url(source.discovery.url) if source.discovery is not None else "?"


def _key_problems(source: KeySource, error: ServiceUnavailable | None) -> list[str]:
    """What the fetch left missing: the discovery document, its jwks_uri, or usable keys."""
    if not isinstance(source, RemoteJWKS):
        return []  # static keys were loaded (and checked) when the guard was built
    discovery = source.discovery
    if source.uri is None and discovery is not None:
        if discovery.metadata is None:
            return [f"discovery document unavailable from {redact_url(discovery.url)}"]
        if discovery.metadata.jwks_uri is None:
            return [f"discovery document at {redact_url(discovery.url)} names no jwks_uri"]
    keys = source.state.keys
    if error is not None or keys is None:
        return [f"no keys could be fetched from {_source_url(source)}"]
    if not keys and not source.static:
        return [f"the key set at {_source_url(source)} holds no usable key"]
    return []


def _introspection_problems(introspector: Introspector | None, issuer: IssuerConfig,
                            metadata: Metadata | None) -> list[str]:
    """An introspection endpoint is known: configured, or named by the issuer's discovery."""
    if introspector is None or introspector.issuer.issuer != issuer.issuer or introspector.config.endpoint:
        return []
    discovery = introspector.discovery
    if discovery is None:
        return []
    if metadata is None:
        return [f"discovery document unavailable from {redact_url(discovery.url)} (introspection)"]
    if metadata.introspection_endpoint is None:
        return [f"discovery document at {redact_url(discovery.url)} names no introspection_endpoint"]
    return []


def _issuer_readiness(issuer: IssuerConfig, source: KeySource, error: ServiceUnavailable | None,
                      introspector: Introspector | None, metadata: Metadata | None) -> IssuerReadiness:
    """What one issuer lacks, from what its key fetch and discovery gave (no I/O)."""
    problems = _key_problems(source, error) + _introspection_problems(introspector, issuer, metadata)
    return IssuerReadiness(name=_name(issuer), issuer=issuer.issuer, problems=tuple(problems))


def _keys_sync(source: KeySource, now: float) -> ServiceUnavailable | None:
    try:
        source.keys_sync({}, now)  # an empty header: fetch when empty or stale, else no I/O
    except ServiceUnavailable as exc:
        return exc
    return None


async def _akeys(source: KeySource, now: float) -> ServiceUnavailable | None:
    try:
        await source.akeys({}, now)
    except ServiceUnavailable as exc:
        return exc
    return None


def check_keys(sources: Mapping[str, KeySource], introspector: Introspector | None, config: GuardConfig,
               now: float) -> Readiness:
    """Blocking: fetch what each issuer of ``config`` needs through ``sources``; report what is missing."""
    return _logged(Readiness(issuers=tuple(
        _issuer_readiness(issuer, sources[issuer.issuer], _keys_sync(sources[issuer.issuer], now), introspector,
                          _discovered(introspector, issuer, now))
        for issuer in config.issuers)))


async def acheck_keys(sources: Mapping[str, KeySource], introspector: Introspector | None, config: GuardConfig,
                      now: float) -> Readiness:
    """Async twin of :func:`check_keys`: the same per-issuer report, the fetches awaited."""
    found = []
    for issuer in config.issuers:
        source = sources[issuer.issuer]
        error = await _akeys(source, now)
        found.append(_issuer_readiness(issuer, source, error, introspector,
                                       await _adiscovered(introspector, issuer, now)))
    return _logged(Readiness(issuers=tuple(found)))


def _introspection_discovery(introspector: Introspector | None, issuer: IssuerConfig) -> Discovery | None:
    if introspector is None or introspector.issuer.issuer != issuer.issuer or introspector.config.endpoint:
        return None
    return introspector.discovery


def _discovered(introspector: Introspector | None, issuer: IssuerConfig, now: float) -> Metadata | None:
    discovery = _introspection_discovery(introspector, issuer)
    return None if discovery is None else discovery.get_sync(now)


async def _adiscovered(introspector: Introspector | None, issuer: IssuerConfig, now: float) -> Metadata | None:
    discovery = _introspection_discovery(introspector, issuer)
    return None if discovery is None else await discovery.aget(now)


def _logged(readiness: Readiness) -> Readiness:
    if not readiness.ok:
        log.warning("s2s_guard %s", readiness)
    return readiness


def preload(readiness: Readiness) -> None:
    """``preload = true``: raise :class:`~s2s_guard.ConfigurationError` naming what is missing."""
    if not readiness.ok:
        raise ConfigurationError("preload", f"{readiness}; fix the issuer URLs or the network, "
                                            "or set preload = false to fetch keys on the first request")
