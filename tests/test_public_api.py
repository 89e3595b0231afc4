"""The public API is small and pinned: adding a name is a decision, renaming one breaks users."""

from __future__ import annotations

import subprocess
import sys

import s2s_guard

EXPECTED = {
    "AppPrincipal", "AuthError", "BadSignature", "ConfigurationError", "DisallowedAlgorithm",
    "Guard", "GuardConfig", "GuardMiddleware", "InsufficientScope", "InvalidAudience",
    "InvalidClaim", "InvalidRequest", "InvalidToken", "InvalidTokenType", "IssuerConfig",
    "MalformedToken", "MissingToken", "Policy", "Principal", "Requirement", "ServiceUnavailable",
    "TokenExpired", "TokenIssuedInFuture", "TokenNotYetValid", "TokenTooLarge", "UnknownIssuer",
    "UnknownKey", "UnsupportedCritical", "UserPrincipal", "load_config", "requires",
    # RFC 8693 delegation policy, RFC 9449 DPoP and RFC 8705 certificate binding refusals.
    "BindingMismatch", "DelegationNotAllowed", "DPoPRequired", "InvalidDPoPProof", "UseDPoPNonce",
    # Issue 14: a 403 says which check failed (policy, scope, right; delegation above).
    "MissingRight", "MissingScope", "PolicyMismatch",
}


def test_all_is_sorted_and_pinned() -> None:
    assert s2s_guard.__all__ == sorted(s2s_guard.__all__)
    assert EXPECTED <= set(s2s_guard.__all__), EXPECTED - set(s2s_guard.__all__)
    for name in s2s_guard.__all__:
        assert getattr(s2s_guard, name).__module__.startswith("s2s_guard") or name == "Policy"


def test_every_public_name_is_documented() -> None:
    for name in s2s_guard.__all__:
        obj = getattr(s2s_guard, name)
        if callable(obj) and name != "Policy":
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_auth_error_fields() -> None:
    err = s2s_guard.TokenExpired("detail for logs", realm="api")
    assert (err.status_code, err.error) == (401, "invalid_token")
    assert err.description == "The access token expired"
    assert err.www_authenticate == ('Bearer realm="api", error="invalid_token", '
                                    'error_description="The access token expired"')


def test_importing_s2s_guard_imports_no_framework() -> None:
    code = ("import sys, s2s_guard; bad = [m for m in ('flask', 'django', 'fastapi', 'redis') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_is_shipped() -> None:
    from importlib.resources import files

    assert files("s2s_guard").joinpath("py.typed").is_file()
