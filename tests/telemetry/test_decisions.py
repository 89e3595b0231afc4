"""Decisions through a real Guard against a LocalIssuer on 127.0.0.1: counted by outcome and
low-cardinality reason (``AuthError.reason``), timed, traced, and the verified-cache hits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from opentelemetry.trace import StatusCode
from telemetry_kit import AUD, Recorded, guard_for

from s2s_guard import AuthError, Guard, Requirement
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.issuer import generate_key


def refusal(guard: Guard, header: Any, requirement: Requirement | None = None) -> AuthError:
    with pytest.raises(AuthError) as caught:
        guard.authenticate_sync(header, requirement)
    return caught.value


def test_an_accepted_token_is_counted_timed_and_traced(issuer: LocalIssuer, otel: Recorded) -> None:
    guard = guard_for(issuer, otel)
    token = issuer.app_token("billing", scopes="orders.read")
    guard.authenticate_sync(f"Bearer {token}")
    guard.authenticate_sync(f"Bearer {token}")  # the second time from the verified-token cache
    [(fresh, one), (cached, also_one)] = sorted(otel.points("s2s_guard.decisions"), key=lambda p: p[0]["cached"])
    assert fresh == {"outcome": "accepted", "stage": "authenticate", "cached": False, "policy": "app-only",
                     "issuer": "local"} and one == 1
    assert cached == {**fresh, "cached": True} and also_one == 1
    assert otel.count("s2s_guard.decision.duration", outcome="accepted") == 2
    assert otel.count("s2s_guard.cache.lookups", cache="verified", hit=False) == 1
    assert otel.count("s2s_guard.cache.lookups", cache="verified", hit=True) == 1
    spans = otel.spans()
    assert len(spans) == 2 and all(span.attributes is not None for span in spans)
    attributes = dict(spans[0].attributes or {})
    assert attributes["s2s_guard.outcome"] == "accepted" and attributes["s2s_guard.app_id"] == "billing"
    assert token not in repr([dict(span.attributes or {}) for span in spans])


def _wrong_key_token(issuer: LocalIssuer) -> str:
    impostor = generate_key("RS256", kid=issuer.key_for("RS256").kid)  # same kid, another key
    return issuer.mint({"client_id": "billing"}, key=impostor.key, headers={"kid": impostor.kid})


#: reason -> (status, issuer attribute, how to get refused)
CASES: dict[str, tuple[int, str | None, Callable[[LocalIssuer], Any]]] = {
    "missing_token": (401, None, lambda iss: None),
    "malformed": (401, None, lambda iss: "Bearer not.a-jwt"),
    "unknown_issuer": (401, None, lambda iss: "Bearer " + iss.app_token(claims={"iss": "https://elsewhere.test"})),
    "expired": (401, "local", lambda iss: "Bearer " + iss.app_token("billing", ttl=-3600)),
    "bad_audience": (401, "local", lambda iss: "Bearer " + iss.app_token(claims={"aud": "api://other"})),
    "unknown_kid": (401, "local", lambda iss: "Bearer " + iss.app_token(headers={"kid": "retired-key"})),
    "bad_signature": (401, "local", lambda iss: "Bearer " + _wrong_key_token(iss)),
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_refusal_is_counted_with_its_reason(issuer: LocalIssuer, otel: Recorded, reason: str) -> None:
    status, issuer_name, header = CASES[reason]
    guard = guard_for(issuer, otel)
    guard.authenticate_sync("Bearer " + issuer.app_token())  # the JWKS is fetched: kid checks are exact
    error = refusal(guard, header(issuer))
    assert error.reason == reason
    refused = [attrs for attrs, _ in otel.points("s2s_guard.decisions") if attrs["outcome"] == "refused"]
    expected = {"outcome": "refused", "stage": "authenticate", "cached": False, "reason": reason, "status": status}
    assert refused == [{**expected, **({"issuer": issuer_name} if issuer_name else {})}]
    [span] = [s for s in otel.spans() if (s.attributes or {}).get("s2s_guard.outcome") == "refused"]
    assert (span.attributes or {})["error.type"] == reason
    assert span.status.status_code is StatusCode.UNSET  # a refusal is an answer, not a failure
    assert not span.events  # no exception event (its message would carry details)


def test_insufficient_scope_names_the_principal(issuer: LocalIssuer, otel: Recorded) -> None:
    guard = guard_for(issuer, otel)
    token = issuer.user_token("alice", "web-app", scopes="orders.read")
    refusal(guard, f"Bearer {token}", Requirement(scopes=["orders.write"]))
    [(attrs, count)] = [p for p in otel.points("s2s_guard.decisions") if p[0]["outcome"] == "refused"]
    assert attrs == {"outcome": "refused", "stage": "authenticate", "cached": False, "reason": "insufficient_scope",
                     "status": 403, "policy": "user+app", "issuer": "local"} and count == 1
    refusal(guard, f"Bearer {token}", Requirement(scopes=["orders.write"]))  # now a cached principal
    assert otel.count("s2s_guard.decisions", reason="insufficient_scope", cached=True) == 1


def test_route_refusals_are_authorize_decisions(issuer: LocalIssuer, otel: Recorded) -> None:
    guard = guard_for(issuer, otel)
    principal = guard.authenticate_sync("Bearer " + issuer.app_token("billing"))
    guard.authorize(principal, Requirement(policy="app-only"))  # a grant is not a second decision
    with pytest.raises(AuthError):
        guard.authorize(principal, Requirement(policy="user+app"))
    assert otel.count("s2s_guard.decisions", outcome="accepted") == 1
    assert otel.count("s2s_guard.decisions", outcome="refused", stage="authorize", policy="app-only",
                      issuer="local", status=403) == 1


def test_an_unreachable_jwks_is_a_503_decision_and_an_error_span(issuer: LocalIssuer, otel: Recorded) -> None:
    config = issuer.guard_config(jwks_uri="http://127.0.0.1:9/jwks", timeout=1)  # discard port: refused
    guard = Guard.from_config(config, telemetry=otel.telemetry)
    assert refusal(guard, "Bearer " + issuer.app_token()).status_code == 503
    assert otel.count("s2s_guard.decisions", reason="unavailable", status=503, issuer="local") == 1
    assert otel.count("s2s_guard.jwks.refreshes", issuer="local", result="error") == 1
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR


def test_async_and_warm_path_decisions(issuer: LocalIssuer, otel: Recorded) -> None:
    guard = guard_for(issuer, otel)
    token = issuer.app_token("billing")

    async def main() -> None:
        await guard.authenticate(f"Bearer {token}", path="/orders")
        assert guard.lookup(f"Bearer {token}".encode(), None, "/orders") is not None
        assert guard.lookup(b"Bearer unknown", None, "/orders") is None  # a miss is not a decision

    anyio.run(main)
    assert otel.count("s2s_guard.decisions", outcome="accepted", cached=False) == 1
    assert otel.count("s2s_guard.decisions", outcome="accepted", cached=True) == 1
    assert len(otel.spans()) == 2


def test_custom_telemetry_gets_every_event(issuer: LocalIssuer) -> None:
    from s2s_guard.telemetry import Decision, Telemetry

    class Collect(Telemetry):
        def __init__(self) -> None:
            self.events: list[Any] = []

        def decision(self, event: Decision, span: Any = None) -> None:
            self.events.append(event)

        def jwks_refresh(self, issuer: str, result: str) -> None:
            self.events.append(("jwks", issuer, result))

    collect = Collect()
    guard = Guard.from_config({**issuer.guard_config(), "telemetry": {"audit": False}}, telemetry=collect)
    token = issuer.app_token("billing")
    guard.authenticate_sync(f"Bearer {token}", path="/x")
    assert collect.events[0] == ("jwks", "local", "ok")
    decision = collect.events[1]
    assert (decision.outcome, decision.app, decision.path, decision.cached) == ("accepted", "billing", "/x", False)
    assert len(decision.token_sha256) == 12 and decision.token_sha256 not in token


def test_otel_from_configuration_uses_the_global_providers(issuer: LocalIssuer) -> None:
    from opentelemetry import metrics, trace
    recorded = Recorded()  # installed as the process's global providers (they can be set once)
    metrics.set_meter_provider(recorded.meters)
    trace.set_tracer_provider(recorded.tracers)
    guard = Guard.from_config({**issuer.guard_config(), "telemetry": {"otel": True, "audit": False}})
    guard.authenticate_sync("Bearer " + issuer.app_token("billing"))
    assert recorded.count("s2s_guard.decisions", outcome="accepted", policy="app-only", issuer="local") == 1
    assert [dict(s.attributes or {})["s2s_guard.app_id"] for s in recorded.spans()] == ["billing"]
    spanless = Guard.from_config({**issuer.guard_config(), "telemetry": {"otel": True, "spans": False}})
    spanless.authenticate_sync("Bearer " + issuer.app_token("billing"))
    assert recorded.count("s2s_guard.decisions", outcome="accepted") == 2 and len(recorded.spans()) == 1
