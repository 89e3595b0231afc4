"""An Entra ID compatible local issuer, so MSAL daemons run against the testing kit.

    with EntraLocalIssuer() as entra:
        entra.register_client("daemon", secret="s3cret")
        entra.grant_app_roles("daemon", "api://orders", ["Orders.Read.All"])
        app = msal.ConfidentialClientApplication("daemon", client_credential="s3cret",
                                                 authority=entra.authority, instance_discovery=False,
                                                 verify=entra.ca_bundle)
        token = app.acquire_token_for_client(["api://orders/.default"])["access_token"]
        guard = Guard.from_config(entra.guard_config(audience="api://orders"))

What MSAL needs and this mode gives: https (a :class:`~._tls.LocalCA` per issuer, its PEM
bundle at ``ca_bundle``), tenant-path discovery and endpoints, ``authorization_endpoint`` in the
document, and a token lifetime of an hour (MSAL treats a token with under 5 minutes left as
expired). Tokens are Entra v2.0 app-only access tokens (Microsoft identity platform access
token claims reference): ``aud`` the resource of the ``<resource>/.default`` scope, ``roles`` the
app roles granted, ``azp``/``azpacr``, ``oid`` = ``sub`` (the service principal), ``tid``,
``idtyp`` = ``app``, ``ver`` 2.0, header ``typ`` ``JWT``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ._entra_endpoints import entra_routes
from ._server import IssuerHTTPServer, make_handler
from ._tls import LocalCA, TLSIssuerServer
from .families import _object_id
from .issuer import LocalIssuer

__all__ = ["EntraLocalIssuer"]

#: Entra's default access token lifetime is 60 to 90 minutes; MSAL refreshes under 5 minutes left.
ENTRA_TOKEN_TTL = 3600.0


class EntraLocalIssuer(LocalIssuer):
    """A :class:`LocalIssuer` speaking Entra ID v2.0 over https on 127.0.0.1, for one tenant.

    ``authority`` is what MSAL takes (with ``instance_discovery=False``), ``ca_bundle`` the CA
    its http client and the guard verify the server with. App roles are granted per client and
    resource with :meth:`grant_app_roles`; clients register as usual (secret or public key).
    """

    #: Entra accepts a client assertion again while it lives; MSAL reuses one for up to 10 minutes.
    reusable_assertions = True

    def __init__(self, *, tenant_id: str | None = None, token_ttl: float = ENTRA_TOKEN_TTL,
                 algorithms: tuple[str, ...] = ("RS256",), audience: str = "api://demo",
                 ca: LocalCA | None = None, **options: Any) -> None:
        super().__init__(tenant_id=tenant_id or str(uuid.uuid4()), token_ttl=token_ttl,
                         algorithms=algorithms, audience=audience, **options)
        self.ca = ca or LocalCA()
        #: (client_id, resource) -> the app roles granted (Entra: app role assignments, admin consent).
        self.app_roles: dict[tuple[str, str], frozenset[str]] = {}
        self.routes.update(entra_routes(self.tenant_id))

    # -- server and URLs ---------------------------------------------------------------------
    def _listen(self) -> IssuerHTTPServer:
        return TLSIssuerServer(self._address, make_handler(self), self.ca.server_context())

    @property
    def url(self) -> str:
        return "https" + super().url[len("http"):]

    @property
    def ca_bundle(self) -> str:
        """The path of the PEM CA certificate that verifies this issuer's https."""
        return self.ca.ca_bundle

    @property
    def authority(self) -> str:
        """``https://127.0.0.1:<port>/<tenant>``: MSAL's ``authority`` for this tenant."""
        return f"{self.url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return self._issuer or f"{self.authority}/v2.0"

    @property
    def discovery_url(self) -> str:
        return f"{self.authority}/v2.0/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        return f"{self.authority}/discovery/v2.0/keys"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def authorization_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/authorize"

    # -- app roles and tokens ------------------------------------------------------------------
    def grant_app_roles(self, client_id: str, resource: str, roles: Iterable[str]) -> None:
        """Grant ``client_id`` these app roles of ``resource`` (they appear in its tokens' ``roles``)."""
        self.app_roles[(client_id, resource)] = frozenset(roles)

    def service_principal_id(self, client_id: str) -> str:
        """The ``oid`` (and ``sub``) of ``client_id``'s service principal in this tenant."""
        return _object_id("service-principal", f"{self.tenant_id}:{client_id}")

    def app_only_token(self, client_id: str, resource: str, *, credential: str = "1",
                       roles: Iterable[str] | None = None, ttl: float | None = None) -> str:
        """An Entra v2.0 app-only access token for ``resource``, as the token endpoint issues it.

        ``roles`` default to those granted with :meth:`grant_app_roles`; ``credential`` is
        ``azpacr``: "1" for a client secret, "2" for a certificate.
        """
        granted = sorted(self.app_roles.get((client_id, resource), ()) if roles is None else roles)
        oid = self.service_principal_id(client_id)
        claims: dict[str, Any] = {"aud": resource, "iss": self.issuer, "azp": client_id, "azpacr": credential,
                                  "idtyp": "app", "oid": oid, "sub": oid, "tid": self.tenant_id,
                                  "uti": uuid.uuid4().hex[:22], "ver": "2.0", "aio": uuid.uuid4().hex,
                                  **({"roles": granted} if granted else {})}
        return self.mint(claims, alg=self.keys[0].alg, ttl=self.token_ttl if ttl is None else ttl,
                         headers={"typ": "JWT"}, omit=("jti",))  # Entra access tokens carry uti, not jti

    def guard_config(self, *, audience: str | Sequence[str] | None = None, **issuer_options: Any) -> dict[str, Any]:
        """A guard configuration trusting this tenant the way one trusts Entra: ``entra`` profile,
        keys through the tenant's discovery document, https verified with :attr:`ca_bundle`."""
        audiences = [audience] if isinstance(audience, str) else list(audience or [self.audience])
        issuer = {"name": "local-entra", "profile": "entra", "issuer": self.issuer,
                  "algorithms": sorted({k.alg for k in self.keys}), "discovery": self.discovery_url,
                  "tenants": [self.tenant_id], "ca_bundle": self.ca_bundle, **issuer_options}
        return {"audience": audiences, "issuers": [issuer]}
