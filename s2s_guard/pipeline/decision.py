"""The decision pipeline, written once: extract → route → verify → claims → principal → sender → policy.

:class:`Pipeline` is the sans-I/O half of :class:`~s2s_guard.guard.Guard` (as Flask's
``sansio.App`` is of ``Flask``): the guard builds the parts listed on the class and drives these
flows; every private name a test or subclass reaches (``guard._finish``, ``guard._verified``)
stays on the guard. Each step is one call here, in order:

1. extract the token (:func:`.routing.plain_bearer`, :meth:`.routing.Router.token`; with sender
   constraints, :meth:`~s2s_guard.binding.SenderConstraints.present` checks a DPoP proof too);
2. the verified-token cache (memory, then the shared layer): a hit skips to step 6;
3. route it to its issuer or to introspection (:meth:`.routing.Router.route`);
4. verify it with the issuer's keys and check its claims into a principal, delegation included
   (:meth:`.checks.Checks.jwt`), or check the introspection answer (:meth:`.checks.Checks.introspected`);
   then cache the principal;
5. bind the sender (RFC 9449 DPoP, RFC 8705 mTLS): the token's ``cnf`` against the request;
6. accept: the revoked set, then the requirement (policy, scopes, rights).

Every I/O the steps need (keys, introspection, the shared cache, the DPoP replay cache) is
yielded as an :data:`.drive.IO`; :func:`.drive.run` and :func:`.drive.arun` perform it.
The observer hears of each decision (:mod:`s2s_guard.telemetry.observer`); by default nobody listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..binding import SenderConstraints, SenderRequest, uses_dpop
from ..config import GuardConfig
from ..core.keys import KeySet
from ..core.revocation import is_token_sha256, revocation_entries
from ..errors import AuthError, InvalidToken, UnknownIssuer
from ..grants import GrantStore, UserPermissions
from ..policy import Requirement
from ..principal import Principal
from ..sources.cache import SharedCache
from ..sources.introspection import Introspector
from ..sources.jwks import KeySource
from ..sources.verified import VerifiedTokens
from ..diagnose import log_refusal
from .checks import Checks
from .drive import Flow
from ..telemetry.observer import Observation, Observer
from .routing import Authorization, Routed, Router, headers_of, plain_bearer

__all__ = ["Pipeline"]

log = logging.getLogger("s2s_guard")

#: ``authenticate``'s ``dpop_proof``, ``method``, ``url`` and ``client_cert``, made a
#: :class:`SenderRequest` only on the sender-constrained path (a dataclass costs a microsecond).
SenderArgs = tuple[str | Sequence[str] | None, str | None, str | None, str | bytes | None]


class Pipeline:
    """The decision steps of a guard; :class:`~s2s_guard.guard.Guard` builds the parts below."""

    config: GuardConfig
    clock: Callable[[], float]
    grants: GrantStore
    user_permissions: UserPermissions | None
    realm: str
    #: Whether an issuer binds tokens: then every request takes :meth:`_sender`.
    sender_constrained: bool
    _router: Router
    _checks: Checks
    #: The cold path's cryptography, :meth:`.Checks.jwt`: one call per signature checked.
    _finish: Callable[[Routed, KeySet, float], Principal]
    _sources: dict[str, KeySource]
    _shared: SharedCache | None
    _verified: VerifiedTokens
    #: token hash → (expires_at, principal): the verified cache's read index (empty when off).
    _warm: dict[str, tuple[float, Any]]
    _introspector: Introspector | None
    _binding: SenderConstraints
    _metadata_url: str | None
    _observer: Observer

    # -- the whole decision: a cache hit needing no I/O first, then the flow ----------------------

    def _hit(self, authorization: Authorization, requirement: Requirement | None,
             query_tokens: Sequence[str], now: float) -> Principal | None:
        """A plain Bearer token already verified in memory, when no I/O is due (``None``: run the flow);
        the guard asks only while the memory cache holds something."""
        if self.sender_constrained or requirement is not None and requirement.dpop is not None:
            return None
        plain = plain_bearer(authorization, query_tokens)
        if plain is None or self._shared is not None and self._verified.refresh_due(now):
            return None
        principal = self._verified.get(plain[2], now)
        if principal is None:
            return None
        try:
            return self._accept(principal, requirement, None)
        except AuthError as exc:
            raise self._reject(exc, authorization, requirement, principal) from None

    def _decide(self, authorization: Authorization, requirement: Requirement | None,
                query_tokens: Sequence[str], sender: SenderArgs, now: float,
                watch: Observation | None) -> Flow[Principal]:
        """Authenticate a request: the flow both drivers run (wrapped in the observation when watched)."""
        if self.sender_constrained or requirement is not None and requirement.dpop is not None:
            flow = self._sender(authorization, requirement, query_tokens, sender, now, watch)
        else:
            flow = self._bearer(authorization, requirement, query_tokens, now, watch)
        return flow if watch is None else self._watched(flow, watch)

    @staticmethod
    def _watched(flow: Flow[Principal], watch: Observation) -> Flow[Principal]:
        """``flow`` inside the observation's span, its outcome reported."""
        with watch.span() as span:
            try:
                principal = yield from flow
            except AuthError as exc:
                watch.refused(exc, span)
                raise
            watch.accepted(principal, span)
            return principal

    def _bearer(self, authorization: Authorization, requirement: Requirement | None,
                query_tokens: Sequence[str], now: float, watch: Observation | None) -> Flow[Principal]:
        """RFC 6750: a Bearer token, from the verified cache or validated afresh."""
        try:
            plain = plain_bearer(authorization, query_tokens)
            if self._shared is not None:
                yield self._verified.refresh_sync, self._verified.arefresh, (now,)
            principal = self._verified.get(plain[2], now) if plain is not None and self._warm else None
            if principal is None:  # the warm path ends above: one hash, one lookup
                token, sha = self._router.token(authorization, query_tokens, plain)
                principal = yield from self._cold(token, sha, now, watch)
                if "cnf" in principal.claims:  # a bound token: never cached, so the warm path never sees one
                    self._binding.refuse_unproven(principal)
            return self._accept(principal, requirement, watch)
        except AuthError as exc:
            raise self._reject(exc, authorization, requirement) from None

    def _sender(self, authorization: Authorization, requirement: Requirement | None, query_tokens: Sequence[str],
                args: SenderArgs, now: float, watch: Observation | None) -> Flow[Principal]:
        """RFC 9449 DPoP and RFC 8705 mTLS: the token, then its binding to this request's proof or certificate."""
        headers, sender = headers_of(authorization), SenderRequest.of(*args)
        principal = None
        try:
            presented = self._binding.present(headers, query_tokens, requirement, sender, now)
            if self._shared is not None:
                yield self._verified.refresh_sync, self._verified.arefresh, (now,)
            principal = self._verified.get(presented.sha, now)
            if principal is None:
                principal = yield from self._cold(presented.token, presented.sha, now, watch)
            self._binding.bind(principal, presented, requirement, sender)
            if presented.proof is not None:  # RFC 9449 §11.1: last, so only used proofs count
                yield self._binding.record_sync, self._binding.arecord, (presented, now)
            return self._accept(principal, requirement, watch)
        except AuthError as exc:
            raise self._reject(self._binding.challenge(exc, dpop_request=uses_dpop(headers), principal=principal,
                                                       requirement=requirement, now=now),
                               authorization, requirement, principal) from None

    def _cold(self, token: str, sha: str, now: float, watch: Observation | None) -> Flow[Principal]:
        """A memory miss: the shared layer (another worker's check), else route, verify, check and cache."""
        if self._shared is not None:
            shared: Principal | None = yield self._verified.get_sync, self._verified.aget, (sha, now)
            if shared is not None:
                return shared
        routed = self._router.route(token, sha)
        if watch is not None:  # a verified-cache miss, routed: the decision names the issuer
            watch.validating(routed.issuer if routed is not None else None)  # None: introspected
        if routed is None:
            introspector = self._introspector
            if introspector is None:  # the router sends nothing here unless [introspection] is configured
                raise UnknownIssuer("introspection is not configured here")
            result = yield introspector.introspect, introspector.aintrospect, (token, sha, now)
            principal, expires = self._checks.introspected(result, sha, now, introspector.outage)
        else:
            source = self._sources[routed.issuer.issuer]
            keys = yield source.keys_sync, source.akeys, (routed.jws.header, now)
            principal = self._finish(routed, keys, now)
            expires = self._checks.expires_at(principal, now)
        # RFC 9449 §7.2, RFC 8705 §3: a token bound where no issuer mode checks it is never cached,
        # so no later plain Bearer request can be answered from the cache (routes' dpop may check it).
        if self._verified.enabled and ("cnf" not in principal.claims or not self._binding.unproven(principal)):
            verified, introspected = self._verified, routed is None  # which checks a reader re-runs
            yield (lambda: verified.put_sync(principal, expires, now, introspected=introspected),
                   lambda: verified.aput(principal, expires, now, introspected=introspected), ())
        return principal

    # -- checks made on every request, cached or not --------------------------------------------

    def _accept(self, principal: Principal, requirement: Requirement | None, watch: Observation | None) -> Principal:
        """The revoked set, then the requirement."""
        if watch is not None:
            watch.checking(principal)  # a refusal below is reported with its app, user and policy
        if self._verified.revoked and self._verified.is_revoked(principal):
            raise InvalidToken("token revoked")
        if requirement is not None:
            self._check(requirement, principal)
        return principal

    def _check(self, requirement: Requirement, principal: Principal) -> None:
        """Policy, scopes and rights (grants and the application's user_permissions hook)."""
        requirement.check(principal, grants=self.grants, user_permissions=self.user_permissions)

    def _reject(self, exc: AuthError, authorization: Authorization | bytes = None,
                requirement: Requirement | None = None, principal: Principal | None = None) -> AuthError:
        """A refusal as this guard's own: its realm and RFC 9728 §5.1 ``resource_metadata``; at
        DEBUG, why (expected vs actual values, for a person: :mod:`s2s_guard.diagnose`)."""
        exc.realm = self.realm
        exc.resource_metadata = self._metadata_url
        if log.isEnabledFor(logging.DEBUG):
            log.debug("s2s_guard refused: %s %s (%s)", exc.status_code, exc.reason, exc.detail)
            log_refusal(self, exc, authorization=authorization, requirement=requirement, principal=principal)
        return exc

    # -- revocation -------------------------------------------------------------------------------

    def _revoke(self, value: str | None, token: str | None, jti: str | None, sha256: str | None) -> Flow[None]:
        """Store jti values and token hashes (never a token); see :meth:`Guard.revoke`."""
        entries = revocation_entries(value, token=token, jti=jti, sha256=sha256,
                                     opaque_tokens=self._introspector is not None)
        now = self.clock()
        actors = []
        for sha in filter(is_token_sha256, entries):  # a SharePoint outer token's actor goes too
            principal = self._verified.get(sha, now) or (yield self._verified.get_sync, self._verified.aget, (sha, now))
            if principal is not None and principal.actor_token_sha256:
                actors.append(principal.actor_token_sha256)
        yield self._verified.revoke_sync, self._verified.arevoke, (*entries, *actors)
