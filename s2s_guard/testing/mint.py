"""Mint any token family by name: for tests, the pytest plugin and ``s2s-guard mint``.

    token = mint_token(issuer, "entra-v2-delegated", user="alice", scopes="orders.read")

:data:`FAMILIES` are the tokens a guard accepts (when configured for their issuer and
profile), :data:`BROKEN` the ones it must refuse. :func:`describe` lists both with the
one-line description of each, for a CLI's ``--help`` or a table.
"""

from __future__ import annotations

import secrets
from typing import Any

from .broken import BROKEN
from .families import FAMILIES, Family, MintOptions, entra_issuer
from .issuer import LocalIssuer

__all__ = ["BROKEN", "FAMILIES", "MintOptions", "RESOURCE_SERVER", "describe", "mint_token", "trust_config"]

#: The client id :func:`trust_config` registers for the guard's introspection calls.
RESOURCE_SERVER = "s2s-guard-resource-server"


def _family(name: str) -> Family:
    fn = FAMILIES.get(name) or BROKEN.get(name)
    if fn is None:
        known = ", ".join([*FAMILIES, *BROKEN])
        raise KeyError(f"unknown token family {name!r}; expected one of: {known}")
    return fn


def mint_token(issuer: LocalIssuer, family: str = "app-only", **options: Any) -> str:
    """A token of ``family`` signed by ``issuer``; ``options`` are :class:`MintOptions` fields."""
    return _family(family)(issuer, MintOptions(**options))


def describe() -> dict[str, tuple[bool, str]]:
    """Every family name -> (accepted?, one-line description)."""
    rows = {name: (True, fn.__doc__ or "") for name, fn in FAMILIES.items()}
    rows.update({name: (False, fn.__doc__ or "") for name, fn in BROKEN.items()})
    return {name: (ok, doc.strip().splitlines()[0] if doc.strip() else "") for name, (ok, doc) in rows.items()}


def trust_config(issuer: LocalIssuer, *, host: str = "localhost", **top: Any) -> dict[str, Any]:
    """A guard configuration trusting every family ``issuer`` mints (for demos and tests).

    One ``[[issuers]]`` entry per format: the issuer's own JWTs (``jwt``), Entra ID v1 and v2
    (``entra``), SharePoint high-trust and ACS (keys from the issuer's metadata document, SharePoint
    on ``host``, any add-in: ``trust_broker``). ``top`` overrides top-level keys (``public_paths``...).
    """
    config = issuer.guard_config()
    entra = [{"name": f"entra-v{v[0]}", "profile": "entra", "issuer": entra_issuer(issuer.tenant_id, v),
              "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri} for v in ("1.0", "2.0")]
    sp = issuer.sharepoint
    sharepoint = [{"name": name, "profile": name, "realm": sp.realm.lower(), "algorithms": ["RS256"],
                   "metadata_url": issuer.metadata_url, "hosts": [host],
                   **({"issuer_id": sp.issuer_id.lower(), "trust_broker": True}
                      if name == "sharepoint-high-trust" else {})}  # ACS is always a broker
                  for name in ("sharepoint-high-trust", "sharepoint-acs")]
    return {**config, "issuers": [*config["issuers"], *entra, *sharepoint],
            "introspection": _introspection(issuer), **top}


def _introspection(issuer: LocalIssuer) -> dict[str, Any]:
    """Register the guard as a client of ``issuer`` so it can introspect opaque tokens (RFC 7662)."""
    client = issuer.clients.get(RESOURCE_SERVER) or issuer.register_client(
        RESOURCE_SERVER, secret=secrets.token_urlsafe(32))
    return {"endpoint": issuer.introspection_url, "issuer": "local", "client_id": client.client_id,
            "client_secret": client.secret}
