"""What the configuration reference says that no dataclass field's ``#:`` comment can say.

:data:`KEY_DOCS` describes, in one place, the keys that fill no field of their name (``secret_env``
names the variable that fills ``secret``; the RFC 9728 members fill ``document``; ``issuer_uri``
becomes an ``[[issuers]]`` entry) and the defaults a field's own default does not tell (``name``
defaults to the ``issuer``). :data:`SETTINGS` and :data:`ENVIRONMENT` list what the library reads
outside the configuration. :mod:`~s2s_guard.config.reference` renders all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENVIRONMENT", "HEADER", "KEY_DOCS", "SETTINGS", "KeyDoc"]


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """A key's TOML type, default and meaning; an empty part is taken from the field of the key's name."""

    type: str = ""
    default: str = ""
    meaning: str = ""


_ENV_NAME = "string (a variable name)"
_DERIVED = "derived"

#: ``table.key`` (``key`` at the top level) → what the reference says of it.
KEY_DOCS: dict[str, KeyDoc] = {
    "issuer_uri": KeyDoc("string", "unset", "An issuer's URL: its discovery document is fetched once at load and "
                         "becomes an `[[issuers]]` entry (profile detected from it)."),
    "issuers.issuer_uri": KeyDoc("string", "unset", "This entry's issuer URL: `issuer`, `jwks_uri` and the profile "
                                 "are filled in from its discovery document, fetched once at load."),
    "issuers.name": KeyDoc(default="the `issuer`"),
    "issuers.issuer": KeyDoc(default="required (SharePoint: `issuer_id@realm`)"),
    "issuers.algorithms": KeyDoc(default='required with `validation = "jwt"`'),
    "issuers.audience": KeyDoc(default="the top-level `audience`"),
    "issuers.secret_env": KeyDoc(_ENV_NAME, "unset", "The environment variable holding `secret` (at least 32 "
                                 "bytes); preferred over an inline `secret`."),
    "issuers.typ": KeyDoc(default='unset (`"at+jwt"` with `require_typ`)'),
    "issuers.issuer_id": KeyDoc(default="SharePoint ACS: `00000001-0000-0000-c000-000000000000`"),
    "issuers.client_ids": KeyDoc(default="SharePoint high-trust, not a broker: `[issuer_id]`"),
    "issuers.claims.app": KeyDoc("string", "the profile's", "The claim naming the calling app (e.g. `azp`)."),
    "issuers.claims.user": KeyDoc("string", "the profile's", "The claim naming the user (e.g. `sub`)."),
    "issuers.claims.scopes": KeyDoc("string", "the profile's", "The claim holding the scopes (e.g. `scp`)."),
    "introspection.issuer": KeyDoc(default='the only `validation = "introspect"` issuer, or the only issuer'),
    "introspection.client_secret_env": KeyDoc(_ENV_NAME, "unset", "The environment variable holding "
                                              "`client_secret`; preferred over an inline `client_secret`."),
    "introspection.private_key_file": KeyDoc("string (a path)", 'required with `auth_method = "private_key_jwt"`',
                                             "PEM private key signing the RFC 7523 client assertion."),
    "cache.url": KeyDoc(default='unset; required with `backend = "redis"`'),
    "cache.secret": KeyDoc(default='unset; required with `backend = "redis"`'),
    "cache.secret_env": KeyDoc(_ENV_NAME, 'unset; this or `secret` is required with `backend = "redis"`',
                               "The environment variable holding `secret` (e.g. `S2S_GUARD_CACHE_SECRET`), "
                               "the same for every worker."),
    "cache.sentinel_password_env": KeyDoc(_ENV_NAME, "unset", "With `backend = \"redis-sentinel\"`: the "
                                          "environment variable holding the sentinels' own password "
                                          "(the master's is in `url`)."),
    "dpop.nonce_secret_env": KeyDoc(_ENV_NAME, "unset (a random secret per guard)", "The environment variable "
                                    "holding the server-nonce HMAC key (at least 32 bytes), shared by every worker."),
    "resource_metadata.resource": KeyDoc(default="the first `audience`"),
    "resource_metadata.url": KeyDoc(default=_DERIVED),
    "resource_metadata.path": KeyDoc(default=_DERIVED),
    "resource_metadata.signed": KeyDoc(default="unset (unsigned)",
                                       meaning="Sign the document (RFC 9728 §2.2): see the table below."),
    "resource_metadata.authorization_servers": KeyDoc("list of strings", "every issuer whose `iss` is a URL",
                                                      "RFC 9728 §2 `authorization_servers`."),
    "resource_metadata.bearer_methods_supported": KeyDoc("list of strings", '`["header"]` (plus `"query"` with '
                                                         "`allow_query_token`)", "RFC 9728 §2 "
                                                         "`bearer_methods_supported`: what this guard accepts."),
    "resource_metadata.resource_name": KeyDoc("string", "unset", "RFC 9728 §2 `resource_name`, for people."),
    "resource_metadata.scopes_supported": KeyDoc("list of strings", "unset", "RFC 9728 §2 `scopes_supported`."),
    "resource_metadata.dpop_signing_alg_values_supported": KeyDoc(
        "list of strings", "`[dpop] algorithms` when an issuer accepts DPoP",
        "RFC 9449 §5.2; must equal `[dpop] algorithms` when given."),
    "resource_metadata.jwks_uri": KeyDoc("string (URL)", "unset", "RFC 9728 §2 `jwks_uri`: this resource's keys."),
    "resource_metadata.resource_documentation": KeyDoc("string (URL)", "unset", "RFC 9728 §2 "
                                                       "`resource_documentation`."),
    "resource_metadata.resource_policy_uri": KeyDoc("string (URL)", "unset", "RFC 9728 §2 `resource_policy_uri`."),
    "resource_metadata.resource_tos_uri": KeyDoc("string (URL)", "unset", "RFC 9728 §2 `resource_tos_uri`."),
    "resource_metadata.dpop_bound_access_tokens_required": KeyDoc("boolean", "unset", "RFC 9449 §5.2: whether "
                                                                  "this resource always requires DPoP."),
    "resource_metadata.tls_client_certificate_bound_access_tokens": KeyDoc("boolean", "unset", "RFC 8705 §3.3: "
                                                                           "whether it accepts mTLS-bound tokens."),
    "resource_metadata.signed.issuer": KeyDoc(default="the `resource`"),
    "resource_metadata.signed.key_file": KeyDoc("string (a path)", "required", "PEM private key (RSA, EC or "
                                                "Ed25519) signing the metadata."),
    "openapi.token_url": KeyDoc(default="required"),
}

#: Framework settings read beside the configuration: (setting, where, default, meaning).
SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    ("`S2S_GUARD`", "Flask `app.config`, Django `settings`", "required",
     "The configuration: a mapping, a TOML/JSON path or a `GuardConfig`."),
    ("`S2S_GUARD_DENY_BY_DEFAULT`", "Flask `app.config`", "`True`",
     "Every request except `public_paths` and `@guard.exempt` views needs a valid token; `False` protects "
     "only the `@guard.require` views."),
    ("`S2S_GUARD_SET_USER`", "Django `settings`", "`False`",
     "Also set `request.user` to the principal (it is always on `request.principal`)."),
)

#: Environment variables the library reads itself: (variable, default, meaning).
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("`S2S_GUARD_SHOW_PII`", "unset", "`1`, `true`, `yes` or `on`: user ids and names in the logs, as "
     "`[telemetry] show_pii = true` (for a debugging session, without changing the configuration)."),
    ("`S2S_GUARD_CACHE_SECRET`", "unset", "Only a conventional name: the one the error for a Redis cache "
     "without a secret suggests for `[cache] secret_env`."),
)

HEADER = """# Configuration reference

<!-- Generated by `python -m s2s_guard.config.reference docs/configuration.md` (`make docs`) from the
configuration schema: do not edit by hand; tests/test_config_reference.py fails when it is stale. -->

Every key `load_config` accepts, whatever the source: a TOML or JSON file (`.toml` or `.json`),
a Python mapping, Flask's `app.config["S2S_GUARD"]` or Django's `settings.S2S_GUARD`. An unknown
key is refused at start-up with a `ConfigurationError` naming it. Durations are in seconds.

```toml
audience = ["api://orders"]
public_paths = ["/health"]

[[issuers]]
issuer = "https://login.example.com/"
algorithms = ["RS256"]
jwks_uri = "https://login.example.com/.well-known/jwks.json"
```"""
