"""The guard: builds the parts of one configuration and runs the decision pipeline, sync or async.

Start here. :class:`Guard` holds the key sources, caches, sender constraints and telemetry
of one :class:`~s2s_guard.config.GuardConfig`, and answers the questions adapters ask:
:meth:`~Guard.authenticate` / :meth:`~Guard.authenticate_sync` (a request's token, then its
requirement), :meth:`~Guard.lookup` (the warm path), :meth:`~Guard.authorize` (a route's
requirement later), :meth:`~Guard.challenge`, :meth:`~Guard.is_public`, revocation and shutdown.
The steps themselves are written once, in :mod:`s2s_guard.pipeline`: each public method here
either answers directly (a verified-cache hit needing no I/O) or drives that pipeline's flow
with :func:`~s2s_guard.pipeline.drive.run` (blocking) or :func:`~s2s_guard.pipeline.drive.arun`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .binding import SenderConstraints
from .config import GuardConfig, load_config
from .errors import AuthError
from .grants import ConfigGrantStore, GrantStore, UserPermissions
from .pipeline import Checks, Observation, Pipeline, Router, arun, run
from .pipeline.routing import Authorization
from .policy import Requirement
from .principal import Principal
from .readiness import Readiness, acheck_keys, check_keys
from .resource_metadata import ResourceMetadata
from .sources.cache import shared_cache_for
from .sources.introspection import Introspector
from .sources.issuer_uri import issuer_config
from .sources.jwks import RemoteJWKS, discovery_for, key_source_for
from .sources.signed import namespace_for
from .sources.verified import VerifiedTokens
from .summary import log_startup
from .telemetry import Telemetry, observer_for, telemetry_for

__all__ = ["Guard"]

_sha256 = hashlib.sha256  # the warm path's one hash, without a module attribute lookup


class Guard(Pipeline):
    """Validates Bearer tokens and checks requirements; build it with :meth:`from_config`."""

    def __init__(self, config: GuardConfig, *, clock: Callable[[], float] = time.time,
                 user_permissions: UserPermissions | None = None,
                 grant_store: GrantStore | None = None, telemetry: Telemetry | None = None) -> None:
        self.config = config
        self.clock = clock
        #: App rights for ``Requirement(right=...)``: ``[[grants]]`` unless the application brings a store.
        self.grants = grant_store if grant_store is not None else ConfigGrantStore(config.grants)
        #: ``user_permissions(user, resource) -> right or None``; without it no user holds a right.
        self.user_permissions = user_permissions
        self.realm = config.realm or config.audience[0]
        self._router = Router(config)
        self._sources = {issuer.issuer: key_source_for(issuer, f"issuers[{i}].")
                         for i, issuer in enumerate(config.issuers)}
        self._shared = shared_cache_for(config.cache)
        for source in self._sources.values():
            if isinstance(source, RemoteJWKS):
                source.shared = self._shared  # workers exchange fetched JWK Sets
        #: RFC 9449 DPoP / RFC 8705 mTLS; while an issuer binds tokens, every request takes the full path.
        self._binding = SenderConstraints(config, self._shared)
        #: Whether an issuer binds tokens (adapters then pass method, URL, proofs and certificate).
        self.sender_constrained = self._binding.active
        self._checks = Checks(config, self._router, self._binding)
        self._finish = self._checks.jwt
        #: Shared verified/introspection records live under a digest of the validation configuration.
        namespace = namespace_for(config) if self._shared is not None else ""
        self._verified = VerifiedTokens(config.cache, self._shared, self._checks.rebuild, namespace=namespace)
        self._warm = self._verified.memory.entries if config.cache.verified else {}
        self._introspector = self._make_introspector(namespace)
        #: RFC 9728: the document every adapter serves at its path (``None``: not configured).
        self.resource_metadata = None if config.resource_metadata is None else ResourceMetadata(
            config.resource_metadata, now=clock())
        self._metadata_url = None if self.resource_metadata is None else self.resource_metadata.url
        #: ``[telemetry]`` plus the application's own, told of every decision (no telemetry: nobody is).
        self._observer = observer_for(telemetry_for(config.telemetry, telemetry), config,
                                      self._sources, self._introspector)
        log_startup(config)  # what this guard trusts, once, at INFO

    @classmethod
    def from_config(cls, source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig,
                    **kwargs: Any) -> Guard:
        """Build a guard from a mapping, a TOML/JSON path or a :class:`GuardConfig`."""
        return cls(load_config(source), **kwargs)

    @classmethod
    def from_issuer(cls, issuer_uri: str, *, audience: str | Sequence[str], profile: str | None = None,
                    client_ids: Sequence[str] | None = None, algorithms: Sequence[str] | None = None,
                    issuer_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Guard:
        """Trust one identity provider by its issuer URL (Spring's ``issuer-uri``): its discovery
        document, read now, picks the profile unless ``profile`` is given (Cognito needs
        ``client_ids``); see :func:`s2s_guard.sources.issuer_uri.issuer_config`."""
        return cls.from_config(issuer_config(issuer_uri, audience=audience, profile=profile, client_ids=client_ids,
                                             algorithms=algorithms, issuer_options=issuer_options), **kwargs)

    def _make_introspector(self, namespace: str) -> Introspector | None:
        config = self.config.introspection
        if config is None:
            return None
        issuer = self._router.issuers[str(config.issuer)]
        source = self._sources[issuer.issuer]
        discovery = getattr(source, "discovery", None) or discovery_for(issuer)
        return Introspector(config, issuer, source, discovery=discovery, shared=self._shared,
                            maxsize=self.config.cache.maxsize, leeway=self.config.leeway, namespace=namespace)

    # -- authentication: a direct cache hit, else the pipeline driven sync or async ----------------

    async def authenticate(self, authorization: Authorization, requirement: Requirement | None = None,
                           *, query_tokens: Sequence[str] = (), dpop_proof: str | Sequence[str] | None = None,
                           method: str | None = None, url: str | None = None,
                           client_cert: str | bytes | None = None, path: str = "") -> Principal:
        """Validate the ``Authorization`` value(s); return the :class:`Principal` or raise :class:`AuthError`.

        ``dpop_proof`` (the ``DPoP`` header values), ``method`` and ``url`` check a DPoP proof
        (RFC 9449); ``client_cert`` (PEM or DER) a certificate-bound token (RFC 8705).
        ``path`` (the request path) only labels the decision in the audit log and telemetry.
        """
        watch, now = self._observer.start(path, authorization, query_tokens), self.clock()
        hit = self._hit(authorization, requirement, query_tokens, now) if self._warm and watch is None else None
        return hit if hit is not None else await arun(self._decide(
            authorization, requirement, query_tokens, (dpop_proof, method, url, client_cert), now, watch))

    def authenticate_sync(self, authorization: Authorization, requirement: Requirement | None = None,
                          *, query_tokens: Sequence[str] = (), dpop_proof: str | Sequence[str] | None = None,
                          method: str | None = None, url: str | None = None,
                          client_cert: str | bytes | None = None, path: str = "") -> Principal:
        """Blocking twin of :meth:`authenticate` for WSGI and scripts (no event loop)."""
        watch, now = self._observer.start(path, authorization, query_tokens), self.clock()
        hit = self._hit(authorization, requirement, query_tokens, now) if self._warm and watch is None else None
        return hit if hit is not None else run(self._decide(
            authorization, requirement, query_tokens, (dpop_proof, method, url, client_cert), now, watch))

    def lookup(self, authorization: bytes, requirement: Requirement | None = None,
               path: str = "") -> Principal | None:
        """The warm path, for adapters: the principal of a plain ``Bearer <token>`` header value
        already in the verified-token cache (no I/O, no cryptography), revocation and the
        requirement checked; ``None`` means "call :meth:`authenticate`". ``path`` labels telemetry."""
        watch = self._observer.start(path, authorization)
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
                self._accept(principal, requirement, watch)
            except AuthError as exc:
                raise self._refused(self._reject(exc, authorization, requirement, principal), watch) from None
        if watch is not None:
            with watch.span() as span:  # a decision only when the cache answered
                watch.accepted(principal, span)
        return principal

    @staticmethod
    def _refused(exc: AuthError, watch: Observation | None) -> AuthError:
        """Report a warm-path refusal (its span backdated to the call's start)."""
        if watch is not None:
            with watch.span() as span:
                watch.refused(exc, span)
        return exc

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check a requirement against an already authenticated principal (403 on failure)."""
        watch = self._observer.start("")
        try:
            if requirement.dpop is not None:
                self._binding.authorize_route(principal, requirement.dpop)  # RFC 9449: 401 when unproven
            self._check(requirement, principal)
        except AuthError as exc:
            if self.sender_constrained or requirement.dpop is not None:
                self._binding.challenge(exc, dpop_request=self._binding.proven(principal),
                                        principal=principal, requirement=requirement, now=self.clock())
            refusal = self._reject(exc, requirement=requirement, principal=principal)
            if watch is not None:  # a refusal is a decision; a grant is not (the request was counted)
                watch.checking(principal)
                watch.refused(refusal, stage="authorize")
            raise refusal from None

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

    # -- revocation and shutdown ---------------------------------------------------------------

    def revoke(self, value: str | None = None, *, token: str | None = None, jti: str | None = None,
               sha256: str | None = None) -> None:
        """Refuse a token from now on (every worker, with Redis), named by exactly one of ``token=``
        (its SHA-256 is stored, never the token), ``jti=``, ``sha256=`` (64 hex digits) or a
        positional value, read as :func:`~s2s_guard.core.revocation.revocation_entries` says.
        A SharePoint outer token's actor token (``principal.actor_token_sha256``) is revoked with it:
        anyone holding the actor token could wrap it again for any user."""
        run(self._revoke(value, token, jti, sha256))

    async def arevoke(self, value: str | None = None, *, token: str | None = None, jti: str | None = None,
                      sha256: str | None = None) -> None:
        """Async twin of :meth:`revoke`."""
        await arun(self._revoke(value, token, jti, sha256))

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

    def ready(self) -> Readiness:
        """Blocking: fetch every issuer's keys and metadata, report what is missing (fresh keys: no I/O)."""
        return check_keys(self._sources, self._introspector, self.config, self.clock())

    async def aready(self) -> Readiness:
        """Async twin of :meth:`ready`."""
        return await acheck_keys(self._sources, self._introspector, self.config, self.clock())
