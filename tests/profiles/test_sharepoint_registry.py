"""The SharePoint trust registry configuration and the sans-I/O SharePoint helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from profile_support import Signer, sample

from s2s_guard import ConfigurationError, InvalidClaim, load_config
from s2s_guard.core.flow import HTTPResponse
from s2s_guard.core.sharepoint import keys_from_metadata, normalize_times, parse_metadata, split_principal

REALM = "200a8e79-a98e-4b79-a6e3-c637c6482471"
ISSUER_ID = "11111111-1111-1111-1111-111111111111"
CLIENT = "4ebb8f86-b40c-4cc5-8255-4ebeea018dc5"


def high_trust(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID, "realm": REALM,
                             "algorithms": ["RS256"], "certificates": ["HighTrust.cer"],
                             "hosts": ["Orders.Contoso.com"]}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def load(entry: dict[str, Any]) -> Any:
    return load_config({"audience": ["api://orders"], "issuers": [entry]}).issuers[0]


def test_registry_entry_derives_the_issuer() -> None:
    issuer = load(high_trust(issuer_id=ISSUER_ID.upper()))
    assert issuer.issuer == f"{ISSUER_ID}@{REALM}"  # lower-case, as SharePoint registers it
    assert issuer.client_ids == (ISSUER_ID,)        # not a broker: it signs only for itself
    assert issuer.hosts == ("orders.contoso.com",) and not issuer.trust_broker
    assert issuer.principal_id == "00000003-0000-0ff1-ce00-000000000000"


def test_broker_and_acs_entries() -> None:
    assert load(high_trust(trust_broker=True)).client_ids == ()
    acs = load({"profile": "sharepoint-acs", "realm": REALM, "algorithms": ["RS256"],
                "metadata_url": "https://accounts.accesscontrol.windows.net/metadata/json/1",
                "hosts": ["contoso.sharepoint.com"]})
    assert acs.issuer == f"00000001-0000-0000-c000-000000000000@{REALM}" and acs.client_ids == ()


@pytest.mark.parametrize("changes, key", [
    ({"realm": "contoso"}, "realm"),
    ({"realm": None}, "realm"),
    ({"issuer_id": None}, "issuer_id"),
    ({"issuer": f"{ISSUER_ID}@{REALM.upper()}"}, "issuer"),      # must be the lower-case issuer_id@realm
    ({"issuer": f"22222222-2222-2222-2222-222222222222@{REALM}"}, "issuer"),
    ({"hosts": None}, "hosts"),
    ({"client_ids": ["app"]}, "client_ids"),
    ({"trust_broker": "yes"}, "trust_broker"),
    ({"metadata_url": "ftp://farm/metadata"}, "metadata_url"),
    ({"certificates": None}, "jwks_uri"),                          # no key source at all
    ({"principal_id": "sharepoint"}, "principal_id"),
])
def test_registry_errors_name_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load(high_trust(**changes))
    assert info.value.key == f"issuers[0].{key}"


def test_acs_is_always_the_acs_principal() -> None:
    with pytest.raises(ConfigurationError):
        load({"profile": "sharepoint-acs", "realm": REALM, "issuer_id": ISSUER_ID,
              "algorithms": ["RS256"], "certificates": ["acs.cer"], "hosts": ["h"]})


@pytest.mark.parametrize("key", ["issuer_id", "realm", "metadata_url", "trust_broker", "client_ids",
                                 "hosts", "principal_id"])
def test_sharepoint_keys_only_for_sharepoint_profiles(key: str) -> None:
    values = {**high_trust(trust_broker=False), "metadata_url": "https://farm/_layouts/15/metadata/json/1",
              "client_ids": [CLIENT], "principal_id": "00000003-0000-0ff1-ce00-000000000000"}
    entry = {"issuer": "https://idp.example.com", "algorithms": ["RS256"],
             "jwks_uri": "https://idp.example.com/jwks", key: values[key]}
    with pytest.raises(ConfigurationError) as info:
        load(entry)
    assert info.value.key == f"issuers[0].{key}"


def test_explicit_audience_replaces_hosts() -> None:
    aud = f"00000003-0000-0ff1-ce00-000000000000/orders.contoso.com:8443@{REALM}"
    assert load(high_trust(hosts=None, audience=[aud])).audience == (aud,)


# -- helpers --------------------------------------------------------------------------------------

def test_split_principal() -> None:
    assert split_principal(f"{CLIENT}@{REALM}", "nameid") == (CLIENT, REALM)
    for bad in ("no-realm", "@realm", "id@", 7, None):
        with pytest.raises(InvalidClaim):
            split_principal(bad, "nameid")


def test_normalize_times_only_converts_ascii_digit_strings() -> None:
    claims = {"nbf": "1444780800", "exp": 1444824000}
    assert normalize_times(claims) == {"nbf": 1444780800, "exp": 1444824000}
    untouched = {"nbf": 1, "exp": 2}
    assert normalize_times(untouched) is untouched
    with pytest.raises(InvalidClaim):
        normalize_times({"exp": "1444824000 "})


def test_metadata_documents_of_sharepoint_and_acs(addin: Signer, acs: Signer, stranger: Signer) -> None:
    farm = sample("sharepoint_metadata")
    farm["keys"][0]["keyValue"]["value"] = addin.der_b64
    assert [k.x5t for k in keys_from_metadata(farm).keys] == [addin.x5t]
    acs_doc = sample("acs_metadata")
    acs_doc["keys"][0]["keyValue"]["value"] = acs.der_b64
    acs_doc["keys"][1]["keyValue"]["value"] = stranger.der_b64
    assert [k.x5t for k in keys_from_metadata(acs_doc).keys] == [acs.x5t]  # the encrypting key is skipped


@pytest.mark.parametrize("entry", [
    {"usage": "signing", "keyValue": {"type": "x509Certificate", "value": "not base64!"}},
    {"usage": "signing", "keyValue": {"type": "x509Certificate", "value": "AAAA"}},
    {"usage": "signing", "keyValue": {"type": "rsaKey", "value": "AAAA"}},
    {"usage": "signing"},
    "x509",
])
def test_unusable_metadata_keys_are_skipped(entry: Any) -> None:
    assert len(keys_from_metadata({"keys": [entry]})) == 0


def test_parse_metadata_responses(addin: Signer) -> None:
    farm = sample("sharepoint_metadata")
    farm["keys"][0]["keyValue"]["value"] = addin.der_b64
    assert len(parse_metadata(HTTPResponse(200, {}, json.dumps(farm).encode()))) == 1
    for response in (HTTPResponse(500, {}, b"{}"), HTTPResponse(200, {}, b'{"keys": []}'),
                     HTTPResponse(200, {}, b"<html>"), HTTPResponse(200, {}, b'{"keys": 1}')):
        with pytest.raises(ValueError):
            parse_metadata(response)
