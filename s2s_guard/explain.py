"""RFC 6750 §3 refusals explained for a person: expected vs actual values, sans-I/O.

A refusal sent to a client says only which kind of check failed. This module says why, with
values, for ``s2s-guard check --verbose``, ``s2s-guard inspect --config`` and the DEBUG log:
the token's ``iss`` against the configured issuers (with trailing-slash and scheme hints),
``aud`` against the accepted audiences, ``exp`` as "expired 93 s ago (leeway 60 s)", ``tid``
against the allowed tenants, the policy and scopes a route wants against the token's, the
``kid`` against the key ids known. It reads the token's header and claims UNVERIFIED (for
explanation only), never echoes a token, and prints no user id or name: the policy says
"a user", never which one. Values from the token are JSON-quoted and shortened, so a crafted
claim cannot forge a log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import GuardConfig, IssuerConfig
from .errors import AuthError
from .policy import Requirement
from .principal import Principal
from .summary import key_source

__all__ = ["Finding", "explain", "findings"]

_MAX_SHOWN = 96


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing this configuration refuses: ``code`` is the :attr:`AuthError.reason` it leads to."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class _Token:
    """What the checks look at: the unverified token, the configuration and the route."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    config: GuardConfig
    now: float
    requirement: Requirement | None
    known_kids: Mapping[str, Collection[str]] | None
    principal: Principal | None


def _show(value: Any) -> str:
    """A token-supplied value, JSON-quoted (no control characters reach a log) and bounded."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def _seconds(value: float) -> str:
    return f"{round(value)} s"


# -- iss: which configured issuer, and hints when none ------------------------------------------

def routed_issuer(claims: Mapping[str, Any], config: GuardConfig) -> IssuerConfig | None:
    """The issuer a token's ``iss`` routes to: exact, or an Entra ``{tenantid}`` template filled from ``tid``."""
    iss, tid = claims.get("iss"), claims.get("tid")
    for issuer in config.issuers:
        if issuer.issuer == iss or (isinstance(tid, str) and "{tenantid}" in issuer.issuer
                                    and issuer.issuer.replace("{tenantid}", tid) == iss):
            return issuer
    return None


def _near_miss(iss: str, configured: str) -> str | None:
    """Why two issuer strings that look alike are not equal (RFC 8725 §3.8 compares exactly)."""
    if iss.rstrip("/") == configured.rstrip("/"):
        return "a trailing slash differs"
    scheme, _, rest = iss.partition("://")
    other_scheme, _, other_rest = configured.partition("://")
    if rest.rstrip("/") == other_rest.rstrip("/") and scheme.lower() != other_scheme.lower():
        return f"the scheme differs ({scheme} vs {other_scheme})"
    if iss.lower() == configured.lower():
        return "letter case differs"
    return None


def _issuer_findings(t: _Token) -> list[Finding]:
    iss = t.claims.get("iss")
    if routed_issuer(t.claims, t.config) is not None:
        return []
    configured = ", ".join(f"{i.name} = {i.issuer!r}" for i in t.config.issuers)
    found = [Finding("unknown_issuer", f"iss {_show(iss)} is not a configured issuer; configured: {configured}")]
    for issuer in t.config.issuers:
        pattern = issuer.issuer.replace("{tenantid}", str(t.claims.get("tid")))
        why = _near_miss(iss, pattern) if isinstance(iss, str) else None
        if why is not None:
            found.append(Finding("unknown_issuer", f"hint: iss is almost issuer {issuer.name!r} "
                                 f"({issuer.issuer!r}) but {why}; issuers are compared exactly"))
    return found


# -- header: alg, typ, kid -------------------------------------------------------------------------

def _header_findings(t: _Token, issuer: IssuerConfig) -> list[Finding]:
    if not t.header:
        return []  # a route refused an accepted principal: the header was checked already
    found, alg, typ = [], t.header.get("alg"), t.header.get("typ")
    if alg not in issuer.algorithms:
        found.append(Finding("disallowed_algorithm", f"alg {_show(alg)} is not among issuer "
                             f"{issuer.name!r}'s algorithms {list(issuer.algorithms)}"))
    if issuer.typ is not None and _typ(typ) != _typ(issuer.typ):
        found.append(Finding("bad_type", f"typ {_show(typ)} but issuer {issuer.name!r} requires "
                             f"{issuer.typ!r} (RFC 9068 sec. 4)"))
    kids = None if t.known_kids is None else t.known_kids.get(issuer.name)
    kid = t.header.get("kid")
    if kids is not None and kid is not None and kid not in kids:
        known = ", ".join(sorted(kids)) or "none (no keys could be loaded)"
        found.append(Finding("unknown_kid", f"kid {_show(kid)} is not among issuer {issuer.name!r}'s "
                             f"key ids: {known}"))
    return found


def _typ(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else ""
    return text[len("application/"):] if text.startswith("application/") else text


# -- claims: aud, times, tid -------------------------------------------------------------------------

def _audience_findings(t: _Token, issuer: IssuerConfig | None) -> list[Finding]:
    accepted = issuer.audience if issuer is not None and issuer.audience is not None else t.config.audience
    aud = t.claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if any(value in accepted for value in values):
        return []
    where = f"issuer {issuer.name!r}" if issuer is not None and issuer.audience is not None else "this API"
    found = [Finding("bad_audience", f"aud {_show(aud)} is not among the audiences {where} accepts: "
                                     f"{list(accepted)}")]
    for value in values:
        for want in accepted:
            if isinstance(value, str) and (value.rstrip("/") == want.rstrip("/")
                                           or value.removeprefix("api://") == want.removeprefix("api://")):
                found.append(Finding("bad_audience", f"hint: aud {_show(value)} is almost {want!r}; "
                                     "Entra v1 tokens carry api://<app id>, v2 tokens the bare app id"))
    return found


def _time_findings(t: _Token) -> list[Finding]:
    found, leeway = [], t.config.leeway
    exp, nbf, iat = (_date(t.claims, name) for name in ("exp", "nbf", "iat"))
    if exp is None:
        found.append(Finding("invalid_claim", f"exp {_show(t.claims.get('exp'))} is not a NumericDate"))
    elif t.now >= exp + leeway:
        found.append(Finding("expired", f"exp: expired {_seconds(t.now - exp)} ago (leeway {_seconds(leeway)})"))
    if nbf is not None and nbf - leeway > t.now:
        found.append(Finding("not_yet_valid", f"nbf: valid in {_seconds(nbf - t.now)} "
                             f"(leeway {_seconds(leeway)}); check the clocks"))
    if iat is not None and iat - leeway > t.now:
        found.append(Finding("issued_in_future", f"iat: issued {_seconds(iat - t.now)} in the future "
                             f"(leeway {_seconds(leeway)}); check the clocks"))
    return found


def _date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim as a float; ``None`` when absent or not a finite number."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1e15:
        return None  # a JSON true, a string, NaN or inf
    return float(value)


def _tenant_findings(t: _Token, issuer: IssuerConfig) -> list[Finding]:
    tenants, tid = issuer.tenants, t.claims.get("tid")
    if issuer.profile != "entra" or tenants is None or tenants == "any" or tid in tenants:
        return []
    return [Finding("invalid_claim", f"tid {_show(tid)} is not among issuer {issuer.name!r}'s "
                                     f"allowed tenants {list(tenants)}")]


# -- the route: policy and scopes --------------------------------------------------------------------

def _route_findings(t: _Token, issuer: IssuerConfig) -> list[Finding]:
    requirement, principal = t.requirement, t.principal or _principal(t, issuer)
    if requirement is None:
        return []
    if principal is None:
        return [Finding("", "the token's app, user and scopes could not be read with profile "
                            f"{issuer.profile!r}, so the route's requirement was not checked here")]
    found = []
    if requirement.policy is not None and not _policy_fits(requirement.policy, principal):
        found.append(Finding("policy_mismatch", f"policy: the route wants {requirement.policy}, the token is "
                             f"{principal.policy} ({_identities(principal)})"))
    missing = [s for s in requirement.scopes if s not in principal.scopes]
    if missing:
        found.append(Finding("insufficient_scope", f"scopes: missing {' '.join(missing)}; the route wants "
                             f"{' '.join(requirement.scopes)}, the token grants "
                             f"{' '.join(sorted(principal.scopes)) or '(none)'}"))
    return found


def _policy_fits(policy: str, principal: Principal) -> bool:
    has_app, has_user = principal.app is not None, principal.user is not None
    return {"app-only": has_app and not has_user, "user+app": has_app and has_user}.get(policy, has_user)


def _identities(principal: Principal) -> str:
    """Who the token names, without naming the user (PII)."""
    app = f"app {principal.app.client_id!r}" if principal.app is not None else "no app"
    return f"{app} and {'a user' if principal.user is not None else 'no user'}"


def _principal(t: _Token, issuer: IssuerConfig) -> Principal | None:
    from .core.profiles import profile_for  # local: profiles import much of the core

    try:
        return profile_for(issuer).principal(t.claims, issuer=str(t.claims.get("iss")),
                                             issuer_name=issuer.name, token_sha256="")
    except (AuthError, ValueError, TypeError, KeyError):
        return None


# -- the two entry points ---------------------------------------------------------------------------

_Check = Callable[[_Token, IssuerConfig], list[Finding]]
_CHECKS: tuple[_Check, ...] = (_header_findings, _audience_findings, lambda t, _: _time_findings(t),
                               _tenant_findings, _route_findings)


def findings(header: Mapping[str, Any], claims: Mapping[str, Any], config: GuardConfig, *, now: float,
             requirement: Requirement | None = None, known_kids: Mapping[str, Collection[str]] | None = None,
             principal: Principal | None = None) -> list[Finding]:
    """Everything ``config`` would refuse in this (unverified) token, in validation order."""
    t = _Token(header, claims, config, now, requirement, known_kids, principal)
    issuer = routed_issuer(claims, config)
    if issuer is None:
        return _issuer_findings(t) + _audience_findings(t, None) + _time_findings(t)
    return [finding for check in _CHECKS for finding in check(t, issuer)]


def explain(error: AuthError, header: Mapping[str, Any] | None, claims: Mapping[str, Any] | None,
            config: GuardConfig, *, now: float, requirement: Requirement | None = None,
            known_kids: Mapping[str, Collection[str]] | None = None,
            principal: Principal | None = None) -> list[str]:
    """Lines that explain ``error`` for a person: the refusal, its cause with values, other problems.

    ``header`` and ``claims`` are the token's, decoded without verification (``None`` when it
    is no JWT); ``known_kids`` maps issuer names to the key ids loaded for them; ``principal``,
    when the token was accepted and a route refused it, replaces what the claims would give.
    """
    lines = [f"refused: {error.status_code} {error.error or '(no error code)'} ({error.reason}): "
             f"{error.description}"]
    found = [] if claims is None else findings(
        header or {}, claims, config, now=now, requirement=requirement, known_kids=known_kids, principal=principal)
    cause = [f for f in found if f.code == error.reason]
    issuer = None if claims is None else routed_issuer(claims, config)
    lines += [f"cause: {f.message}" for f in cause] or [f"cause: {_fallback(error, header, issuer, config)}"]
    lines += [f"also: {f.message}" for f in found if f not in cause]
    if error.detail:
        lines.append(f"detail: {error.detail}")
    return lines


def _fallback(error: AuthError, header: Mapping[str, Any] | None, issuer: IssuerConfig | None,
              config: GuardConfig) -> str:
    """The cause of a refusal the claims alone do not show (a signature, an outage, a proof)."""
    name = repr(issuer.name) if issuer is not None else "(none: the token names no configured issuer)"
    kid = _show(header.get("kid")) if header is not None else "(none)"
    keys = key_source(issuer) if issuer is not None else "(unknown)"
    texts = {
        "bad_signature": f"the signature does not verify with issuer {name}'s key {kid} from {keys}: the "
                         "token was changed after signing, or was signed by another key with the same kid "
                         "(a test issuer, another tenant or environment)",
        "unknown_kid": f"no key of issuer {name} from {keys} matches kid {kid} (a rotated or foreign key; "
                       "the keys are refetched at most once per jwks_cooldown)",
        "unavailable": f"issuer {name}'s keys from {keys} or the introspection endpoint could not be "
                       "reached; the guard fails closed with 503 (see the s2s_guard.jwks and "
                       "s2s_guard.introspection warnings)",
        "malformed": "the token is not a well-formed compact JWS: three base64url parts, header and "
                     "payload JSON objects (RFC 7515 sec. 7.1)",
        "too_large": f"the token is longer than max_token_bytes = {config.max_token_bytes}",
        "missing_token": "no Bearer token: send Authorization: Bearer <token>",
        "insufficient_right": "right: neither [[grants]] (or the grant store) for the app nor the "
                              "application's user_permissions hook for the user grants it; see detail",
        "delegation_not_allowed": "delegation: the app acting for the user is not in the allowed actors, "
                                  "or the act chain is too long ([delegation], the issuer's actors, "
                                  "the route's actors); see detail",
    }
    return texts.get(error.reason, "see detail")
