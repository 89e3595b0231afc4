"""The pipeline: bearer → decode → verify → claims → principal → policy, sync and async.

:meth:`Guard.authenticate` and :meth:`Guard.authenticate_sync` share every step but one:
fetching keys, the only I/O, done by the issuer's key source.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import GuardConfig, IssuerConfig, load_config
from .core.bearer import extract_bearer
from .core.claims import check_claims
from .core.jws import CompactJWS, parse_compact
from .core.jwt import check_header, issuer_of, verify_jws
from .core.keys import KeySet
from .core.profiles import PROFILES
from .errors import AuthError, UnknownIssuer
from .policy import Requirement
from .principal import Principal
from .sources.jwks import KeySource, key_source_for

__all__ = ["Guard"]

log = logging.getLogger("s2s_guard")

Authorization = str | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class _Pending:
    """A decoded, routed token waiting for its issuer's keys."""

    jws: CompactJWS
    issuer: IssuerConfig
    alg: str
    sha256: str


def token_sha256(token: str) -> str:
    """The SHA-256 hex digest that stands for a token in logs and caches."""
    return hashlib.sha256(token.encode()).hexdigest()


class Guard:
    """Validates Bearer tokens and checks requirements; build it with :meth:`from_config`."""

    def __init__(self, config: GuardConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.realm = config.realm or config.audience[0]
        self._issuers = config.issuer_by_iss()
        self._audiences = frozenset(config.audience)
        self._sources: dict[str, KeySource] = {
            issuer.issuer: key_source_for(issuer, f"issuers[{i}].")
            for i, issuer in enumerate(config.issuers)}

    @classmethod
    def from_config(cls, source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig,
                    **kwargs: Any) -> Guard:
        """Build a guard from a mapping, a TOML/JSON path or a :class:`GuardConfig`."""
        return cls(load_config(source), **kwargs)

    # -- the sans-I/O steps ------------------------------------------------------------------

    def _prepare(self, authorization: Authorization, query_tokens: Sequence[str]) -> _Pending:
        headers = [authorization] if isinstance(authorization, str) else list(authorization or ())
        token = extract_bearer(headers, query_tokens, allow_query=self.config.allow_query_token)
        sha = token_sha256(token)
        try:
            jws = parse_compact(token, self.config.max_token_bytes)
            issuer = self._issuers.get(issuer_of(jws))
            if issuer is None:
                raise UnknownIssuer("iss is not a configured issuer")
            alg = check_header(jws.header, issuer.algorithms, issuer.typ)
        except AuthError as exc:
            exc.detail = f"{exc.detail} (token sha256 {sha[:16]})"
            raise
        return _Pending(jws, issuer, alg, sha)

    def _finish(self, pending: _Pending, keys: KeySet, requirement: Requirement | None,
                now: float) -> Principal:
        issuer = pending.issuer
        verify_jws(pending.jws, pending.alg, keys)
        audiences = issuer.audience if issuer.audience is not None else self._audiences
        check_claims(pending.jws.payload, issuer=issuer.issuer, audiences=audiences,
                     leeway=self.config.leeway, now=now)
        principal = PROFILES[issuer.profile].principal(
            pending.jws.payload, issuer=issuer.issuer, issuer_name=issuer.name,
            token_sha256=pending.sha256)
        if requirement is not None:
            requirement.check(principal)
        return principal

    def _reject(self, exc: AuthError) -> AuthError:
        exc.realm = self.realm
        log.info("s2s_guard refused: %s %s (%s)", exc.status_code, exc.reason, exc.detail)
        return exc

    # -- the two drivers -----------------------------------------------------------------------

    async def authenticate(self, authorization: Authorization, requirement: Requirement | None = None,
                           *, query_tokens: Sequence[str] = ()) -> Principal:
        """Validate the ``Authorization`` value(s); return the :class:`Principal` or raise :class:`AuthError`."""
        try:
            pending = self._prepare(authorization, query_tokens)
            now = self.clock()
            keys = await self._sources[pending.issuer.issuer].akeys(pending.jws.header, now)
            return self._finish(pending, keys, requirement, now)
        except AuthError as exc:
            raise self._reject(exc) from None

    def authenticate_sync(self, authorization: Authorization, requirement: Requirement | None = None,
                          *, query_tokens: Sequence[str] = ()) -> Principal:
        """Blocking twin of :meth:`authenticate` for WSGI and scripts (no event loop)."""
        try:
            pending = self._prepare(authorization, query_tokens)
            now = self.clock()
            keys = self._sources[pending.issuer.issuer].keys_sync(pending.jws.header, now)
            return self._finish(pending, keys, requirement, now)
        except AuthError as exc:
            raise self._reject(exc) from None

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check a requirement against an already authenticated principal (403 on failure)."""
        try:
            requirement.check(principal)
        except AuthError as exc:
            raise self._reject(exc) from None

    def is_public(self, path: str) -> bool:
        """Whether ``path`` is exempt from authentication (exact match or ``prefix/*``)."""
        for public in self.config.public_paths:
            if path == public or (public.endswith("/*") and path.startswith(public[:-1])):
                return True
        return False
