"""What a guard trusts, said once at start-up (INFO on the ``s2s_guard`` logger), sans-I/O.

One line for the guard (audiences, leeway, cache backend, telemetry) and one per issuer
(name, ``iss``, profile, validation, key source, binding modes). URLs go through
:func:`~s2s_guard.config.redact_url`; secrets are named, never shown. Nothing here is PII.
"""

from __future__ import annotations

import logging

from .config import GuardConfig, IssuerConfig, redact_url

__all__ = ["key_source", "log_startup", "startup_summary"]

log = logging.getLogger("s2s_guard")


def key_source(issuer: IssuerConfig) -> str:
    """Where an issuer's verification keys come from, in words (URLs redacted, no secret)."""
    parts = []
    if issuer.metadata_url is not None:
        parts.append(f"SharePoint metadata {redact_url(issuer.metadata_url)}")
    elif issuer.jwks_uri is not None:
        parts.append(f"jwks_uri {redact_url(issuer.jwks_uri)}")
    elif issuer.discovery is not None:
        parts.append(f"discovery {redact_url(issuer.discovery)}")
    if issuer.jwks is not None:
        parts.append("inline jwks")
    if issuer.jwks_file is not None:
        parts.append(f"jwks_file {issuer.jwks_file}")
    if issuer.certificates:
        parts.append(f"{len(issuer.certificates)} certificate file(s)")
    if issuer.secret is not None:
        parts.append("a shared HMAC secret")
    return " + ".join(parts) or "no keys"


def _issuer_line(issuer: IssuerConfig, config: GuardConfig) -> str:
    introspected = issuer.validation == "introspect" and config.introspection is not None
    validation = "introspect" if introspected else "jwt"
    if introspected and config.introspection is not None and config.introspection.endpoint is not None:
        validation += f" at {redact_url(config.introspection.endpoint)}"
    binding = f"dpop {issuer.dpop}, mtls {issuer.mtls}"
    audience = "" if issuer.audience is None else f", audience {list(issuer.audience)}"
    tenants = "" if issuer.tenants is None else f", tenants {issuer.tenants!r}"
    return (f"s2s_guard issuer {issuer.name!r}: iss {redact_url(issuer.issuer)!r}, profile {issuer.profile}, "
            f"validation {validation}, keys from {key_source(issuer)}, algorithms {list(issuer.algorithms)}, "
            f"{binding}{audience}{tenants}")


def _cache_text(config: GuardConfig) -> str:
    cache = config.cache
    where = cache.backend if cache.url is None else f"{cache.backend} {redact_url(cache.url)}"
    if cache.master is not None:  # redis-sentinel: the master's name and who names it
        where += f" master {cache.master} via {', '.join(cache.sentinels)}"
    return f"{where} (verified tokens {'on' if cache.verified else 'off'})"


def startup_summary(config: GuardConfig, *, show_pii: bool = False) -> list[str]:
    """The lines :func:`log_startup` writes: the guard, then each issuer."""
    telemetry = config.telemetry
    reports = [name for name, on in (("audit", telemetry.audit), ("otel", telemetry.otel)) if on]
    head = (f"s2s_guard ready: audience {list(config.audience)}, {len(config.issuers)} issuer(s), "
            f"leeway {config.leeway:g} s, cache {_cache_text(config)}, telemetry {'+'.join(reports) or 'off'}, "
            f"PII in logs {'shown' if show_pii else 'hidden'}")
    return [head, *(_issuer_line(issuer, config) for issuer in config.issuers)]


def log_startup(config: GuardConfig) -> None:
    """Write :func:`startup_summary` at INFO, one record per line (nothing is built when INFO is off)."""
    if log.isEnabledFor(logging.INFO):
        from .telemetry.audit import pii_shown  # local: telemetry imports the guard's modules

        for line in startup_summary(config, show_pii=pii_shown(config.telemetry)):
            log.info("%s", line)
