"""Issue 12, sender-constrained tokens and the configuration that keys them: one test per hardening.

The DPoP replay cache never forgets a live proof (RFC 9449 §11.1); a token bound by ``cnf`` is
never accepted as plain Bearer, from the cache or a shared record either (RFC 9449 §7.2, RFC 8705
§3); issuer names are unique; a proof's ``htu`` has no userinfo (RFC 9110 §4.2.4); and the RFC 9728
metadata states the DPoP algorithms the guard really accepts. Tokens come from a real
:class:`LocalIssuer` (keys fetched over HTTP from 127.0.0.1) and requests go to real uvicorn
servers on loopback, with Redis for the shared-cache case.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loopback import running_redis, serve_uvicorn
from security_kit import redis_cache
from settable_clock import Clock
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import AuthError, ConfigurationError, Guard, GuardMiddleware, Requirement, load_config
from s2s_guard.core.dpop import check_proof
from s2s_guard.core.keys import b64url
from s2s_guard.errors import BindingMismatch, InvalidDPoPProof, ServiceUnavailable
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey, bound_token

AUD = "api://orders"
OTHER_ISS = "https://other-idp.example"  # a second [[issuers]] entry, signed with the same local keys
X5T = b64url(hashlib.sha256(b"a client certificate").digest())  # RFC 8705 §3.1 cnf.x5t#S256


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey("ES256")


def guard(issuer: LocalIssuer, top: dict[str, Any] | None = None, *, clock: Any = time.time,
          **issuer_options: Any) -> Guard:
    return Guard.from_config({**issuer.guard_config(**issuer_options), **(top or {})}, clock=clock)


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.app.client_id})


def app(g: Guard) -> GuardMiddleware:
    return GuardMiddleware(Starlette(routes=[Route("/whoami", whoami)]), guard=g)


def dpop_headers(key: DPoPKey, token: str, url: str, **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token, **proof)}


# -- item 8: the DPoP replay cache never forgets a live proof (RFC 9449 §11.1) ---------------------

def test_full_replay_cache_refuses_new_proofs_instead_of_evicting_live_ones(
        issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §11.1: a jti is remembered while its proof could pass the iat check; a full cache
    (``[dpop] replay_cache_size``) answers 503 + Retry-After, fail closed, and the first proof
    stays unreplayable (a FIFO cache evicted it, so its replay was accepted)."""
    g = guard(issuer, {"dpop": {"replay_cache_size": 2}}, dpop="allowed")
    token = bound_token(issuer, key)
    with serve_uvicorn(app(g)) as port, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{port}/whoami"
        first = dpop_headers(key, token, url)
        assert http.get(url, headers=first).status_code == 200
        assert http.get(url, headers=dpop_headers(key, token, url)).status_code == 200
        full = http.get(url, headers=dpop_headers(key, token, url))
        assert full.status_code == 503 and full.json()["error"] == "temporarily_unavailable"
        assert 1 <= int(full.headers["retry-after"]) <= 62  # until the oldest proof's window closes
        replay = http.get(url, headers=first)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"
    g.close()


def test_expired_proofs_make_room_in_a_full_replay_cache(issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §11.1: entries whose window has closed may go; once they expire new proofs pass again
    (the refusal before that is what base lacked)."""
    clock = Clock()
    g = guard(issuer, {"dpop": {"replay_cache_size": 1, "iat_window": 10}}, clock=clock, dpop="allowed")
    token, url = bound_token(issuer, key), "https://api.test/whoami"

    def send() -> None:
        proof = key.proof("GET", url, access_token=token, iat=clock())
        g.authenticate_sync(f"DPoP {token}", dpop_proof=proof, method="GET", url=url)

    send()
    with pytest.raises(ServiceUnavailable) as refused:
        send()
    assert refused.value.retry_after == 11 and refused.value.status_code == 503
    clock.now += 11  # iat + iat_window + 1: the first proof can no longer be replayed
    send()
    g.close()


# -- item 9: bound tokens are never accepted as plain Bearer (RFC 9449 §7.2, RFC 8705 §3) ---------

@pytest.mark.parametrize("cnf", [{"jkt": "placeholder"}, {"x5t#S256": X5T}, "not-an-object"],
                         ids=["jkt", "x5t#S256", "malformed"])
def test_bound_token_is_not_bearer_where_binding_is_off(issuer: LocalIssuer, key: DPoPKey, cnf: object) -> None:
    """RFC 9449 §7.2 and RFC 8705 §3: a token bound to a key or certificate (``cnf``, RFC 7800 §3.1:
    a JSON object) is refused as Bearer even when the issuer's dpop and mtls are "off": 401
    invalid_token, through the middleware on a real server and through authenticate_sync."""
    if cnf == {"jkt": "placeholder"}:
        cnf = {"jkt": key.jkt}
    token = issuer.app_token(claims={"cnf": cnf})
    g = guard(issuer)
    with pytest.raises(BindingMismatch):
        g.authenticate_sync(f"Bearer {token}")
    with serve_uvicorn(app(g)) as port, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{port}/whoami"
        for _ in range(2):  # the second time too: nothing was cached
            r = http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        unbound = http.get(url, headers={"Authorization": "Bearer " + issuer.app_token()})
        assert unbound.status_code == 200  # positive control: plain tokens still pass
    assert g.lookup(f"Bearer {token}".encode()) is None
    g.close()


def test_bound_token_of_an_off_issuer_is_refused_when_another_issuer_binds(
        issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §7.2: in a guard where one issuer accepts DPoP (every request takes the sender
    path), a cnf.jkt token of another issuer whose modes are "off" is not accepted as Bearer."""
    config = issuer.guard_config(dpop="allowed")
    config["issuers"].append({**config["issuers"][0], "name": "other", "issuer": OTHER_ISS, "dpop": "off"})
    g = Guard.from_config(config)
    token = bound_token(issuer, key, claims={"iss": OTHER_ISS})
    with serve_uvicorn(app(g)) as port, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{port}/whoami"
        for _ in range(2):
            r = http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    g.close()


@pytest.mark.anyio
async def test_dpop_request_does_not_leave_a_cache_entry_for_plain_bearer(
        issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §7.2: a route demanding DPoP checks a bound token of an issuer that is "off"; the
    principal that request verified must not answer a later plain Bearer request (warm path or not)."""
    g = guard(issuer)
    token, url = bound_token(issuer, key), "https://api.test/strict"
    proof = key.proof("GET", url, access_token=token)
    strict = Requirement(dpop="required")
    principal = await g.authenticate(f"DPoP {token}", strict, dpop_proof=proof, method="GET", url=url)
    assert principal.claims["cnf"] == {"jkt": key.jkt}  # positive control: the route checked the proof
    assert g.lookup(f"Bearer {token}".encode()) is None
    with pytest.raises(BindingMismatch):
        await g.authenticate(f"Bearer {token}")
    with pytest.raises(BindingMismatch):
        g.authenticate_sync(f"Bearer {token}")
    g.close()


def test_shared_record_does_not_let_a_bound_token_through_as_bearer(issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §7.2: a worker whose issuer checks DPoP writes the verified principal to Redis; a
    worker where that issuer is "off" (a rolling configuration change) must not answer a plain
    Bearer request from that record."""
    with running_redis() as redis:
        cache = {"cache": redis_cache(redis.url)}
        checking, plain = guard(issuer, cache, dpop="allowed"), guard(issuer, cache)
        token, url = bound_token(issuer, key), "https://api.test/whoami"
        proof = key.proof("GET", url, access_token=token)
        checking.authenticate_sync(f"DPoP {token}", dpop_proof=proof, method="GET", url=url)
        for _ in range(2):  # the record is not copied into memory either: the warm path never sees it
            with pytest.raises(BindingMismatch):
                plain.authenticate_sync(f"Bearer {token}")
            assert plain.lookup(f"Bearer {token}".encode()) is None
        checking.close()
        plain.close()


def test_accept_bound_as_bearer_is_an_explicit_per_issuer_opt_out(issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §7.2 / RFC 8705 §3 relaxed only on request: ``accept_bound_as_bearer = true`` on an
    issuer whose modes are "off" accepts its bound tokens as before, and is refused where it would
    do nothing (both dpop and mtls check the binding)."""
    g = guard(issuer, accept_bound_as_bearer=True)
    assert g.authenticate_sync("Bearer " + bound_token(issuer, key)).claims["cnf"] == {"jkt": key.jkt}
    g.close()
    with pytest.raises(ConfigurationError, match=r"issuers\[0\]\.accept_bound_as_bearer"):
        load_config(issuer.guard_config(dpop="allowed", mtls="allowed", accept_bound_as_bearer=True))


# -- item 10: issuer names are unique ----------------------------------------------------------------

def _entry(iss: str, **extra: Any) -> dict[str, Any]:
    return {"issuer": iss, "algorithms": ["RS256"], "jwks_uri": "https://idp.example/jwks", **extra}


def test_duplicate_issuer_names_are_refused() -> None:
    """Configuration contract (issue 12): names key the DPoP/mTLS modes, actors, grants and shared
    records, so a second ``name = "corp"`` silently took the first entry's ``dpop = "required"``."""
    issuers = [_entry("https://a.example", name="corp", dpop="required"), _entry("https://b.example", name="corp")]
    with pytest.raises(ConfigurationError, match=r'issuers\[1\]\.name: .*issuers\[0\].*unique name') as exc:
        load_config({"audience": AUD, "issuers": issuers})
    assert "without name" not in str(exc.value)


def test_a_default_name_colliding_with_an_explicit_one_is_refused() -> None:
    """An entry without ``name`` is named by its issuer: another entry naming itself that (and so
    taking its modes and grants, which match a name or an iss) is refused, with the hint."""
    issuers = [_entry("https://a.example", name="https://b.example"), _entry("https://b.example")]
    with pytest.raises(ConfigurationError, match=r"issuers\[0\]\.name: .*issuers\[1\].*without name"):
        load_config({"audience": AUD, "issuers": issuers})
    issuers = [_entry("https://a.example"), _entry("https://b.example", name="https://a.example")]
    with pytest.raises(ConfigurationError, match=r"issuers\[1\]\.name: .*without name"):
        load_config({"audience": AUD, "issuers": issuers})


# -- strictness: htu userinfo (RFC 9110 §4.2.4) and RFC 9728 DPoP algorithms ---------------------------

def test_htu_with_userinfo_is_refused(issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §4.3 step 9 with RFC 9110 §4.2.4: a recipient treats userinfo in an http(s) URI as
    an error; the proof is refused rather than compared with the userinfo dropped."""
    now, url = time.time(), "https://api.test/whoami"
    proof = key.proof("GET", url, iat=now, htu="https://user:pw@api.test/whoami")
    with pytest.raises(InvalidDPoPProof, match="userinfo"):
        check_proof(proof, method="GET", url=url, access_token=None, algorithms=["ES256"], now=now, iat_window=60)
    g = guard(issuer, dpop="allowed")
    token = bound_token(issuer, key)
    with serve_uvicorn(app(g)) as port, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{port}/whoami"
        honest = http.get(url, headers=dpop_headers(key, token, url))
        assert honest.status_code == 200  # positive control
        sneaky = dpop_headers(key, token, url, htu=f"http://user@127.0.0.1:{port}/whoami")
        r = http.get(url, headers=sneaky)
        assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
    g.close()


def test_resource_metadata_states_the_dpop_algorithms_in_use(issuer: LocalIssuer) -> None:
    """RFC 9728 §2 and RFC 9449 §5.2: ``dpop_signing_alg_values_supported`` is derived from
    ``[dpop] algorithms`` when an issuer accepts DPoP, and served so."""
    top = {"dpop": {"algorithms": ["ES256", "EdDSA"]},
           "resource_metadata": {"resource": "https://api.example.test/orders"}}
    g = guard(issuer, top, dpop="allowed")
    path = "/.well-known/oauth-protected-resource/orders"
    with serve_uvicorn(app(g)) as port, httpx.Client(timeout=10) as http:
        document = http.get(f"http://127.0.0.1:{port}{path}").json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    g.close()


def test_resource_metadata_dpop_algorithms_out_of_step_are_refused(issuer: LocalIssuer) -> None:
    """RFC 9728 §2: metadata stating algorithms the guard refuses (or omitting ones it takes) would
    send clients to fail; a stated list that is not ``[dpop] algorithms`` is a configuration error."""
    top = {"resource_metadata": {"resource": "https://api.example.test/orders",
                                 "dpop_signing_alg_values_supported": ["RS384"]}}
    with pytest.raises(ConfigurationError, match=r"resource_metadata\.dpop_signing_alg_values_supported: .*"
                                                 r"\[dpop\] algorithms"):
        load_config({**issuer.guard_config(dpop="allowed"), **top})
    same = {"resource_metadata": {**top["resource_metadata"], "dpop_signing_alg_values_supported": ["ES256"]},
            "dpop": {"algorithms": ["ES256"]}}
    assert load_config({**issuer.guard_config(dpop="allowed"), **same}).resource_metadata is not None


def test_authentication_errors_are_auth_errors() -> None:
    """Positive control (RFC 6750 §3): the refusals above are AuthError leaves, never a 500."""
    assert issubclass(BindingMismatch, AuthError) and BindingMismatch.status_code == 401
    assert issubclass(ServiceUnavailable, AuthError) and ServiceUnavailable.status_code == 503
