"""RFC 9449 DPoP: check a proof JWT against the request it came with (sans-I/O, ``now`` passed in).

A proof is a compact JWS the client signs for each request with its own key: ``typ``
``dpop+jwt``, the public key in the ``jwk`` header, and claims naming the request (``htm``,
``htu``), its time (``iat``), a unique ``jti``, the access token's hash (``ath``) and, when the
server asks for one, its ``nonce``. :func:`check_proof` runs the RFC 9449 §4.3 checks; the
token's ``cnf.jkt`` must then equal the key's RFC 7638 thumbprint (:attr:`DPoPProof.jkt`).
Replay (``jti``) and the nonce's freshness are for the caller, who holds the state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import AuthError, InvalidDPoPProof, InvalidRequest
from .jws import CompactJWS, b64url_decode, parse_compact
from .keys import b64url, key_from_jwk, verify_signature

__all__ = ["DPoPProof", "access_token_hash", "check_proof", "dpop_token", "issue_nonce",
           "jwk_thumbprint", "nonce_issued_at", "normalize_htu"]

#: Proofs are small (a header with one public key, five claims); anything bigger is refused unread.
MAX_PROOF_BYTES = 8192
_MAX_JTI = 256
#: RFC 7517 §4 / RFC 7518 §6: members only a private (or symmetric) key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638 §3.2: the required members hashed for each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_NONCE_CONTEXT = b"s2s_guard dpop nonce v1"


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A checked proof: the key's thumbprint (``jkt``), its ``jti``, ``iat`` and ``nonce``."""

    jkt: str
    jti: str
    iat: float
    nonce: str | None


def dpop_token(headers: Sequence[str]) -> str | None:
    """The access token of ``Authorization: DPoP <token>`` (RFC 9449 §7.1); ``None`` for another scheme."""
    if len(headers) != 1:
        return None  # none, or several: the Bearer path answers (RFC 6750 §2 invalid_request)
    scheme, _, credentials = headers[0].strip(" \t").partition(" ")
    if scheme.lower() != "dpop":  # RFC 9110 §11.1: schemes are case-insensitive
        return None
    token = credentials.strip(" ")
    if not _TOKEN68.fullmatch(token):
        raise InvalidRequest("DPoP scheme without a token68 access token")
    return token


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the access token's ASCII bytes."""
    return b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace, base64url."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("JWK lacks the members its thumbprint needs")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


# -- htu (RFC 9449 §4.3 step 9, with RFC 3986 §6.2.2 and §6.2.3 normalization) -----------------

def _percent(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else "%" + match.group(1).upper()  # §6.2.2.1, §6.2.2.2


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path (§6.2.2.3)."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out)


def normalize_htu(url: str) -> str:
    """``scheme://host[:port]/path`` in normal form; query and fragment are dropped (§4.3)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""  # lower-cased by urlsplit (§6.2.2.1)
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    port = parts.port  # ValueError when not a number in range
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"  # §6.2.3
    path = _remove_dot_segments(_PERCENT.sub(_percent, parts.path)) if parts.path else ""
    return f"{scheme}://{netloc}{path or '/'}"  # §6.2.3: an empty path is "/"


# -- the proof ----------------------------------------------------------------------------------

def _parse(proof: str) -> CompactJWS:
    if len(proof) > MAX_PROOF_BYTES:
        raise InvalidDPoPProof(f"proof of {len(proof)} bytes exceeds {MAX_PROOF_BYTES}")
    try:
        return parse_compact(proof, MAX_PROOF_BYTES)  # RFC 9449 §4.3 step 2: a well-formed JWT
    except AuthError as exc:
        raise InvalidDPoPProof(f"proof is not a compact JWS: {exc.detail}") from None


def _header_key(header: Mapping[str, Any], algorithms: Collection[str]) -> tuple[str, Any, str]:
    """Steps 4, 5 and 7: ``typ``, an allowed asymmetric ``alg``, a public ``jwk``; returns (alg, key, jkt)."""
    typ, alg, jwk = header.get("typ"), header.get("alg"), header.get("jwk")
    if not isinstance(typ, str) or typ.lower() != "dpop+jwt":  # RFC 7515 §4.1.9: case-insensitive
        raise InvalidDPoPProof(f"typ {str(typ)[:32]!r} is not dpop+jwt")
    if not isinstance(alg, str) or alg not in algorithms:  # RFC 8725 §3.1: allow-list, never none or HS*
        raise InvalidDPoPProof(f"alg {str(alg)[:16]!r} is not an allowed DPoP algorithm")
    if "crit" in header:
        raise InvalidDPoPProof("crit header present")  # RFC 7515 §4.1.11: no extensions understood
    if not isinstance(jwk, Mapping) or _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDPoPProof("jwk is missing or holds private key material")  # §4.3 step 7
    try:
        key = key_from_jwk(jwk)
        jkt = jwk_thumbprint(jwk)
    except ValueError as exc:
        raise InvalidDPoPProof(f"jwk is not a usable public key: {exc}") from None
    if not key.accepts(alg):
        raise InvalidDPoPProof(f"jwk does not fit alg {alg}")
    return alg, key.key, jkt


def _string_claim(payload: Mapping[str, Any], name: str, limit: int = 4096) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidDPoPProof(f"{name} is missing or not a string")  # §4.3 step 3: required claims
    return value


def _check_iat(payload: Mapping[str, Any], now: float, window: float) -> float:
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise InvalidDPoPProof("iat is missing or not a number")
    if abs(now - iat) > window:  # §4.3 step 11, §11.1: a proof is fresh only briefly
        raise InvalidDPoPProof(f"iat {iat:.0f} is outside {window:.0f}s of now {now:.0f}")
    return float(iat)


def _has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url.strip()).netloc
    except ValueError:
        return False  # unparsable: normalize_htu refuses it


def _check_request(payload: Mapping[str, Any], method: str, url: str) -> None:
    """Steps 8 and 9: ``htm`` is the request method, ``htu`` its URI (normalized, no query)."""
    if _string_claim(payload, "htm", 32) != method:  # RFC 9110 §9.1: methods are case-sensitive
        raise InvalidDPoPProof("htm does not match the request method")
    htu = _string_claim(payload, "htu")
    if _has_userinfo(htu):  # RFC 9110 §4.2.4: userinfo in an http(s) URI is an error, never dropped
        raise InvalidDPoPProof("htu has a userinfo component")
    try:
        same = normalize_htu(htu) == normalize_htu(url)
    except ValueError:
        same = False
    if not same:
        raise InvalidDPoPProof("htu does not match the request URI")


def check_proof(proof: str, *, method: str, url: str, access_token: str | None,
                algorithms: Collection[str], now: float, iat_window: float) -> DPoPProof:
    """RFC 9449 §4.3 steps 2-9, 11 and 12 (``ath``; ``access_token=None`` skips it, as at a token endpoint)."""
    jws = _parse(proof)
    alg, key, jkt = _header_key(jws.header, algorithms)
    if not verify_signature(alg, key, jws.signing_input, jws.signature):
        raise InvalidDPoPProof("proof signature does not verify with its jwk")  # step 6
    payload = jws.payload
    jti = _string_claim(payload, "jti", _MAX_JTI)
    _check_request(payload, method, url)
    iat = _check_iat(payload, now, iat_window)
    # §4.3 step 12 / §7.1: the proof covers this very access token.
    if access_token is not None and not hmac.compare_digest(
            _string_claim(payload, "ath", 128), access_token_hash(access_token)):
        raise InvalidDPoPProof("ath is not the hash of the access token")
    nonce = payload.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not nonce):
        raise InvalidDPoPProof("nonce is not a string")
    return DPoPProof(jkt=jkt, jti=jti, iat=iat, nonce=nonce)


# -- server nonces (RFC 9449 §9): stateless, so every worker sharing the secret accepts them ------

def issue_nonce(secret: bytes, now: float) -> str:
    """A nonce carrying its issue time and an HMAC over it (base64url: RFC 9449 §8.1 NQCHARs)."""
    stamp = int(now).to_bytes(8, "big")
    return b64url(stamp + hmac.new(secret, _NONCE_CONTEXT + stamp, "sha256").digest()[:16])


def nonce_issued_at(nonce: str, secret: bytes) -> float | None:
    """When a nonce this server issued was made; ``None`` when it is not one of ours."""
    try:
        raw = b64url_decode(nonce)
    except AuthError:
        return None
    if len(raw) != 24:
        return None
    stamp, mac = raw[:8], raw[8:]
    if not hmac.compare_digest(mac, hmac.new(secret, _NONCE_CONTEXT + stamp, "sha256").digest()[:16]):
        return None
    return float(int.from_bytes(stamp, "big"))
