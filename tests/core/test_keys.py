"""RFC 7517 keys and RFC 7515 §4.1 key selection: kid, x5t, x5t#S256, and keys refused at load."""

from __future__ import annotations

import datetime
import hashlib
import logging
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from s2s_guard import Guard
from s2s_guard.core.jws import parse_compact
from s2s_guard.core.jwt import verify_jws
from s2s_guard.core.keys import KeySet, VerificationKey, b64url, key_from_jwk, load_certificate
from s2s_guard.errors import BadSignature, ConfigurationError, UnknownKey

KeyFactory = Callable[[str], Any]
JwkFactory = Callable[..., dict[str, Any]]
NOW = 1_700_000_000


def certificate(key: Any, signer: Any = None) -> x509.Certificate:
    """A self-signed (or ``signer``-signed) certificate for ``key``'s public half."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    start = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
    signer = signer or key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(signer, algorithm))


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    der = cert.public_bytes(Encoding.DER)
    return b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())


# -- selection --------------------------------------------------------------------------------

def test_select_by_kid(private_key: KeyFactory, public_jwk: JwkFactory) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key("RS256"), kid="a"),
                                      public_jwk(private_key("ES256"), kid="b")]})
    assert [k.kid for k in keys.select({"kid": "a"}, "RS256")] == ["a"]
    assert [k.kid for k in keys.select({"kid": "b"}, "ES256")] == ["b"]
    with pytest.raises(UnknownKey):
        keys.select({"kid": "a"}, "ES256")  # the named key does not fit the algorithm


@pytest.mark.parametrize("kid", ["missing", "A", "a ", ""])
def test_unknown_kid(private_key: KeyFactory, public_jwk: JwkFactory, kid: str) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key("RS256"), kid="a")]})
    with pytest.raises(UnknownKey) as info:
        keys.select({"kid": kid}, "RS256")
    assert info.value.status_code == 401


def test_without_identifier_every_fitting_key_is_tried(private_key: KeyFactory,
                                                       public_jwk: JwkFactory) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key("RS256"), kid="a"),
                                      public_jwk(private_key("ES256"), kid="b"),
                                      public_jwk(private_key("ES384"), kid="c")]})
    assert [k.kid for k in keys.select({}, "ES256")] == ["b"]
    assert [k.kid for k in keys.select({}, "PS256")] == ["a"]


@pytest.mark.parametrize(("pinned", "header_alg"), [("RS256", "PS256"), ("RS256", "RS512"),
                                                    ("PS256", "RS256")])
def test_key_pinned_to_another_alg_refused(private_key: KeyFactory, public_jwk: JwkFactory,
                                           pinned: str, header_alg: str) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key("RS256"), kid="a", alg=pinned)]})
    assert keys.select({"kid": "a"}, pinned)
    with pytest.raises(UnknownKey):  # RFC 7517 §4.4
        keys.select({"kid": "a"}, header_alg)


@pytest.mark.parametrize(("curve_of", "alg"), [("ES256", "ES384"), ("ES384", "ES256"),
                                               ("ES512", "ES384"), ("EdDSA", "ES256")])
def test_key_on_the_wrong_curve_refused(private_key: KeyFactory, public_jwk: JwkFactory,
                                        curve_of: str, alg: str) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key(curve_of), kid="a")]})
    with pytest.raises(UnknownKey):
        keys.select({"kid": "a"}, alg)


@pytest.mark.parametrize("encoding", [Encoding.PEM, Encoding.DER])
@pytest.mark.parametrize("family", ["RS256", "ES256", "EdDSA"])
def test_certificate_selected_by_thumbprints(private_key: KeyFactory, encoding: Encoding,
                                             family: str) -> None:
    cert = certificate(private_key(family))
    x5t, x5t_s256 = thumbprints(cert)
    key = load_certificate(cert.public_bytes(encoding))
    assert (key.kid, key.x5t, key.x5t_s256) == (x5t, x5t, x5t_s256)
    keys = KeySet([key, VerificationKey(key=private_key("ES384").public_key(), kid="other")])
    for header in ({"x5t": x5t}, {"x5t#S256": x5t_s256}, {"kid": x5t}):
        assert keys.select(header, family) == [key]
    for header in ({"x5t": x5t_s256}, {"x5t#S256": x5t}, {"x5t": x5t[:-1] + ("B" if x5t.endswith("A") else "A")}):
        with pytest.raises(UnknownKey):
            keys.select(header, family)


def test_x5c_in_a_jwk_provides_thumbprints(private_key: KeyFactory, public_jwk: JwkFactory) -> None:
    cert = certificate(private_key("RS256"))
    x5t, x5t_s256 = thumbprints(cert)
    jwk = public_jwk(private_key("RS256"), x5c=[b64encode(cert.public_bytes(Encoding.DER)).decode()])
    key = key_from_jwk(jwk)
    assert (key.kid, key.x5t, key.x5t_s256) == (None, x5t, x5t_s256)


def test_certificate_end_to_end(private_key: KeyFactory, tmp_path: Path) -> None:
    cert = certificate(private_key("ES256"))
    path = tmp_path / "signing.pem"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    iss = "https://issuer.example"
    guard = Guard.from_config({"audience": "api://orders", "issuers": [
        {"issuer": iss, "algorithms": ["ES256"], "certificates": [str(path)]}]}, clock=lambda: NOW)
    claims = {"iss": iss, "aud": "api://orders", "exp": NOW + 60, "sub": "alice"}
    token = jwt.encode(claims, private_key("ES256"), "ES256",
                       headers={"x5t#S256": thumbprints(cert)[1]})
    assert guard.authenticate_sync(f"Bearer {token}").identity == "alice"


# -- keys refused when loaded ------------------------------------------------------------------

def test_unusable_jwks_are_skipped(private_key: KeyFactory, public_jwk: JwkFactory,
                                   caplog: pytest.LogCaptureFixture) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {"keys": [
        public_jwk(private_key("RS256"), kid="enc", use="enc"),     # RFC 8725 §3.5: not for signing
        {"kty": "oct", "kid": "secret", "k": b64url(b"s" * 32)},  # no secrets from a JWK Set
        public_jwk(small, kid="small"),                           # RSA below 2048 bits
        {"kty": "EC", "kid": "bad-curve", "crv": "P-999", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64url(b"x" * 32)},
        {"kty": "RSA", "kid": "broken", "n": 123, "e": "AQAB"},
        {"kid": "no-kty"},
        "not an object",
        public_jwk(private_key("RS256"), kid="good", use="sig"),
    ]}
    with caplog.at_level(logging.WARNING, logger="s2s_guard.keys"):
        keys = KeySet.from_jwks(jwks)
    assert [k.kid for k in keys.keys] == ["good"]
    assert len(caplog.records) == 8
    with pytest.raises(UnknownKey):
        keys.select({"kid": "enc"}, "RS256")


@pytest.mark.parametrize("jwks", [{}, {"keys": {}}, {"keys": None}, []])
def test_not_a_jwk_set(jwks: Any) -> None:
    with pytest.raises(ValueError):
        KeySet.from_jwks(jwks)


def test_rsa_1024_certificate_refused(private_key: KeyFactory) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = certificate(small, signer=private_key("RS256"))
    with pytest.raises(ConfigurationError) as info:
        load_certificate(cert.public_bytes(Encoding.PEM), "issuers[0].certificates[0]")
    assert info.value.key == "issuers[0].certificates[0]"


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_not_a_certificate(data: bytes) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_certificate(data, "certs[0]")
    assert info.value.key == "certs[0]"


@pytest.mark.parametrize("family", ["RS256", "ES256", "EdDSA", "Ed448"])
def test_private_jwk_reduced_to_public(private_key: KeyFactory, family: str) -> None:
    private = private_key(family)
    algorithm = jwt.get_algorithm_by_name(family if family in ("RS256", "ES256") else "EdDSA")
    jwk = algorithm.to_jwk(private, as_dict=True)
    assert "d" in jwk
    # PyJWT marks a private JWK key_ops ["sign"]; RFC 7517 §4.3 lets one key both sign and verify
    key = key_from_jwk({**jwk, "kid": "p", "key_ops": ["sign", "verify"]})
    assert not hasattr(key.key, "private_bytes")
    assert type(key.key) is type(private.public_key())


# -- verification --------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_zero_ecdsa_signature_refused(private_key: KeyFactory, raw_jws: Callable[..., str],
                                      alg: str) -> None:
    size = {"ES256": 32, "ES384": 48, "ES512": 66}[alg]
    keys = KeySet([VerificationKey(key=private_key(alg).public_key(), kid="a")])
    for signature in (b"\x00" * 2 * size, b"\x00" * size + b"\x01" * size, b"\x01" * (2 * size - 1)):
        jws = parse_compact(raw_jws({"alg": alg, "kid": "a"}, {}, signature))
        with pytest.raises(BadSignature):  # CVE-2022-21449; RFC 7518 §3.4 fixed-size R || S
            verify_jws(jws, alg, keys)


def test_second_key_with_the_same_kid_is_tried(private_key: KeyFactory) -> None:
    first = ec.generate_private_key(ec.SECP256R1())
    keys = KeySet([VerificationKey(key=first.public_key(), kid="a"),
                   VerificationKey(key=private_key("ES256").public_key(), kid="a")])
    token = jwt.encode({"sub": "x"}, private_key("ES256"), "ES256", headers={"kid": "a"})
    verify_jws(parse_compact(token), "ES256", keys)
