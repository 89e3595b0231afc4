"""Principal construction: the per-request ``_of`` builders make what the dataclass constructors make."""

from __future__ import annotations

from dataclasses import fields

from s2s_guard.principal import AppPrincipal, Principal, UserPrincipal


def test_app_and_user_builders_match_the_constructors() -> None:
    perms = frozenset({"orders.read"})
    app = AppPrincipal(client_id="svc", issuer="https://idp", tenant="t", permissions=perms)
    assert AppPrincipal._of("svc", "https://idp", "t", perms) == app
    user = UserPrincipal(id="alice", issuer="https://idp", tenant=None, name="Alice", roles=perms)
    assert UserPrincipal._of("alice", "https://idp", None, "Alice", perms) == user
    # A new field needs a place in _of (identity_provider keeps its default there).
    assert [f.name for f in fields(AppPrincipal)] == ["client_id", "issuer", "tenant", "permissions"]
    assert [f.name for f in fields(UserPrincipal)] == ["id", "issuer", "tenant", "name", "roles",
                                                       "identity_provider"]


def test_principal_builder_sets_every_field() -> None:
    app = AppPrincipal(client_id="svc", issuer="https://idp")
    values = dict(app=app, user=None, scopes=frozenset({"a"}), claims={"sub": "svc"}, issuer="https://idp",
                  issuer_name="idp", token_sha256="ab" * 32, actors=({"client_id": "x"},),
                  token_twin_sha256="cd" * 32, actor_token_sha256="ef" * 32)
    built = Principal._of(**values)  # type: ignore[arg-type]
    assert [f.name for f in fields(Principal)] == list(values)  # a new field needs a place in _of
    assert vars(built) == vars(Principal(**values))  # type: ignore[arg-type]
    assert built.policy == "app-only" and built.identity == "svc" and repr(built) == repr(Principal(**values))  # type: ignore[arg-type]
