"""RFC 9728 ``[resource_metadata]``: defaults taken from the guard, the §3.1 well-known URL, §2.2 signing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from resource_kit import AUD, METADATA_URL, RESOURCE, config_for, starlette_app

from s2s_guard import ConfigurationError, Guard, MissingToken, load_config
from s2s_guard.resource_metadata import WELL_KNOWN, ResourceMetadata, well_known_url
from s2s_guard.testing import LocalIssuer

ISSUERS = [
    {"name": "idp", "issuer": "https://idp.example.test", "algorithms": ["RS256"],
     "jwks_uri": "https://idp.example.test/jwks"},
    {"name": "entra", "profile": "entra", "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
     "tenants": "any", "algorithms": ["RS256"], "jwks_uri": "https://login.example.test/keys"},
    {"name": "sp", "profile": "sharepoint-high-trust", "issuer_id": "11111111-1111-1111-1111-111111111111",
     "realm": "22222222-2222-2222-2222-222222222222", "algorithms": ["RS256"],
     "jwks_uri": "https://sp.example.test/keys", "hosts": ["sp.example.test"]},
    {"name": "idp-again", "issuer": "https://idp2.example.test", "algorithms": ["RS256"],
     "jwks_uri": "https://idp2.example.test/jwks"},
]


def metadata(block: dict[str, Any], **top: Any) -> ResourceMetadata:
    config = load_config({"audience": [RESOURCE, AUD], "issuers": ISSUERS, "resource_metadata": block, **top})
    assert config.resource_metadata is not None
    return ResourceMetadata(config.resource_metadata, now=1_700_000_000)


@pytest.mark.parametrize(("resource", "url"), [
    # RFC 9728 §3.1: the suffix goes between the host and the path (and query) components
    ("https://resource.example.com/resource1", "https://resource.example.com/.well-known/oauth-protected-resource/resource1"),
    ("https://resource.example.com", "https://resource.example.com/.well-known/oauth-protected-resource"),
    ("https://resource.example.com/", "https://resource.example.com/.well-known/oauth-protected-resource"),
    ("https://r.example.com:8443/a/b?x=1", "https://r.example.com:8443/.well-known/oauth-protected-resource/a/b?x=1"),
])
def test_well_known_url_inserts_the_suffix_after_the_host(resource: str, url: str) -> None:
    assert well_known_url(resource) == url


def test_defaults_come_from_the_guard_configuration() -> None:
    meta = metadata({})
    assert meta.document == {
        "resource": RESOURCE,  # the first audience
        # only issuers that are URLs: no Entra template, no SharePoint issuer_id@realm
        "authorization_servers": ["https://idp.example.test", "https://idp2.example.test"],
        "bearer_methods_supported": ["header"]}
    assert meta.url == METADATA_URL
    assert meta.path == "/.well-known/oauth-protected-resource/orders"


def test_query_tokens_are_announced_when_allowed() -> None:
    assert metadata({}, allow_query_token=True).document["bearer_methods_supported"] == ["header", "query"]
    assert metadata({"bearer_methods_supported": ["query"]}, allow_query_token=True).document[
        "bearer_methods_supported"] == ["query"]


def test_every_member_is_written() -> None:
    meta = metadata({
        "resource": "https://api.example.test", "authorization_servers": ["https://as.example.test"],
        "scopes_supported": ["orders.read", "orders.write"], "resource_name": "Orders",
        "jwks_uri": "https://api.example.test/jwks.json",
        "resource_documentation": "https://docs.example.test/orders",
        "resource_policy_uri": "https://docs.example.test/policy", "resource_tos_uri": "https://docs.example.test/tos",
        "dpop_signing_alg_values_supported": ["ES256"], "dpop_bound_access_tokens_required": False,
        "tls_client_certificate_bound_access_tokens": True, "max_age": 60},
        dpop={"algorithms": ["ES256"]})  # RFC 9449 §5.2: the stated algs are the ones proofs may use
    assert meta.document["resource"] == "https://api.example.test"
    assert meta.path == WELL_KNOWN and meta.url == "https://api.example.test" + WELL_KNOWN
    assert meta.document["authorization_servers"] == ["https://as.example.test"]
    assert meta.document["dpop_bound_access_tokens_required"] is False
    assert meta.document["tls_client_certificate_bound_access_tokens"] is True
    assert meta.headers["Cache-Control"] == "public, max-age=60"
    assert json.loads(meta.body) == meta.document
    assert meta.respond("GET") == (200, meta.headers, meta.body)
    assert meta.respond("DELETE")[0] == 405


def test_a_non_url_resource_needs_an_explicit_url() -> None:
    base = {"audience": [AUD], "issuers": ISSUERS[:1]}
    with pytest.raises(ConfigurationError, match=r"resource_metadata\.url: required"):
        load_config({**base, "resource_metadata": {}})
    config = load_config({**base, "resource_metadata": {"url": "https://api.example.test/.well-known/oauth-protected-resource/orders"}})
    assert config.resource_metadata is not None
    assert config.resource_metadata.resource == AUD  # the Entra-style app id URI stays the identifier
    assert config.resource_metadata.path == "/.well-known/oauth-protected-resource/orders"


def test_path_can_differ_from_the_public_url() -> None:
    """Behind a proxy that strips a prefix, the app answers another path than the public URL's."""
    meta = metadata({"path": "/.well-known/oauth-protected-resource"})
    assert meta.url == METADATA_URL and meta.path == "/.well-known/oauth-protected-resource"


@pytest.mark.parametrize(("block", "key"), [
    ({"resource": "https://api.example.test/#x"}, "resource_metadata.resource"),
    ({"url": "/relative"}, "resource_metadata.url"),
    ({"path": "no-slash"}, "resource_metadata.path"),
    ({"bearer_methods_supported": ["body"]}, "resource_metadata.bearer_methods_supported"),
    ({"bearer_methods_supported": ["query"]}, "resource_metadata.bearer_methods_supported"),
    ({"authorization_servers": ["idp.example.test"]}, "resource_metadata.authorization_servers"),
    ({"jwks_uri": "ftp://x"}, "resource_metadata.jwks_uri"),
    ({"dpop_bound_access_tokens_required": "yes"}, "resource_metadata.dpop_bound_access_tokens_required"),
    ({"scopes": ["x"]}, "resource_metadata.scopes"),
    ({"max_age": -1}, "resource_metadata.max_age"),
    ({"signed": {"issuer": "https://api.example.test"}}, "resource_metadata.signed.key_file"),
    ({"signed": {"key_file": "/nonexistent/key.pem"}}, "resource_metadata.signed.key_file"),
])
def test_bad_values_name_their_key(block: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        metadata(block)
    assert info.value.key == key


def _pem(key: Any, tmp_path: Path) -> str:
    path = tmp_path / "metadata-key.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return str(path)


def test_signed_metadata_is_a_jws_of_the_members(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    meta = metadata({"scopes_supported": ["orders.read"],
                     "signed": {"key_file": _pem(key, tmp_path), "kid": "meta-1"}})
    token = meta.document["signed_metadata"]
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "meta-1", "typ": "JWT"}
    # RFC 9728 §2.2: the claims are the metadata members plus iss (here: the resource itself)
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"])
    assert claims == {**{k: v for k, v in meta.document.items() if k != "signed_metadata"},
                      "iss": RESOURCE, "iat": 1_700_000_000}


def test_signed_metadata_issuer_and_alg_are_configurable(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    meta = metadata({"signed": {"key_file": _pem(key, tmp_path), "alg": "PS256", "issuer": "https://as.example.test"}})
    claims = jwt.decode(meta.document["signed_metadata"], key.public_key(), algorithms=["PS256"])
    assert claims["iss"] == "https://as.example.test" and claims["resource"] == RESOURCE


@pytest.mark.parametrize(("make_key", "alg"), [
    (lambda: ec.generate_private_key(ec.SECP384R1()), None),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    (lambda: ed25519.Ed25519PrivateKey.generate(), None),
], ids=["ES384", "PS256", "EdDSA"])
def test_signing_jwks_verifies_the_signed_metadata(tmp_path: Path, make_key: Any, alg: str | None) -> None:
    """RFC 9728 §2.2: a client verifies ``signed_metadata`` with the JWK Set published at ``jwks_uri``."""
    signed = {"key_file": _pem(make_key(), tmp_path), "kid": "meta-1", **({"alg": alg} if alg else {})}
    meta = metadata({"jwks_uri": "https://api.example.test/metadata-jwks", "signed": signed})
    assert meta.signing_jwks is not None and "d" not in meta.signing_jwks["keys"][0]  # public only
    key = jwt.PyJWKSet.from_dict(meta.signing_jwks)["meta-1"]
    token = meta.document["signed_metadata"]
    claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name])
    assert claims["resource"] == RESOURCE and claims["jwks_uri"] == meta.document["jwks_uri"]
    assert metadata({}).signing_jwks is None  # unsigned metadata: nothing to publish


@pytest.mark.parametrize("alg", ["RS256", "HS256", "none"])
def test_signed_metadata_alg_must_fit_the_key(tmp_path: Path, alg: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError) as info:
        metadata({"signed": {"key_file": _pem(key, tmp_path), "alg": alg}})
    assert info.value.key == "resource_metadata.signed.alg"


def test_without_the_table_challenges_are_unchanged(issuer: LocalIssuer) -> None:
    config = config_for(issuer)
    del config["resource_metadata"]
    guard = Guard.from_config(config)
    assert guard.resource_metadata is None
    with pytest.raises(MissingToken) as info:
        guard.authenticate_sync(None)
    assert info.value.www_authenticate == f'Bearer realm="{AUD}"'


def test_the_guard_names_the_url_in_its_refusals(issuer: LocalIssuer) -> None:
    guard = Guard.from_config(config_for(issuer))
    with pytest.raises(MissingToken) as info:
        guard.authenticate_sync("Basic dXNlcjpwYXNz")
    assert info.value.www_authenticate == f'Bearer realm="{AUD}", resource_metadata="{METADATA_URL}"'


def test_a_resource_without_path_is_served_at_the_plain_well_known_path(issuer: LocalIssuer) -> None:
    from starlette.testclient import TestClient

    config = config_for(issuer, resource_metadata={"resource": "https://api.example.test"})
    with TestClient(starlette_app(config)) as client:
        reply = client.get(WELL_KNOWN)
        assert reply.status_code == 200 and reply.json()["resource"] == "https://api.example.test"
        refused = client.get("/orders")
        assert refused.headers["www-authenticate"].endswith(
            'resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"')
