"""RFC 9449 through GuardMiddleware (httpx.ASGITransport): schemes, modes, replay, nonces, proxies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from s2s_guard.policy import Requirement
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPAuth, DPoPKey, bound_token

from dpop_support import BASE, GuardFactory, api, challenge, client

pytestmark = pytest.mark.anyio
ALGS = 'algs="ES256 ES384 ES512 PS256 RS256 EdDSA"'


def dpop_headers(key: DPoPKey, token: str, url: str = BASE + "/whoami", method: str = "GET",
                 **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, access_token=token, **proof)}


# -- dpop = "allowed": both schemes ----------------------------------------------------------------

async def test_bound_call_accepted_then_replays_refused(make_guard: GuardFactory, issuer: LocalIssuer,
                                                         key: DPoPKey) -> None:
    """The demo's story: a DPoP-bound call is accepted; the same proof, or the token alone, is refused."""
    token = bound_token(issuer, key)
    async with client(api(make_guard(dpop="allowed"))) as c:
        ok = await c.get("/whoami", auth=DPoPAuth(token, key))
        assert ok.status_code == 200 and ok.json() == {"app": "daemon-app", "cnf": {"jkt": key.jkt}}
        replay = await c.get("/whoami", headers={"Authorization": f"DPoP {token}",
                                                 "DPoP": ok.request.headers["DPoP"]})
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"
        assert challenge(replay).startswith('Bearer realm="api://orders", DPoP realm="api://orders", '
                                            'error="invalid_dpop_proof"')
        bearer = await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})  # RFC 9449 §7.2
        assert bearer.status_code == 401 and bearer.json()["error"] == "invalid_token"
        assert challenge(bearer) == (
            'Bearer realm="api://orders", error="invalid_token", error_description="The access token is '
            'bound to a key or certificate this request does not prove", DPoP realm="api://orders", ' + ALGS)
        again = await c.get("/whoami", auth=DPoPAuth(token, key))  # a fresh proof still works
        assert again.status_code == 200


async def test_unbound_bearer_token_still_accepted(make_guard: GuardFactory, issuer: LocalIssuer) -> None:
    async with client(api(make_guard(dpop="allowed"))) as c:
        for _ in range(2):  # cold, then the warm path
            r = await c.get("/whoami", headers={"Authorization": "Bearer " + issuer.app_token()})
            assert r.status_code == 200 and r.json()["cnf"] is None


async def test_missing_token_offers_both_schemes(make_guard: GuardFactory) -> None:
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.get("/whoami")
    assert r.status_code == 401 and challenge(r) == f'Bearer realm="api://orders", DPoP realm="api://orders", {ALGS}'


@pytest.mark.parametrize("case", ["no proof", "two proofs", "other url", "other method", "other token",
                                  "stale", "not a jwt"])
async def test_bad_proofs_are_invalid_dpop_proof(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey,
                                                 case: str) -> None:
    token = bound_token(issuer, key)
    headers = dpop_headers(key, token)
    proof = headers["DPoP"]
    changes: dict[str, list[tuple[str, str]]] = {
        "no proof": [("Authorization", f"DPoP {token}")],
        "two proofs": [("Authorization", f"DPoP {token}"), ("DPoP", proof), ("DPoP", dpop_headers(key, token)["DPoP"])],
        "other url": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", BASE + "/strict", access_token=token))],
        "other method": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("POST", BASE + "/whoami", access_token=token))],
        "other token": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", BASE + "/whoami", access_token="x.y.z"))],
        "stale": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", BASE + "/whoami", access_token=token, iat=1))],
        "not a jwt": [("Authorization", f"DPoP {token}"), ("DPoP", "garbage")],
    }
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.get("/whoami", headers=httpx.Headers(changes[case]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
    assert 'DPoP realm="api://orders", error="invalid_dpop_proof"' in challenge(r)


async def test_proof_by_another_key_is_a_binding_mismatch(make_guard: GuardFactory, issuer: LocalIssuer,
                                                          key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.get("/whoami", auth=DPoPAuth(token, DPoPKey()))  # RFC 9449 §7.1: cnf.jkt must match
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert challenge(r).startswith('Bearer realm="api://orders", DPoP realm="api://orders", error="invalid_token"')


async def test_unbound_token_sent_with_dpop_is_refused(make_guard: GuardFactory, issuer: LocalIssuer,
                                                       key: DPoPKey) -> None:
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.get("/whoami", auth=DPoPAuth(issuer.app_token(), key))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_post_with_query_string(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.post("/whoami?page=2", auth=DPoPAuth(token, key))  # htu has no query (§4.2)
    assert r.status_code == 200


# -- dpop = "required" and "off" ------------------------------------------------------------------

async def test_required_refuses_bearer_with_a_dpop_only_challenge(make_guard: GuardFactory, issuer: LocalIssuer,
                                                                  key: DPoPKey) -> None:
    async with client(api(make_guard(dpop="required"))) as c:
        r = await c.get("/whoami", headers={"Authorization": "Bearer " + issuer.app_token()})
        assert r.status_code == 401 and challenge(r) == f'DPoP realm="api://orders", {ALGS}'
        assert r.json() == {"error_description": "A DPoP-bound access token and a DPoP proof are required"}
        missing = await c.get("/whoami")
        assert challenge(missing) == f'DPoP realm="api://orders", {ALGS}'
        ok = await c.get("/whoami", auth=DPoPAuth(bound_token(issuer, key), key))
        assert ok.status_code == 200


async def test_off_refuses_the_dpop_scheme_and_keeps_bearer(make_guard: GuardFactory, issuer: LocalIssuer,
                                                            key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    async with client(api(make_guard())) as c:
        r = await c.get("/whoami", auth=DPoPAuth(token, key))
        assert r.status_code == 401 and challenge(r) == 'Bearer realm="api://orders"'
        # dpop off: a bound token is still not Bearer (RFC 9449 §7.2); unbound tokens are.
        bearer = await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401 and bearer.json()["error"] == "invalid_token"
        assert (await c.get("/whoami", headers={"Authorization": "Bearer " + issuer.app_token()})).status_code == 200
    async with client(api(make_guard(accept_bound_as_bearer=True))) as c:  # the opt-out: as before
        assert (await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})).status_code == 200


# -- per route -----------------------------------------------------------------------------------------

async def test_route_requiring_dpop(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    async with client(api(make_guard(dpop="allowed"))) as c:
        plain = await c.get("/strict", headers={"Authorization": "Bearer " + issuer.app_token()})
        assert plain.status_code == 401 and challenge(plain) == f'DPoP realm="api://orders", {ALGS}'
        assert (await c.get("/whoami", headers=plain.request.headers)).status_code == 200  # other routes: Bearer
        ok = await c.get("/strict", auth=DPoPAuth(bound_token(issuer, key), key))
        assert ok.status_code == 200


async def test_route_requirement_cannot_be_met_by_an_issuer_that_is_off(
        make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A cnf.jkt token from an issuer whose proofs are not checked proves nothing to the route."""
    async with client(api(make_guard())) as c:
        r = await c.get("/strict", headers={"Authorization": "Bearer " + bound_token(issuer, key)})
    # Refused already by the middleware: a bound token is never Bearer (RFC 9449 §7.2).
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_middleware_requirement_enables_dpop_for_its_app(make_guard: GuardFactory, issuer: LocalIssuer,
                                                                key: DPoPKey) -> None:
    """GuardMiddleware(requirement=Requirement(dpop="required")) tightens an issuer that is off."""
    app = api(make_guard(), requirement=Requirement(dpop="required"))
    async with client(app) as c:
        assert (await c.get("/whoami", auth=DPoPAuth(bound_token(issuer, key), key))).status_code == 200
        bearer = await c.get("/whoami", headers={"Authorization": "Bearer " + issuer.app_token()})
        assert bearer.status_code == 401 and challenge(bearer) == f'DPoP realm="api://orders", {ALGS}'


# -- nonces (RFC 9449 §9) --------------------------------------------------------------------------------

async def test_server_nonce_round_trip(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    guard = make_guard({"dpop": {"nonce": True}}, dpop="allowed")
    token = bound_token(issuer, key)
    async with client(api(guard)) as c:
        first = await c.get("/whoami", headers=dpop_headers(key, token))
        assert first.status_code == 401 and first.json()["error"] == "use_dpop_nonce"
        assert 'error="use_dpop_nonce"' in challenge(first) and first.headers["DPoP-Nonce"]
        nonce = first.headers["DPoP-Nonce"]
        ok = await c.get("/whoami", headers=dpop_headers(key, token, nonce=nonce))
        assert ok.status_code == 200
        forged = await c.get("/whoami", headers=dpop_headers(key, token, nonce="forged-nonce"))
        assert forged.status_code == 401 and forged.json()["error"] == "use_dpop_nonce"
        auth = DPoPAuth(token, key)  # the testing client retries once with the nonce it was sent
        assert (await c.get("/whoami", auth=auth)).status_code == 200 and auth.nonce is not None


async def test_nonce_expires(issuer: LocalIssuer, key: DPoPKey) -> None:
    from s2s_guard import Guard

    now = [1_700_000_000.0]
    guard = Guard.from_config({**issuer.guard_config(dpop="allowed"), "leeway": 10**9,
                               "dpop": {"nonce": True, "nonce_lifetime": 60}}, clock=lambda: now[0])
    token = bound_token(issuer, key)
    async with client(api(guard)) as c:
        nonce = (await c.get("/whoami", headers=dpop_headers(key, token, iat=now[0]))).headers["DPoP-Nonce"]
        assert (await c.get("/whoami", headers=dpop_headers(key, token, iat=now[0], nonce=nonce))).status_code == 200
        now[0] += 61
        late = await c.get("/whoami", headers=dpop_headers(key, token, iat=now[0], nonce=nonce))
        assert late.status_code == 401 and late.json()["error"] == "use_dpop_nonce"
    guard.close()


# -- the URL behind proxies: trusted only when configured ----------------------------------------------

PUBLIC = "https://api.example.com/orders-api/whoami"
X_FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com",
               "X-Forwarded-Prefix": "/orders-api"}


async def test_x_forwarded_headers_are_ignored_by_default(make_guard: GuardFactory, issuer: LocalIssuer,
                                                          key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    async with client(api(make_guard(dpop="allowed"))) as c:
        r = await c.get("/whoami", headers={**dpop_headers(key, token, url=PUBLIC), **X_FORWARDED})
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"


async def test_x_forwarded_headers_when_trusted(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    guard = make_guard({"trusted_proxy": {"url_headers": "x-forwarded"}}, dpop="allowed")
    async with client(api(guard)) as c:
        ok = await c.get("/whoami", headers={**dpop_headers(key, token, url=PUBLIC), **X_FORWARDED})
        assert ok.status_code == 200
        spoofed = {**X_FORWARDED, "X-Forwarded-Host": "evil.example, api.example.com"}  # the proxy appended
        assert (await c.get("/whoami", headers={**dpop_headers(key, token, url=PUBLIC), **spoofed})).status_code == 200
        internal = await c.get("/whoami", headers={**dpop_headers(key, token), **X_FORWARDED})
        assert internal.status_code == 401  # a proof for the server's own URL does not fit the public one


async def test_forwarded_header_when_trusted(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    guard = make_guard({"trusted_proxy": {"url_headers": "forwarded"}}, dpop="allowed")
    url = "https://api.example.com:8443/whoami"
    forwarded = 'for=192.0.2.60;proto=http;host=evil.example, for=198.51.100.17;proto=https;host="api.example.com:8443"'
    async with client(api(guard)) as c:
        r = await c.get("/whoami", headers={**dpop_headers(key, token, url=url), "Forwarded": forwarded})
    assert r.status_code == 200
