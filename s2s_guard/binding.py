"""Sender-constrained access tokens for the guard: RFC 9449 DPoP and RFC 8705 certificate binding.

The proof and thumbprint checks are sans-I/O (:mod:`.core.dpop`, :mod:`.core.mtls`). This
module adds what depends on configuration and state: each issuer's ``dpop`` and ``mtls`` mode
and a route's ``Requirement(dpop=...)`` ("off" < "allowed" < "required"; a route can only
tighten), the ``jti`` replay cache (memory, or shared through Redis), server nonces, and the
DPoP challenge on refusals (RFC 9449 §7.1).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import GuardConfig
from .core.bearer import extract_bearer
from .core.dpop import DPoPProof, check_proof, dpop_token, issue_nonce, nonce_issued_at
from .core.mtls import certificate_thumbprint
from .errors import (AuthError, BindingMismatch, DPoPRequired, InvalidDPoPProof, InvalidRequest,
                     MissingToken, UseDPoPNonce)
from .policy import Requirement
from .principal import Principal
from .sources.cache import SharedCache
from .sources.replay import ReplayCache

__all__ = ["Presented", "SenderConstraints", "SenderRequest"]

_RANK = {"off": 0, "allowed": 1, "required": 2}
_NONCE_SKEW = 5.0  # seconds a nonce may seem to come from the future (another worker's clock)


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderRequest:
    """What the checks need from the HTTP request; adapters fill it (see :mod:`s2s_guard.sender`)."""

    method: str | None = None
    url: str | None = None
    dpop_proofs: tuple[str, ...] = ()
    client_cert: str | bytes | None = None

    @classmethod
    def of(cls, dpop_proof: str | Sequence[str] | None, method: str | None, url: str | None,
           client_cert: str | bytes | None) -> SenderRequest:
        """From :meth:`Guard.authenticate`'s keyword arguments (one proof, or every ``DPoP`` value)."""
        proofs = (dpop_proof,) if isinstance(dpop_proof, str) else tuple(dpop_proof or ())
        return cls(method=method, url=url, dpop_proofs=proofs, client_cert=client_cert)


@dataclass(frozen=True, slots=True)
class Presented:
    """The access token a request presents, its SHA-256 hex, and its checked DPoP proof (or none: Bearer)."""

    token: str = field(repr=False)  # never a raw token in a repr or a log
    sha: str
    proof: DPoPProof | None = None


def _stricter(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def route_mode(requirement: Requirement | None) -> str:
    """The route's ``dpop`` demand ("off" when it sets none)."""
    mode = None if requirement is None else requirement.dpop
    return mode or "off"


def uses_dpop(headers: Sequence[str]) -> bool:
    """Whether the request's one ``Authorization`` value uses the DPoP scheme."""
    return len(headers) == 1 and headers[0].strip(" \t")[:5].lower() == "dpop "


def _cnf(principal: Principal) -> Mapping[str, Any]:
    cnf = principal.claims.get("cnf")
    return cnf if isinstance(cnf, Mapping) else {}


class SenderConstraints:
    """The guard's DPoP and certificate-binding state: modes, replay cache, nonce secret."""

    def __init__(self, config: GuardConfig, shared: SharedCache | None) -> None:
        self.dpop = config.dpop
        self.allow_query = config.allow_query_token
        self._modes = {issuer.name: (issuer.dpop, issuer.mtls) for issuer in config.issuers}
        #: Whether any issuer binds tokens: only then does every request take the full path.
        self.active = any(mode != ("off", "off") for mode in self._modes.values())
        dpop_modes = {dpop for dpop, _ in self._modes.values()}
        #: What a request whose issuer is not known yet is offered in challenges.
        self.offered = "required" if dpop_modes == {"required"} else (
            "allowed" if dpop_modes - {"off"} else "off")
        self.algs = " ".join(config.dpop.algorithms)
        self.replay = ReplayCache(config.dpop.replay_cache_size, shared)
        self._bound_as_bearer = frozenset(i.name for i in config.issuers if i.accept_bound_as_bearer)
        self._secret = config.dpop.nonce_secret or secrets.token_bytes(32)

    def modes(self, principal: Principal) -> tuple[str, str]:
        """The ``(dpop, mtls)`` modes of the principal's issuer."""
        return self._modes.get(principal.issuer_name, ("off", "off"))

    # -- before the token is validated ---------------------------------------------------------
    def present(self, headers: list[str], query_tokens: Sequence[str], requirement: Requirement | None,
                sender: SenderRequest, now: float) -> Presented:
        """The token and how it is presented; a DPoP proof is checked here (RFC 9449 §4.3)."""
        token = dpop_token(headers)
        route = route_mode(requirement)
        proof = None
        if token is None:
            if route == "required":
                raise DPoPRequired("the route requires DPoP")
            token = extract_bearer(headers, query_tokens, allow_query=self.allow_query)
        elif query_tokens:
            raise InvalidRequest("more than one access token in the request")  # RFC 6750 §2
        elif _stricter(self.offered, route) == "off":
            raise MissingToken("the DPoP scheme is not accepted")
        else:
            proof = self._proof(token, sender, now)
        return Presented(token, hashlib.sha256(token.encode()).hexdigest(), proof)

    def _proof(self, token: str, sender: SenderRequest, now: float) -> DPoPProof:
        if len(sender.dpop_proofs) != 1:
            raise InvalidDPoPProof(f"{len(sender.dpop_proofs)} DPoP headers, expected one")  # §4.3 step 1
        if sender.method is None or sender.url is None:
            raise InvalidDPoPProof("no request method and URL to check the proof against")
        proof = check_proof(sender.dpop_proofs[0], method=sender.method, url=sender.url, access_token=token,
                            algorithms=self.dpop.algorithms, now=now, iat_window=self.dpop.iat_window)
        if self.dpop.nonce:
            self._check_nonce(proof.nonce, now)
        return proof

    def _check_nonce(self, nonce: str | None, now: float) -> None:
        """RFC 9449 §9: a nonce this server (or a worker sharing the secret) issued, still fresh."""
        issued = None if nonce is None else nonce_issued_at(nonce, self._secret)
        if issued is None or now - issued > self.dpop.nonce_lifetime or issued - now > _NONCE_SKEW:
            raise UseDPoPNonce("the proof has no current server nonce")

    # -- after the token is validated ------------------------------------------------------------
    def unproven(self, principal: Principal, route: str = "off") -> bool:
        """Whether the token is bound (``cnf``) to a key or certificate that no check here proves:
        its issuer's ``dpop``/``mtls`` (or the route's ``dpop``) is "off" for that ``cnf`` member."""
        cnf = principal.claims.get("cnf")
        if cnf is None or principal.issuer_name in self._bound_as_bearer:
            return False
        if not isinstance(cnf, Mapping):
            return True  # RFC 7800 §3.1: cnf is a JSON object; a malformed one is not ignored
        dpop, mtls = self.modes(principal)
        return ("jkt" in cnf and _stricter(dpop, route) == "off") or ("x5t#S256" in cnf and mtls == "off")

    def refuse_unproven(self, principal: Principal, route: str = "off") -> None:
        """RFC 9449 §7.2, RFC 8705 §3: a bound token is never accepted as a plain Bearer token."""
        if self.unproven(principal, route):
            raise BindingMismatch("a bound token (cnf) whose key or certificate is not checked here")

    def bind(self, principal: Principal, presented: Presented, requirement: Requirement | None,
             sender: SenderRequest) -> None:
        """The token's ``cnf`` against what the request proves (RFC 9449 §7.1, RFC 8705 §3)."""
        dpop, mtls = self.modes(principal)
        cnf = _cnf(principal)
        _bind_key(_stricter(dpop, route_mode(requirement)), cnf.get("jkt"), presented.proof)
        if mtls != "off":
            _bind_certificate(mtls, cnf.get("x5t#S256"), sender.client_cert)
        self.refuse_unproven(principal, route_mode(requirement))

    def _replay_entry(self, presented: Presented) -> tuple[str, float] | None:
        proof = presented.proof
        if proof is None:
            return None
        # RFC 9449 §11.1: remembered while its iat could still pass the window check.
        return ReplayCache.key(proof.jkt, proof.jti), proof.iat + self.dpop.iat_window + 1

    def record_sync(self, presented: Presented, now: float) -> None:
        """Refuse a proof whose ``jti`` was already used, then remember it (RFC 9449 §11.1)."""
        entry = self._replay_entry(presented)
        if entry is not None and not self.replay.first_use_sync(entry[0], entry[1], now):
            raise InvalidDPoPProof("the proof's jti was already used")

    async def arecord(self, presented: Presented, now: float) -> None:
        """Async twin of :meth:`record_sync`."""
        entry = self._replay_entry(presented)
        if entry is not None and not await self.replay.afirst_use(entry[0], entry[1], now):
            raise InvalidDPoPProof("the proof's jti was already used")

    # -- the warm path, routes checked after authentication, and challenges -----------------------
    def warm_ok(self, principal: Principal) -> bool:
        """Whether a cached principal may answer a plain Bearer request without these checks."""
        dpop, mtls = self.modes(principal)
        if "required" in (dpop, mtls):
            return False
        return "cnf" not in principal.claims or (dpop, mtls) == ("off", "off")

    def proven(self, principal: Principal) -> bool:
        """Whether an authenticated principal's key was proven: a DPoP-bound token whose issuer
        enforces binding is accepted only with a matching proof."""
        return isinstance(_cnf(principal).get("jkt"), str) and self.modes(principal)[0] != "off"

    def authorize_route(self, principal: Principal, mode: str) -> None:
        """A route's ``dpop`` after authentication: only an issuer that enforces binding proves a key."""
        if mode == "required" and not self.proven(principal):
            raise DPoPRequired("the route requires DPoP")
        if mode == "allowed" and "jkt" in _cnf(principal) and not self.proven(principal):
            raise BindingMismatch("DPoP-bound token from an issuer whose proofs are not checked")

    def challenge(self, exc: AuthError, *, dpop_request: bool, principal: Principal | None,
                  requirement: Requirement | None, now: float) -> AuthError:
        """Set the DPoP challenge (RFC 9449 §7.1) and a fresh nonce (§9) on a refusal."""
        mode = self.offered if principal is None else self.modes(principal)[0]
        mode = _stricter(mode, route_mode(requirement))
        if mode != "off":
            exc.dpop_algs = self.algs
            exc.bearer_accepted = mode != "required"
            exc.dpop_request = dpop_request
        if self.dpop.nonce and isinstance(exc, (UseDPoPNonce, InvalidDPoPProof)):
            exc.dpop_nonce = issue_nonce(self._secret, now)
        return exc


def _bind_key(mode: str, jkt: object, proof: DPoPProof | None) -> None:
    """RFC 9449 §7.1: a DPoP request's token is bound to the proof key; a bound token is not Bearer."""
    if proof is None:
        if mode == "required":
            raise DPoPRequired("a Bearer request where DPoP is required")
        if mode != "off" and jkt is not None:
            raise BindingMismatch("a DPoP-bound token sent as Bearer")  # RFC 9449 §7.2
        return
    if mode == "off":
        raise MissingToken("DPoP is not accepted for this token's issuer")
    if not isinstance(jkt, str):
        raise BindingMismatch("a token without cnf.jkt sent with the DPoP scheme")
    if not hmac.compare_digest(jkt, proof.jkt):
        raise BindingMismatch("cnf.jkt is not the thumbprint of the proof key")


def _bind_certificate(mode: str, x5t: object, certificate: str | bytes | None) -> None:
    """RFC 8705 §3: a certificate-bound token names the SHA-256 thumbprint of the client certificate."""
    if x5t is None:
        if mode == "required":
            raise BindingMismatch("the issuer requires certificate-bound tokens")
        return
    if certificate is None:
        raise BindingMismatch("a certificate-bound token without a client certificate")
    try:
        thumbprint = certificate_thumbprint(certificate)
    except ValueError as exc:
        raise BindingMismatch(f"unreadable client certificate: {exc}") from None
    if not isinstance(x5t, str) or not hmac.compare_digest(x5t, thumbprint):
        raise BindingMismatch("cnf.x5t#S256 is not the thumbprint of the client certificate")
