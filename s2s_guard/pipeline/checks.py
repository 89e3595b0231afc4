"""RFC 7515 §5.2, RFC 7519 §7.2, RFC 7662 §2.2, RFC 8693: verify, check claims, build the principal.

Three kinds of claims reach the same issuer checks and profile: a routed JWT with its
issuer's keys (:meth:`Checks.jwt`: the signature, then the claims), an introspection
endpoint's answer (:meth:`Checks.introspected`), and a shared-cache record another worker
wrote (:meth:`Checks.rebuild`: re-checked against this configuration, all but the signature
that worker verified). The delegation policy runs last, before anything is cached. Pure:
``now`` is passed in, keys and answers are fetched by the pipeline's driver.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from ..binding import SenderConstraints
from ..config import GuardConfig, IssuerConfig
from ..core.flow import retry_after
from ..core.introspection import IntrospectionResult
from ..core.jwt import verify_jws
from ..core.keys import KeySet, ecdsa_twin_sha256
from ..core.profiles import introspected_principal
from ..delegation import DelegationPolicy
from ..errors import AuthError, DisallowedAlgorithm, InvalidToken, ServiceUnavailable, UnknownIssuer
from ..principal import Principal
from .routing import Routed, Router

__all__ = ["Checks"]

log = logging.getLogger("s2s_guard")


def _twin(principal: Principal, sha: str) -> None:
    """Record an ECDSA token's twin hash on its (frozen) principal, before anyone else sees it."""
    object.__setattr__(principal, "token_twin_sha256", sha)


def _actor(principal: Principal, sha: str) -> None:
    """[MS-SPS2SAUTH]: record the SHA-256 of the actor token an unsigned outer token wraps (the revocation handle)."""
    object.__setattr__(principal, "actor_token_sha256", sha)


class Checks:
    """The claim checks of one configuration, for fresh tokens, introspection answers and shared records."""

    def __init__(self, config: GuardConfig, router: Router, binding: SenderConstraints) -> None:
        self.config, self.router, self.leeway = config, router, config.leeway
        self.delegation = DelegationPolicy.for_config(config)  # None: nothing to check
        self._binding = binding

    def jwt(self, routed: Routed, keys: KeySet, now: float) -> Principal:
        """A routed JWT: its signature with the issuer's keys, its claims, its principal, delegation."""
        issuer = routed.issuer
        verify_jws(routed.jws, routed.alg, keys)
        profile = self.router.profile(issuer)
        iss = routed.iss or issuer.issuer
        audiences = issuer.audience if issuer.audience is not None else self.router.audiences
        claims = profile.validate(routed.jws.payload, outer=routed.outer, issuer=iss,
                                  audiences=audiences, leeway=self.leeway, now=now)
        principal = profile.principal(claims, issuer=iss, issuer_name=issuer.name, token_sha256=routed.sha256)
        if routed.alg[:2] == "ES":  # revocations must name both spellings (a wrapped actor token's too)
            _twin(principal, ecdsa_twin_sha256(routed.alg, routed.jws.signing_input, routed.jws.signature))
        if routed.outer is not None:
            _actor(principal, hashlib.sha256(routed.outer["actortoken"].encode()).hexdigest())
        if self.delegation is not None:
            self.delegation.check(principal)  # RFC 8693: global and issuer rules, before caching
        return principal

    def expires_at(self, principal: Principal, now: float) -> float:
        """A verified JWT is cached until ``exp`` plus leeway (what a fresh check would allow)."""
        exp = principal.claims.get("exp")
        return float(exp) + self.leeway if type(exp) in (int, float) else now  # type: ignore[arg-type]

    def _delegate(self, principal: Principal) -> None:
        if self.delegation is not None:
            self.delegation.check(principal)  # RFC 8693: global and issuer rules, before caching

    # -- RFC 7662 introspection ------------------------------------------------------------------

    def introspected(self, result: IntrospectionResult, sha: str, now: float,
                     outage: float) -> tuple[Principal, float]:
        """RFC 7662 §2.2: an active result through the issuer's claim checks and profile, and how
        long to cache it; an unusable answer is 503 with ``Retry-After`` (``outage`` seconds)."""
        introspection = self.config.introspection
        if result.error or introspection is None:
            raise ServiceUnavailable(f"introspection failed: {result.error}", retry_after=retry_after(outage))
        if not result.active:
            raise InvalidToken("introspection: token is not active")
        principal = self.introspected_principal(result.claims, sha, now)
        self._delegate(principal)
        return principal, result.expires_at(now, cache_ttl=introspection.cache_ttl,
                                            negative_ttl=introspection.negative_ttl)

    def introspected_principal(self, claims: Mapping[str, Any], sha: str, now: float) -> Principal:
        """RFC 7662 §2.2: an active answer's claims through the introspection issuer's checks and
        profile (a fresh answer, or one another worker stored in the shared cache)."""
        if self.config.introspection is None:
            raise UnknownIssuer("introspection is not configured here")
        issuer = self.router.issuers[str(self.config.introspection.issuer)]
        iss = self._introspected_iss(claims, issuer)
        return introspected_principal(
            claims, profile=self.router.profile(issuer), audiences=self.router.audiences_for(issuer), issuer=iss,
            issuer_name=issuer.name, token_sha256=sha, leeway=self.leeway, now=now,
            clients_without_aud=self.config.introspection.accept_missing_aud_for_clients)

    def _introspected_iss(self, claims: Mapping[str, Any], issuer: IssuerConfig) -> str:
        """RFC 7662 §2.2, RFC 8725 §3.8: the endpoint speaks only for its own issuer (no ``iss``
        means that one); an Entra template's ``iss`` is filled from ``tid`` in its allowed tenants."""
        own = issuer.issuer
        if "{tenantid}" not in own:
            if claims.get("iss", own) != own:
                raise UnknownIssuer("introspected iss is not the introspection issuer")
            return own
        tid = claims.get("tid")
        iss = claims.get("iss", own.replace("{tenantid}", tid) if isinstance(tid, str) else own)
        if not isinstance(iss, str) or not self.router.profile(issuer).issuer_matches(iss, claims):
            raise UnknownIssuer("introspected iss is not the introspection issuer")
        if isinstance(issuer.tenants, tuple) and tid not in issuer.tenants:
            raise UnknownIssuer("introspected tid is not an allowed tenant")
        return iss

    # -- shared verified-token records -----------------------------------------------------------

    def rebuild(self, record: Mapping[str, Any], sha: str, now: float) -> Principal | None:
        """A principal from a shared-cache record another worker wrote, re-checked against this
        configuration; ``None`` (a miss: validate afresh) when this configuration would refuse it."""
        claims, iss = record["claims"], record["issuer"]
        if not isinstance(claims, dict) or not isinstance(iss, str):
            return None
        try:
            if record.get("introspected") is True:
                principal = self.introspected_principal(claims, sha, now)
            else:
                principal = self._recheck_jwt(claims, iss, sha, now)
            self._delegate(principal)  # RFC 8693: this configuration's rules, not the writer's
        except AuthError as exc:
            log.info("ignoring a shared verified-token record this configuration refuses: %s", exc.detail)
            return None
        if isinstance(record.get("twin"), str) and record["twin"]:
            _twin(principal, record["twin"])
        if isinstance(record.get("actor"), str) and record["actor"]:
            _actor(principal, record["actor"])
        if self._binding.unproven(principal):
            return None  # a record this configuration would never write (RFC 9449 §7.2): validate again
        return principal

    def _recheck_jwt(self, claims: Mapping[str, Any], iss: str, sha: str, now: float) -> Principal:
        """A JWT's claim checks, as :meth:`jwt` runs them, minus the signature (already verified)."""
        actor = claims.get("actortoken")  # SharePoint user+app: the signed actor inside the outer claims
        signed, outer = (actor, {k: v for k, v in claims.items() if k != "actortoken"}) \
            if isinstance(actor, Mapping) else (claims, None)
        issuer = self.router.issuers.get(iss) or self.router.template_for(iss, signed)
        if issuer is None:  # RFC 8725 §3.8: an issuer this configuration trusts (Entra templates filled)
            raise UnknownIssuer("iss is not a configured issuer")
        if self.router.introspects and issuer.validation == "introspect":
            raise UnknownIssuer("this issuer's tokens are introspected here")
        profile = self.router.profile(issuer)
        if outer is not None and not profile.unsigned_outer:
            raise DisallowedAlgorithm("alg none is accepted only around a high-trust actor token")
        checked = profile.validate(signed, outer=outer, issuer=iss, audiences=self.router.audiences_for(issuer),
                                   leeway=self.leeway, now=now)
        return profile.principal(checked, issuer=iss, issuer_name=issuer.name, token_sha256=sha)
