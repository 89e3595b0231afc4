"""Guard.revoke / arevoke with sha256=: the token's hash from its principal refuses it from then on."""

from __future__ import annotations

import anyio
import pytest

from s2s_guard import Guard, InvalidToken
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
ISS = "https://idp.example.test"


@pytest.fixture
def idp() -> LocalIssuer:
    return LocalIssuer(issuer=ISS, audience=AUD, algorithms=("EdDSA",))


def make_guard(idp: LocalIssuer) -> Guard:
    return Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["EdDSA"], "jwks": idp.jwks()}]})


def test_revoke_by_sha256_refuses_that_token_only(idp: LocalIssuer) -> None:
    guard = make_guard(idp)
    token, other = (idp.mint({"client_id": "a", "sub": "a", "jti": j}, alg="EdDSA") for j in ("j1", "j2"))
    principal = guard.authenticate_sync("Bearer " + token)
    guard.revoke(sha256=principal.token_sha256)
    with pytest.raises(InvalidToken):
        guard.authenticate_sync("Bearer " + token)
    assert guard.authenticate_sync("Bearer " + other).policy == "app-only"


def test_arevoke_by_sha256(idp: LocalIssuer) -> None:
    guard = make_guard(idp)
    token = idp.mint({"client_id": "a", "sub": "a"}, alg="EdDSA")

    async def main() -> None:
        principal = await guard.authenticate("Bearer " + token)
        await guard.arevoke(sha256=principal.token_sha256)
        with pytest.raises(InvalidToken):
            await guard.authenticate("Bearer " + token)

    anyio.run(main)


def test_revoke_sha256_given_a_token_is_refused_and_nothing_is_stored(idp: LocalIssuer) -> None:
    guard = make_guard(idp)
    token = idp.mint({"client_id": "a", "sub": "a"}, alg="EdDSA")
    with pytest.raises(ValueError, match="revoke\\(token=...\\)"):
        guard.revoke(sha256=token)
    assert guard.authenticate_sync("Bearer " + token).policy == "app-only"
