"""Testing kit: a local issuer on loopback, token minting and pytest fixtures, so users test without an IdP.

``LocalIssuer`` serves discovery, JWKS, ``/token``, ``/introspect`` and the SharePoint metadata
document, ``EntraLocalIssuer`` an Entra ID tenant's endpoints over https (for MSAL);
``mint_token`` makes every token family (and the broken ones); the pytest plugin
(``s2s_guard.testing.pytest_plugin``, registered as an entry point) gives ``s2s_issuer``,
``s2s_token``, ``s2s_guard_config`` and ``s2s_guard``.
"""

from ._tls import LocalCA
from .clients import RegisteredClient
from .entra import EntraLocalIssuer
from .issuer import LocalIssuer, SigningKey, generate_key
from .mint import BROKEN, FAMILIES, MintOptions, describe, mint_token, trust_config
from .sharepoint import HighTrustIdentity
from .state import load_state, save_state

__all__ = ["BROKEN", "FAMILIES", "EntraLocalIssuer", "HighTrustIdentity", "LocalCA", "LocalIssuer", "MintOptions",
           "RegisteredClient", "SigningKey", "describe", "generate_key", "load_state", "mint_token", "save_state",
           "trust_config"]
