"""RFC 7517 keys and RFC 7515 §4.1 key selection: JWK Sets, X.509 certificates, shared secrets.

Keys are checked when loaded (RFC 8725 §3.5): only ``use: sig`` / ``key_ops: verify`` keys, no
symmetric keys from a JWK Set, RSA of at least 2048 bits (or ``min_rsa_bits``) with ``e >= 65537``.
A key's ``issuer`` member (Entra publishes one) binds it to that issuer (RFC 8725 §3.8). A key
is selected by ``kid``, or by ``x5t`` / ``x5t#S256`` certificate thumbprint; header-supplied
keys (``jwk``, ``jku``, ``x5u``, ``x5c``) are never used (RFC 8725 §3.10).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from base64 import b64decode, urlsafe_b64encode
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from ..errors import ConfigurationError, UnknownKey

__all__ = ["KeySet", "VerificationKey", "ecdsa_twin_sha256", "key_issuer_matches", "load_certificate",
           "verify_signature"]

log = logging.getLogger("s2s_guard.keys")

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey,
                  ed448.Ed448PublicKey, bytes]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
#: alg → (curve name, byte size of r and of s, group order n: SEC 2 §2.4.2, §2.5.1, §2.6.1).
_CURVES = {
    "ES256": ("secp256r1", 32, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "ES384": ("secp384r1", 48, int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                                   "581A0DB248B0A77AECEC196ACCC52973", 16)),
    "ES512": ("secp521r1", 66, int("01" + "F" * 64 + "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47"
                                   "AEBB6FB71E91386409", 16)),
}
_MIN_RSA_BITS = 2048
_MIN_RSA_EXPONENT = 65537  # NIST SP 800-56B Rev. 2 §6.2.1 (and Microsoft's own keys): e >= 65537
_TENANT = "{tenantid}"  # Entra's issuer template, filled from the token's ``tid``
#: Checks (signing_input, signature) for one key and algorithm; built once, used per request.
Verifier = Callable[[bytes, bytes], bool]


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key (or shared secret) with the identifiers a JWS header may name it by."""

    key: PublicKey = field(repr=False)  # an HMAC secret must never show in a repr
    kid: str | None = None
    alg: str | None = None
    x5t: str | None = None
    x5t_s256: str | None = None
    #: The JWK's ``issuer`` member (Entra: ``https://login.microsoftonline.com/{tenantid}/v2.0``).
    issuer: str | None = None
    #: alg → prepared :data:`Verifier` (padding and hash objects built once, not per request).
    _verifiers: dict[str, Verifier] = field(default_factory=dict, init=False, repr=False, compare=False)

    def accepts(self, alg: str) -> bool:
        """Whether this key may verify ``alg`` (key type, curve, and any pinned ``alg``)."""
        if self.alg is not None and self.alg != alg:
            return False  # RFC 7517 §4.4: the key's alg must match the header's
        return _key_fits(self.key, alg)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """:func:`verify_signature` with this key, through a verifier prepared on first use."""
        verifier = self._verifiers.get(alg)
        if verifier is None:
            verifier = self._verifiers[alg] = _verifier(alg, self.key)
        return verifier(signing_input, signature)


def key_issuer_matches(key_issuer: str, claims: Mapping[str, Any]) -> bool:
    """Microsoft.IdentityModel's signing-key issuer validation (RFC 8725 §3.8: the key is the issuer's).

    The key's ``issuer``, ``{tenantid}`` filled from ``tid``, must be the token's ``iss``; a v1.0
    token (``iss = https://sts.windows.net/{tid}/``) is signed by keys published with the v2.0
    issuer of the same tenant (``https://login.microsoftonline.com/{tid}/v2.0``).
    """
    iss, tid = claims.get("iss"), claims.get("tid")
    if not isinstance(iss, str) or (_TENANT in key_issuer and not isinstance(tid, str)):
        return False
    effective = key_issuer.replace(_TENANT, tid) if isinstance(tid, str) else key_issuer
    if effective == iss:
        return True
    return (isinstance(tid, str) and bool(tid) and urlsplit(iss).path == f"/{tid}/"
            and urlsplit(effective).path == f"/{tid}/v2.0")


def _key_fits(key: PublicKey, alg: str) -> bool:
    family = alg[:2]
    if family in ("RS", "PS"):
        return isinstance(key, rsa.RSAPublicKey)
    if family == "ES":
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _CURVES[alg][0]
    if alg == "EdDSA":
        return isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))
    return family == "HS" and isinstance(key, bytes)


def verify_signature(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Verify one JWS signature with ``cryptography``; ``alg`` comes from configuration."""
    return _verifier(alg, key)(signing_input, signature)


def _verifier(alg: str, key: PublicKey) -> Verifier:
    """The signature check for ``alg`` with ``key``, its padding and hash objects made once."""
    if isinstance(key, bytes):
        digest = "sha" + alg[2:]
        return lambda data, sig: hmac.compare_digest(hmac.digest(key, data, digest), sig)
    if isinstance(key, rsa.RSAPublicKey):
        hash_alg = _HASHES[alg[2:]]()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15() if alg[0] == "R"
            else padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size))
        return _rsa_verifier(key, pad, hash_alg)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _ec_verifier(key, _CURVES[alg][1], ec.ECDSA(_HASHES[alg[2:]]()))
    return _checked(key.verify)


def _checked(verify: Callable[..., None], *params: object) -> Verifier:
    """``cryptography``'s raising ``verify(signature, data, *params)`` as a yes/no check."""
    def check(data: bytes, sig: bytes) -> bool:
        try:
            verify(sig, data, *params)
        except (InvalidSignature, ValueError):
            return False
        return True
    return check


def _rsa_verifier(key: rsa.RSAPublicKey, pad: padding.AsymmetricPadding,
                  hash_alg: hashes.HashAlgorithm) -> Verifier:
    """RFC 8017 §8.1.2 / §8.2.2 step 1: the signature is exactly as long as the modulus, in octets."""
    size, verify = (key.key_size + 7) // 8, key.verify

    def check(data: bytes, sig: bytes) -> bool:
        if len(sig) != size:
            return False  # one token, one spelling
        try:
            verify(sig, data, pad, hash_alg)
        except (InvalidSignature, ValueError):
            return False
        return True
    return check


def _ec_verifier(key: ec.EllipticCurvePublicKey, size: int, ecdsa: ec.ECDSA) -> Verifier:
    """RFC 7518 §3.4: a JWS ECDSA signature is R || S, each exactly the curve size."""
    def check(data: bytes, sig: bytes) -> bool:
        if len(sig) != 2 * size:
            return False
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        if r == 0 or s == 0:
            return False  # CVE-2022-21449 ("psychic signatures"): r and s must be non-zero
        try:
            key.verify(encode_dss_signature(r, s), data, ecdsa)
        except (InvalidSignature, ValueError):
            return False
        return True
    return check


def ecdsa_twin_sha256(alg: str, signing_input: bytes, signature: bytes) -> str:
    """SHA-256 of the same token signed ``(r, n - s)``: ECDSA's second valid signature (SEC 1 §4.1.4).

    Anyone can compute that twin from a token they saw, so a revocation by token hash must
    name both spellings. Empty for algorithms without such a twin (RSA, EdDSA, HMAC) and for a
    signature that is not R || S of the curve's size (RFC 7518 §3.4) with ``0 < s < n``.
    """
    curve = _CURVES.get(alg)
    if curve is None or len(signature) != 2 * curve[1]:
        return ""
    _, size, order = curve
    s = int.from_bytes(signature[size:], "big")
    if not 0 < s < order:
        return ""
    twin = signature[:size] + (order - s).to_bytes(size, "big")
    return hashlib.sha256(signing_input + b"." + b64url(twin).encode("ascii")).hexdigest()


_HS = "(shared secret)"  # a memo tag: for HMAC every secret is a candidate, whatever the header names


class KeySet:
    """Verification keys indexed by ``kid`` and certificate thumbprints."""

    __slots__ = ("keys", "_by_kid", "_by_x5t", "_by_x5t_s256", "_selected")

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        self.keys: tuple[VerificationKey, ...] = tuple(keys)
        self._by_kid: dict[str, list[VerificationKey]] = {}
        self._by_x5t: dict[str, list[VerificationKey]] = {}
        self._by_x5t_s256: dict[str, list[VerificationKey]] = {}
        #: (alg, identifier kind, value) → usable keys; only known identifiers get here, so bounded.
        self._selected: dict[tuple[str, str, Any], list[VerificationKey]] = {}
        for key in self.keys:
            for index, ident in ((self._by_kid, key.kid), (self._by_x5t, key.x5t),
                                 (self._by_x5t_s256, key.x5t_s256)):
                if ident is not None:
                    index.setdefault(ident, []).append(key)

    def __len__(self) -> int:
        return len(self.keys)

    def __add__(self, other: KeySet) -> KeySet:
        return KeySet(self.keys + other.keys)

    def select(self, header: Mapping[str, Any], alg: str) -> list[VerificationKey]:
        """Keys that may verify this header's signature; :class:`UnknownKey` when none."""
        if alg.startswith("HS"):
            memo: tuple[str, str, Any] = (alg, _HS, None)  # HMAC: every secret is a candidate
        elif "kid" in header:
            memo = (alg, "kid", header["kid"])
        elif "x5t#S256" in header:
            memo = (alg, "x5t#S256", header["x5t#S256"])
        elif "x5t" in header:
            memo = (alg, "x5t", header["x5t"])
        else:
            memo = (alg, "", None)  # no identifier: try each key that fits
        usable = self._selected.get(memo)
        if usable is None:
            usable = self._selected[memo] = self._select(memo[1], memo[2], alg)
        return list(usable)

    def _select(self, name: str, ident: Any, alg: str) -> list[VerificationKey]:
        """The keys named by ``ident`` that fit ``alg``; only a non-empty answer is remembered."""
        index = {"kid": self._by_kid, "x5t#S256": self._by_x5t_s256, "x5t": self._by_x5t}.get(name)
        if index is not None:
            candidates = index.get(ident, [])
        elif name == _HS:
            candidates = [k for k in self.keys if isinstance(k.key, bytes)]
        else:
            candidates = list(self.keys)
        usable = [k for k in candidates if k.accepts(alg)]
        if not usable:
            raise UnknownKey("no key matches the token's kid/x5t and algorithm")
        return usable

    def has_identifier(self, header: Mapping[str, Any]) -> bool:
        """Whether the key a header names is in this set (used to decide on a refetch)."""
        for name, index in (("kid", self._by_kid), ("x5t#S256", self._by_x5t_s256),
                            ("x5t", self._by_x5t)):
            if name in header:
                return header[name] in index
        return bool(self.keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, min_rsa_bits: int = _MIN_RSA_BITS,
                  issuer: str = "") -> KeySet:
        """Load a JWK Set, skipping (and logging, with ``issuer``) keys that are unusable or unsafe.

        One bad key never fails the set: the issuer's other keys keep working (jose does the same).
        """
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list):
            raise ValueError('not a JWK Set: expected {"keys": [...]}')
        loaded = []
        for jwk in keys:
            try:
                loaded.append(key_from_jwk(jwk, min_rsa_bits=min_rsa_bits))
            except ValueError as exc:
                log.warning("skipping JWK kid=%r of issuer %r: %s",
                            jwk.get("kid") if isinstance(jwk, Mapping) else None, issuer, exc)
        return cls(loaded)


def _check_public_key(key: object, min_rsa_bits: int = _MIN_RSA_BITS) -> PublicKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                  | ed448.Ed448PrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < max(min_rsa_bits, _MIN_RSA_BITS):
            raise ValueError(f"RSA key of {key.key_size} bits is below {min_rsa_bits}")  # RFC 8725 §3.5
        if key.public_numbers().e < _MIN_RSA_EXPONENT:
            raise ValueError(f"RSA public exponent below {_MIN_RSA_EXPONENT}")  # SP 800-56B §6.2.1
        return key
    if isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}")


def key_from_jwk(jwk: Any, *, min_rsa_bits: int = _MIN_RSA_BITS) -> VerificationKey:
    """One JWK to a :class:`VerificationKey`; raises ``ValueError`` if it must not be used."""
    if not isinstance(jwk, Mapping):
        raise ValueError("JWK is not an object")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("key is not for signatures (use != sig)")  # RFC 7517 §4.2
    key_ops = jwk.get("key_ops", ["verify"])
    if not isinstance(key_ops, list) or "verify" not in key_ops:
        raise ValueError("key_ops does not include verify")  # RFC 7517 §4.3
    kty = jwk.get("kty")
    loaders = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk, "OKP": OKPAlgorithm.from_jwk}
    if kty not in loaders:
        raise ValueError(f"unsupported kty {kty!r}")  # "oct" is refused: no secrets from a JWKS
    try:
        key = _check_public_key(loaders[kty](dict(jwk)), min_rsa_bits)
    except (InvalidKeyError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid {kty} key: {exc}") from exc
    x5t, x5t_s256 = jwk.get("x5t"), jwk.get("x5t#S256")
    x5c = jwk.get("x5c")
    if isinstance(x5c, list) and x5c and isinstance(x5c[0], str) and (x5t is None or x5t_s256 is None):
        der = b64decode(x5c[0])
        x5t = x5t or b64url(hashlib.sha1(der).digest())
        x5t_s256 = x5t_s256 or b64url(hashlib.sha256(der).digest())
    if "issuer" in jwk and not isinstance(jwk["issuer"], str):
        raise ValueError("issuer is not a string")  # a malformed binding is never read as "none"
    return VerificationKey(key=key, kid=_opt_str(jwk.get("kid")), alg=_opt_str(jwk.get("alg")),
                           x5t=_opt_str(x5t), x5t_s256=_opt_str(x5t_s256),
                           issuer=_opt_str(jwk.get("issuer")))


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def load_certificate(data: bytes, source: str = "certificate", *,
                     min_rsa_bits: int = _MIN_RSA_BITS) -> VerificationKey:
    """A PEM or DER X.509 certificate to a key named by its thumbprints (and ``kid`` = x5t)."""
    try:
        cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data))
        key = _check_public_key(cert.public_key(), min_rsa_bits)
    except ValueError as exc:
        raise ConfigurationError(source, f"not a usable PEM or DER X.509 certificate: {exc}") from exc
    der = cert.public_bytes(Encoding.DER)
    x5t = b64url(hashlib.sha1(der).digest())
    return VerificationKey(key=key, kid=x5t, x5t=x5t, x5t_s256=b64url(hashlib.sha256(der).digest()))

