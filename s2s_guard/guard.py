"""The pipeline: bearer → decode → verify → claims → principal → policy, sync and async.

:meth:`Guard.authenticate` and :meth:`Guard.authenticate_sync` share every step but one:
fetching keys, the only I/O, done by the issuer's key source.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .config import GuardConfig, IssuerConfig, load_config
from .core.bearer import extract_bearer
from .core.jws import CompactJWS, parse_compact
from .core.jwt import check_header, issuer_of, verify_jws
from .core.keys import KeySet, ecdsa_twin_sha256
from .core.revocation import is_token_sha256, revocation_entries
from .core.sharepoint import unwrap_outer
from .grants import ConfigGrantStore, GrantStore, UserPermissions
from .core.flow import retry_after
from .core.introspection import IntrospectionResult
from .core.profiles import Profile, introspected_principal, profile_for
from .binding import SenderConstraints, SenderRequest, uses_dpop
from .delegation import DelegationPolicy
from .diagnose import log_refusal
from .errors import (AuthError, DisallowedAlgorithm, InvalidToken, ServiceUnavailable, TokenTooLarge, UnknownIssuer)
from .policy import Requirement
from .readiness import Readiness, acheck_keys, check_keys
from .principal import Principal
from .resource_metadata import ResourceMetadata
from .sources.cache import shared_cache_for
from .sources.introspection import Introspector
from .sources.issuer_uri import issuer_config
from .sources.jwks import KeySource, RemoteJWKS, discovery_for, key_source_for
from .sources.signed import namespace_for
from .sources.verified import VerifiedTokens
from .summary import log_startup
from .telemetry import Telemetry, instrument, note_principal, note_validation, telemetry_for

__all__ = ["Guard"]

log = logging.getLogger("s2s_guard")

Authorization = str | Sequence[str] | None
# RFC 6750 §2.1 b64token characters ("=" padding goes the long way, through extract_bearer).
_BEARER_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


class _Pending(NamedTuple):
    """A decoded, routed token waiting for its issuer's keys (a tuple: cheap to build per request)."""

    jws: CompactJWS
    issuer: IssuerConfig
    alg: str
    sha256: str
    #: The token's ``iss`` (an Entra template filled from ``tid``); empty means ``issuer.issuer``.
    iss: str = ""
    #: SharePoint high-trust user+app: the unsecured outer token's claims; ``jws`` is its actor token.
    outer: Mapping[str, Any] | None = None


_sha256 = hashlib.sha256  # the warm path's one hash, without a module attribute lookup


def _twin(principal: Principal, sha: str) -> None:
    """Record an ECDSA token's twin hash on its (frozen) principal, before anyone else sees it."""
    object.__setattr__(principal, "token_twin_sha256", sha)


def _actor(principal: Principal, outer: Mapping[str, Any]) -> None:
    """[MS-SPS2SAUTH]: record the SHA-256 of the actor token an unsigned outer token wraps (the revocation handle)."""
    object.__setattr__(principal, "actor_token_sha256", hashlib.sha256(outer["actortoken"].encode()).hexdigest())


def _actor_hashes(principals: Iterable[Principal | None]) -> list[str]:
    """The actor token hashes of revoked SharePoint outer tokens' cached principals."""
    return [p.actor_token_sha256 for p in principals if p is not None and p.actor_token_sha256]


def _headers(authorization: Authorization) -> list[str]:
    """The ``Authorization`` value(s) as the list :func:`extract_bearer` takes."""
    return [authorization] if isinstance(authorization, str) else list(authorization or ())


def token_sha256(token: str) -> str:
    """The SHA-256 hex digest that stands for a token in logs and caches."""
    return hashlib.sha256(token.encode()).hexdigest()


class Guard:
    """Validates Bearer tokens and checks requirements; build it with :meth:`from_config`."""

    def __init__(self, config: GuardConfig, *, clock: Callable[[], float] = time.time,
                 user_permissions: UserPermissions | None = None,
                 grant_store: GrantStore | None = None, telemetry: Telemetry | None = None) -> None:
        self.config = config
        self.clock = clock
        #: App rights for ``Requirement(right=...)``: ``[[grants]]`` unless the application brings a store.
        self.grants: GrantStore = grant_store if grant_store is not None else ConfigGrantStore(config.grants)
        #: ``user_permissions(user, resource) -> right or None``; without it no user holds a right.
        self.user_permissions = user_permissions
        self.realm = config.realm or config.audience[0]
        self._issuers = config.issuer_by_iss()
        self._audiences = frozenset(config.audience)
        self._sources: dict[str, KeySource] = {
            issuer.issuer: key_source_for(issuer, f"issuers[{i}].")
            for i, issuer in enumerate(config.issuers)}
        self._shared = shared_cache_for(config.cache)
        for source in self._sources.values():
            if isinstance(source, RemoteJWKS):
                source.shared = self._shared  # workers exchange fetched JWK Sets
        #: Shared verified/introspection records live under a digest of the validation configuration.
        self._namespace = namespace_for(config) if self._shared is not None else ""
        self._verified = VerifiedTokens(config.cache, self._shared, self._rebuild, namespace=self._namespace)
        #: token hash → (expires_at, principal): the verified cache's read index (empty when off).
        self._warm = self._verified.memory.entries if config.cache.verified else {}
        self._introspector = self._make_introspector()
        self._profile_cache: dict[str, Profile] = {}
        self._templates = [i for i in config.issuers if "{tenantid}" in i.issuer]  # Entra multi-tenant
        #: RFC 9728: the document every adapter serves at its path (``None``: not configured).
        self.resource_metadata = None if config.resource_metadata is None else ResourceMetadata(
            config.resource_metadata, now=clock())
        self._metadata_url = None if self.resource_metadata is None else self.resource_metadata.url
        self._delegation = DelegationPolicy.for_config(config)  # None: nothing to check
        #: RFC 9449 DPoP / RFC 8705 mTLS; while an issuer binds tokens, every request takes the full path.
        self._binding = SenderConstraints(config, self._shared)
        #: Whether an issuer binds tokens (adapters then pass method, URL, proofs and certificate).
        self.sender_constrained = self._binding.active
        #: ``[telemetry]`` plus the application's own; ``None`` leaves this guard uninstrumented.
        self._telemetry = telemetry_for(config.telemetry, telemetry)
        if self._telemetry is not None:
            instrument(self, self._telemetry)  # wraps this instance's authenticate, lookup, authorize
        log_startup(config)  # issue 14: what this guard trusts, once, at INFO

    @classmethod
    def from_config(cls, source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig,
                    **kwargs: Any) -> Guard:
        """Build a guard from a mapping, a TOML/JSON path or a :class:`GuardConfig`."""
        return cls(load_config(source), **kwargs)

    @classmethod
    def from_issuer(cls, issuer_uri: str, *, audience: str | Sequence[str], profile: str | None = None,
                    client_ids: Sequence[str] | None = None, algorithms: Sequence[str] | None = None,
                    issuer_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Guard:
        """Trust one identity provider from its issuer URL (Spring's ``issuer-uri``), for ``audience``.

        Reads the issuer's discovery document now (blocking; https unless loopback); its
        ``issuer`` must equal ``issuer_uri``. The profile is detected (Entra, Auth0, Okta, Keycloak,
        Cognito, Duende; else ``jwt``) unless ``profile`` is given; ``client_ids`` is required for
        Cognito. ``issuer_options`` holds any other ``[[issuers]]`` key; ``kwargs`` go to the guard.
        Raises :class:`~s2s_guard.errors.ConfigurationError` naming the key and the fix.
        """
        return cls.from_config(issuer_config(issuer_uri, audience=audience, profile=profile, client_ids=client_ids,
                                             algorithms=algorithms, issuer_options=issuer_options), **kwargs)

    # -- the sans-I/O steps ------------------------------------------------------------------

    def _route_jws(self, jws: CompactJWS, sha: str) -> _Pending:
        """Find the issuer (exact ``iss``, then templates) and check the header against it."""
        outer = None
        if jws.header.get("alg") == "none":
            # RFC 8725 §3.1: never alone; only as SharePoint's wrapper around a signed actor token.
            jws, outer = unwrap_outer(jws, self.config.max_token_bytes)
        iss = issuer_of(jws)
        issuer = self._issuers.get(iss) or self._template_issuer(iss, jws.payload)
        if issuer is None:
            raise UnknownIssuer("iss is not a configured issuer")
        profile = self._profile(issuer)
        if outer is not None and not profile.unsigned_outer:
            raise DisallowedAlgorithm("alg none is accepted only around a high-trust actor token")
        alg = check_header(jws.header, issuer.algorithms, issuer.typ)
        profile.check_header(jws.header)
        return _Pending(jws, issuer, alg, sha, iss, outer)

    def _template_issuer(self, iss: str, payload: Mapping[str, Any]) -> IssuerConfig | None:
        for issuer in self._templates:  # Entra: {tenantid} filled from tid, then matched exactly
            if self._profile(issuer).issuer_matches(iss, payload):
                return issuer
        return None

    def _finish(self, pending: _Pending, keys: KeySet, now: float) -> Principal:
        issuer = pending.issuer
        verify_jws(pending.jws, pending.alg, keys)
        profile = self._profile(issuer)
        iss = pending.iss or issuer.issuer
        audiences = issuer.audience if issuer.audience is not None else self._audiences
        claims = profile.validate(pending.jws.payload, outer=pending.outer, issuer=iss,
                                  audiences=audiences, leeway=self.config.leeway, now=now)
        principal = profile.principal(claims, issuer=iss, issuer_name=issuer.name,
                                      token_sha256=pending.sha256)
        if pending.alg[:2] == "ES":  # revocations must name both spellings (a wrapped actor token's too)
            _twin(principal, ecdsa_twin_sha256(pending.alg, pending.jws.signing_input, pending.jws.signature))
        if pending.outer is not None:
            _actor(principal, pending.outer)
        if self._delegation is not None:
            self._delegation.check(principal)  # RFC 8693: global and issuer rules, before caching
        return principal

    def _check(self, requirement: Requirement, principal: Principal) -> None:
        """Policy, scopes and rights (grants and the application's user_permissions hook)."""
        requirement.check(principal, grants=self.grants, user_permissions=self.user_permissions)

    def _reject(self, exc: AuthError, authorization: Authorization | bytes = None,
                requirement: Requirement | None = None, principal: Principal | None = None) -> AuthError:
        exc.realm = self.realm
        exc.resource_metadata = self._metadata_url  # RFC 9728 §5.1
        log.debug("s2s_guard refused: %s %s (%s)", exc.status_code, exc.reason, exc.detail)
        if log.isEnabledFor(logging.DEBUG):  # issue 14: expected vs actual values, for a person
            log_refusal(self, exc, authorization=authorization, requirement=requirement, principal=principal)
        return exc

    # -- the two drivers -----------------------------------------------------------------------

    async def authenticate(self, authorization: Authorization, requirement: Requirement | None = None,
                           *, query_tokens: Sequence[str] = (), dpop_proof: str | Sequence[str] | None = None,
                           method: str | None = None, url: str | None = None,
                           client_cert: str | bytes | None = None, path: str = "") -> Principal:
        """Validate the ``Authorization`` value(s); return the :class:`Principal` or raise :class:`AuthError`.

        ``dpop_proof`` (the ``DPoP`` header values), ``method`` and ``url`` check a DPoP proof
        (RFC 9449); ``client_cert`` (PEM or DER) a certificate-bound token (RFC 8705).
        ``path`` (the request path) only labels the decision in the audit log and telemetry.
        """
        try:
            if self.sender_constrained or requirement is not None and requirement.dpop is not None:
                return await self._asender(authorization, requirement, query_tokens,
                                           SenderRequest.of(dpop_proof, method, url, client_cert))
            plain = self._plain(authorization, query_tokens)
            now = self.clock()
            if self._shared is not None:
                await self._verified.arefresh(now)
            principal = self._verified.get(plain[2], now) if plain is not None and self._warm else None
            if principal is None:  # the warm path ends above: one hash, one lookup
                token, sha = self._token(authorization, query_tokens, plain)
                shared = await self._verified.aget(sha, now) if self._shared is not None else None
                principal = shared or await self._avalidate(token, sha, now)
                self._binding.refuse_unproven(principal)  # never cached, so the warm path never sees one
            return self._accept(principal, requirement)
        except AuthError as exc:
            raise self._reject(exc, authorization, requirement) from None

    def lookup(self, authorization: bytes, requirement: Requirement | None = None,
               path: str = "") -> Principal | None:
        """The warm path, for adapters: the principal of a plain ``Bearer <token>`` header value
        already in the verified-token cache (no I/O, no cryptography), revocation and the
        requirement checked; ``None`` means "call :meth:`authenticate`". ``path`` labels telemetry."""
        warm = self._warm
        if not warm or authorization[:7] != b"Bearer ":
            return None  # cache off or empty, or not a plain Bearer header: no hashing
        now = self.clock()
        if self._shared is not None and self._verified.refresh_due(now):
            return None  # the revoked set needs a read: the driver does that I/O
        entry = warm.get(_sha256(authorization[7:]).hexdigest())
        if entry is None or entry[0] <= now:
            return None
        principal: Principal = entry[1]
        if self.sender_constrained and not self._binding.warm_ok(principal):
            return None  # a bound token, or an issuer demanding proof: the full path checks it
        if self._verified.revoked or requirement is not None:
            if requirement is not None and requirement.dpop is not None:
                return None  # the route demands DPoP: the full path checks it
            try:
                return self._accept(principal, requirement)
            except AuthError as exc:
                raise self._reject(exc, authorization, requirement) from None
        return principal

    async def _avalidate(self, token: str, sha: str, now: float) -> Principal:
        pending = self._route(token, sha)
        if self._telemetry is not None:  # a verified-cache miss, routed: the decision names the issuer
            note_validation(pending.issuer if pending is not None else None)  # None: introspected
        if pending is None:
            result = await self._introspector.aintrospect(token, sha, now)  # type: ignore[union-attr]
            principal, expires = self._introspected(result, sha, now)
        else:
            keys = await self._sources[pending.issuer.issuer].akeys(pending.jws.header, now)
            principal = self._finish(pending, keys, now)
            expires = self._expires_at(principal, now) if self._verified.enabled else now
        # RFC 9449 §7.2, RFC 8705 §3: a token bound where no issuer mode checks it is never cached,
        # so no later plain Bearer request can be answered from the cache (routes' dpop may check it).
        if self._verified.enabled and not self._binding.unproven(principal):
            await self._verified.aput(principal, expires, now, introspected=pending is None)
        return principal

    def authenticate_sync(self, authorization: Authorization, requirement: Requirement | None = None,
                          *, query_tokens: Sequence[str] = (), dpop_proof: str | Sequence[str] | None = None,
                          method: str | None = None, url: str | None = None,
                          client_cert: str | bytes | None = None, path: str = "") -> Principal:
        """Blocking twin of :meth:`authenticate` for WSGI and scripts (no event loop)."""
        try:
            if self.sender_constrained or requirement is not None and requirement.dpop is not None:
                return self._sender_sync(authorization, requirement, query_tokens,
                                         SenderRequest.of(dpop_proof, method, url, client_cert))
            plain = self._plain(authorization, query_tokens)
            now = self.clock()
            self._verified.refresh_sync(now)
            principal = self._verified.get(plain[2], now) if plain is not None else None
            if principal is None:
                token, sha = self._token(authorization, query_tokens, plain)
                principal = self._verified.get_sync(sha, now) or self._validate_sync(token, sha, now)
                self._binding.refuse_unproven(principal)  # never cached, so the warm path never sees one
            return self._accept(principal, requirement)
        except AuthError as exc:
            raise self._reject(exc, authorization, requirement) from None

    def _validate_sync(self, token: str, sha: str, now: float) -> Principal:
        pending = self._route(token, sha)
        if self._telemetry is not None:
            note_validation(pending.issuer if pending is not None else None)  # None: introspected
        if pending is None:
            result = self._introspector.introspect(token, sha, now)  # type: ignore[union-attr]
            principal, expires = self._introspected(result, sha, now)
        else:
            keys = self._sources[pending.issuer.issuer].keys_sync(pending.jws.header, now)
            principal = self._finish(pending, keys, now)
            expires = self._expires_at(principal, now)
        if not self._binding.unproven(principal):  # as in _avalidate: never cached
            self._verified.put_sync(principal, expires, now, introspected=pending is None)
        return principal

    # -- sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS): the full path, both drivers ------

    async def _asender(self, authorization: Authorization, requirement: Requirement | None,
                       query_tokens: Sequence[str], sender: SenderRequest) -> Principal:
        headers = _headers(authorization)
        now, principal = self.clock(), None
        try:
            presented = self._binding.present(headers, query_tokens, requirement, sender, now)
            if self._shared is not None:
                await self._verified.arefresh(now)
            principal = (self._verified.get(presented.sha, now) or await self._verified.aget(presented.sha, now)
                         or await self._avalidate(presented.token, presented.sha, now))
            self._binding.bind(principal, presented, requirement, sender)
            await self._binding.arecord(presented, now)  # RFC 9449 §11.1: last, so only used proofs count
            return self._accept(principal, requirement)
        except AuthError as exc:
            raise self._binding.challenge(exc, dpop_request=uses_dpop(headers), principal=principal,
                                          requirement=requirement, now=now) from None

    def _sender_sync(self, authorization: Authorization, requirement: Requirement | None,
                     query_tokens: Sequence[str], sender: SenderRequest) -> Principal:
        headers = _headers(authorization)
        now, principal = self.clock(), None
        try:
            presented = self._binding.present(headers, query_tokens, requirement, sender, now)
            self._verified.refresh_sync(now)
            principal = (self._verified.get(presented.sha, now) or self._verified.get_sync(presented.sha, now)
                         or self._validate_sync(presented.token, presented.sha, now))
            self._binding.bind(principal, presented, requirement, sender)
            self._binding.record_sync(presented, now)
            return self._accept(principal, requirement)
        except AuthError as exc:
            raise self._binding.challenge(exc, dpop_request=uses_dpop(headers), principal=principal,
                                          requirement=requirement, now=now) from None

    # -- routing, introspection and the verified-token cache ------------------------------------

    @staticmethod
    def _plain(authorization: Authorization, query_tokens: Sequence[str]) -> tuple[str, bytes, str] | None:
        """A lone ``Bearer x`` header: (x, its ASCII bytes, SHA-256 hex), not yet checked.

        A verified-cache hit on that hash is safe unchecked: only tokens that passed
        :func:`extract_bearer` are ever stored, so a hit means ``x`` is such a token.
        """
        header = authorization if isinstance(authorization, str) else (
            authorization[0] if authorization is not None and len(authorization) == 1 else None)
        if header is None or query_tokens or header[:7] != "Bearer ":
            return None
        token = header[7:]
        raw = token.encode("ascii", "replace")  # non-ASCII becomes "?", never in a token
        return token, raw, _sha256(raw).hexdigest()

    def _token(self, authorization: Authorization, query_tokens: Sequence[str],
               plain: tuple[str, bytes, str] | None) -> tuple[str, str]:
        """The Bearer token (RFC 6750 §2.1) and its SHA-256 hex; a plain b64token keeps its hash."""
        if plain is not None and plain[1] and not plain[1].translate(None, _BEARER_ALPHABET):
            return plain[0], plain[2]  # exactly what extract_bearer returns for this input
        headers = _headers(authorization)
        token = extract_bearer(headers, query_tokens, allow_query=self.config.allow_query_token)
        return token, token_sha256(token)

    def _route(self, token: str, sha: str) -> _Pending | None:
        """A JWT from a configured issuer is validated locally (``_Pending``); any other token,
        or one whose issuer says ``validation = "introspect"``, is introspected (``None``)."""
        try:
            pending = self._route_jws(parse_compact(token, self.config.max_token_bytes), sha)
        except InvalidToken as exc:
            if self._introspector is None or isinstance(exc, TokenTooLarge) or not self._introspectable(token):
                exc.detail = f"{exc.detail} (token sha256 {sha[:16]})"
                raise
            return None
        if self._introspector is not None and pending.issuer.validation == "introspect":
            return None
        return pending

    def _introspectable(self, token: str) -> bool:
        """Whether a token refused by local validation is one for the introspection endpoint."""
        try:
            payload = parse_compact(token, self.config.max_token_bytes).payload
        except AuthError:
            return True  # not a JWT: an opaque token
        iss = payload.get("iss")
        if not isinstance(iss, str):
            return True  # a JWT-shaped token naming no issuer: only the server can tell
        # A JWT from an unknown issuer keeps its local error: it is not sent to a third party.
        issuer = self._issuers.get(iss) or self._template_issuer(iss, payload)
        return issuer is not None and issuer.validation == "introspect"

    def _introspected(self, result: IntrospectionResult, sha: str, now: float) -> tuple[Principal, float]:
        """RFC 7662 §2.2: an active result through the issuer's claim checks and profile."""
        introspection = self.config.introspection
        if result.error or introspection is None:
            raise ServiceUnavailable(f"introspection failed: {result.error}", retry_after=retry_after(
                self._introspector.outage if self._introspector is not None else 5))
        if not result.active:
            raise InvalidToken("introspection: token is not active")
        principal = self._introspected_principal(result.claims, sha, now)
        if self._delegation is not None:
            self._delegation.check(principal)
        return principal, result.expires_at(now, cache_ttl=introspection.cache_ttl,
                                            negative_ttl=introspection.negative_ttl)

    def _introspected_principal(self, claims: Mapping[str, Any], sha: str, now: float) -> Principal:
        """RFC 7662 §2.2: an active answer's claims through the introspection issuer's checks and
        profile (a fresh answer, or one another worker stored in the shared cache)."""
        if self.config.introspection is None:
            raise UnknownIssuer("introspection is not configured here")
        issuer = self._issuers[str(self.config.introspection.issuer)]
        iss = self._introspected_iss(claims, issuer)
        audiences = issuer.audience if issuer.audience is not None else self._audiences
        return introspected_principal(
            claims, profile=self._profile(issuer), audiences=audiences, issuer=iss,
            issuer_name=issuer.name, token_sha256=sha, leeway=self.config.leeway, now=now,
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
        if not isinstance(iss, str) or not self._profile(issuer).issuer_matches(iss, claims):
            raise UnknownIssuer("introspected iss is not the introspection issuer")
        if isinstance(issuer.tenants, tuple) and tid not in issuer.tenants:
            raise UnknownIssuer("introspected tid is not an allowed tenant")
        return iss

    def _profile(self, issuer: IssuerConfig) -> Profile:
        profile = self._profile_cache.get(issuer.issuer)
        if profile is None:
            profile = self._profile_cache[issuer.issuer] = profile_for(issuer)
        return profile

    def _expires_at(self, principal: Principal, now: float) -> float:
        """A verified JWT is cached until ``exp`` plus leeway (what a fresh check would allow)."""
        exp = principal.claims.get("exp")
        return float(exp) + self.config.leeway if type(exp) in (int, float) else now  # type: ignore[arg-type]

    def _accept(self, principal: Principal, requirement: Requirement | None) -> Principal:
        """Checks made on every request, cached or not: the revoked set, then the requirement."""
        if self._telemetry is not None:
            note_principal(principal)  # a refusal below is reported with its app, user and policy
        if self._verified.revoked and self._verified.is_revoked(principal):
            raise InvalidToken("token revoked")
        if requirement is not None:
            self._check(requirement, principal)
        return principal

    def _rebuild(self, record: Mapping[str, Any], sha: str, now: float) -> Principal | None:
        """A principal from a shared-cache record another worker wrote, re-checked against this
        guard's configuration; ``None`` (a miss: validate afresh) when this guard would refuse it."""
        claims, iss = record["claims"], record["issuer"]
        if not isinstance(claims, dict) or not isinstance(iss, str):
            return None
        try:
            if record.get("introspected") is True:
                principal = self._introspected_principal(claims, sha, now)
            else:
                principal = self._recheck_jwt(claims, iss, sha, now)
            if self._delegation is not None:
                self._delegation.check(principal)  # RFC 8693: this guard's rules, not the writer's
        except AuthError as exc:
            log.info("ignoring a shared verified-token record this configuration refuses: %s", exc.detail)
            return None
        if isinstance(record.get("twin"), str) and record["twin"]:
            _twin(principal, record["twin"])
        if isinstance(record.get("actor"), str) and record["actor"]:
            object.__setattr__(principal, "actor_token_sha256", record["actor"])
        if self._binding.unproven(principal):
            return None  # a record this configuration would never write (RFC 9449 §7.2): validate again
        return principal

    def _recheck_jwt(self, claims: Mapping[str, Any], iss: str, sha: str, now: float) -> Principal:
        """A JWT's claim checks, as :meth:`_finish` runs them, minus the signature (already verified)."""
        actor = claims.get("actortoken")  # SharePoint user+app: the signed actor inside the outer claims
        signed, outer = (actor, {k: v for k, v in claims.items() if k != "actortoken"}) \
            if isinstance(actor, Mapping) else (claims, None)
        issuer = self._issuers.get(iss) or self._template_issuer(iss, signed)
        if issuer is None:  # RFC 8725 §3.8: an issuer this configuration trusts (Entra templates filled)
            raise UnknownIssuer("iss is not a configured issuer")
        if self._introspector is not None and issuer.validation == "introspect":
            raise UnknownIssuer("this issuer's tokens are introspected here")
        profile = self._profile(issuer)
        if outer is not None and not profile.unsigned_outer:
            raise DisallowedAlgorithm("alg none is accepted only around a high-trust actor token")
        audiences = issuer.audience if issuer.audience is not None else self._audiences
        checked = profile.validate(signed, outer=outer, issuer=iss, audiences=audiences,
                                   leeway=self.config.leeway, now=now)
        return profile.principal(checked, issuer=iss, issuer_name=issuer.name, token_sha256=sha)

    def _make_introspector(self) -> Introspector | None:
        config = self.config.introspection
        if config is None:
            return None
        issuer = self._issuers[str(config.issuer)]
        source = self._sources[issuer.issuer]
        discovery = getattr(source, "discovery", None) or discovery_for(issuer)
        return Introspector(config, issuer, source, discovery=discovery, shared=self._shared,
                            maxsize=self.config.cache.maxsize, leeway=self.config.leeway,
                            namespace=self._namespace)

    # -- revocation and shutdown ---------------------------------------------------------------

    def revoke(self, value: str | None = None, *, token: str | None = None, jti: str | None = None) -> None:
        """Refuse a token from now on (every worker, with Redis); give exactly one of:

        - ``token=``: the token itself; its SHA-256 is stored, never the token.
        - ``jti=``: a ``jti`` (RFC 7519 §4.1.7), stored as given; every token carrying it is refused.
        - ``value``: 64 hex digits are a token's SHA-256 (``principal.token_sha256``); a compact
          JWT is a token (hashed as with ``token=``); anything else is a ``jti``, except when
          the guard introspects opaque tokens: then it is refused with ``ValueError`` (an opaque
          token and a ``jti`` look alike), and ``token=`` or ``jti=`` says which it is.

        SharePoint high-trust user+app: the unsigned outer token can be rebuilt around its signed
        actor token for any user, so revoking it (by ``token=``, or by its SHA-256 while this
        guard or the shared cache still holds its verified principal) also revokes the actor
        token's SHA-256, ``principal.actor_token_sha256``, which can be revoked directly too.
        """
        entries = self._revocation(value, token, jti)
        now = self.clock()
        principals = (self._verified.get(sha, now) or self._verified.get_sync(sha, now) for sha in entries
                      if is_token_sha256(sha))
        self._verified.revoke_sync(*entries, *_actor_hashes(principals))

    async def arevoke(self, value: str | None = None, *, token: str | None = None, jti: str | None = None) -> None:
        """Async twin of :meth:`revoke`."""
        entries = self._revocation(value, token, jti)
        now = self.clock()
        principals = [self._verified.get(sha, now) or await self._verified.aget(sha, now) for sha in entries
                      if is_token_sha256(sha)]
        await self._verified.arevoke(*entries, *_actor_hashes(principals))

    def _revocation(self, value: str | None, token: str | None, jti: str | None) -> tuple[str, ...]:
        """What a revocation stores: jti values and token hashes, never a token (see :meth:`revoke`)."""
        return revocation_entries(value, token=token, jti=jti, opaque_tokens=self._introspector is not None)

    def close(self) -> None:
        """Close pooled HTTP and Redis clients (blocking ones; see :meth:`aclose`)."""
        for closeable in (*self._sources.values(), self._introspector, self._shared):
            close = getattr(closeable, "close", None)
            if close is not None:
                close()

    async def aclose(self) -> None:
        """Close every client, including this event loop's asyncio HTTP and Redis clients."""
        self.close()
        for closeable in (*self._sources.values(), self._introspector):
            aclose = getattr(closeable, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._shared is not None:
            await self._shared.aclose()

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check a requirement against an already authenticated principal (403 on failure)."""
        try:
            if requirement.dpop is not None:
                self._binding.authorize_route(principal, requirement.dpop)  # RFC 9449: 401 when unproven
            self._check(requirement, principal)
        except AuthError as exc:
            if self.sender_constrained or requirement.dpop is not None:
                self._binding.challenge(exc, dpop_request=self._binding.proven(principal),
                                        principal=principal, requirement=requirement, now=self.clock())
            raise self._reject(exc, requirement=requirement, principal=principal) from None

    def challenge(self, error: AuthError, requirement: Requirement | None = None) -> AuthError:
        """Complete a refusal an adapter makes itself (no credentials, say) as the guard's own:
        realm, ``resource_metadata`` (RFC 9728 §5.1) and the DPoP challenge (RFC 9449 §7.1)."""
        if self.sender_constrained or requirement is not None and requirement.dpop is not None:
            self._binding.challenge(error, dpop_request=False, principal=None, requirement=requirement,
                                    now=self.clock())
        return self._reject(error)

    def is_public(self, path: str) -> bool:
        """Whether ``path`` is exempt from authentication (exact match or ``prefix/*``)."""
        for public in self.config.public_paths:
            if path == public or (public.endswith("/*") and path.startswith(public[:-1])):
                return True
        return False

    def ready(self) -> Readiness:
        """Blocking: fetch every issuer's keys (and discovery, introspection metadata); report what is missing.

        Cached, fresh keys cost no I/O, so a readiness probe can call this on every request.
        """
        return check_keys(self._sources, self._introspector, self.config, self.clock())

    async def aready(self) -> Readiness:
        """Async twin of :meth:`ready`."""
        return await acheck_keys(self._sources, self._introspector, self.config, self.clock())
