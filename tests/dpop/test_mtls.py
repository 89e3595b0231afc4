"""RFC 8705 certificate-bound tokens over real TLS on loopback (uvicorn, httpx client certificates).

Two ways the certificate reaches the guard: the ASGI TLS extension (uvicorn plus
``TLSExtensionProtocol``, see ``mtls_support``), and an RFC 9440 ``Client-Cert`` header from a
TLS-terminating proxy, trusted only when ``[trusted_proxy] client_cert_header`` names it.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dpop_support import api
from loopback import serve_uvicorn
from mtls_support import CA, Issued, TLSProxy, serve_tls

from s2s_guard import BindingMismatch, Guard
from s2s_guard.core.mtls import certificate_from_header, certificate_thumbprint
from s2s_guard.testing import LocalIssuer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CA, Issued, Issued, Issued]:
    """A CA, the server's certificate, the bound client's and another client's."""
    ca = CA(tmp_path_factory.mktemp("pki"))
    return ca, ca.issue("server", server=True), ca.issue("orders-daemon", server=False), \
        ca.issue("other-client", server=False)


def bound(issuer: LocalIssuer, client: Issued) -> str:
    """A token bound to the client's certificate (RFC 8705 §3.1: cnf.x5t#S256)."""
    return issuer.app_token("daemon-app", claims={"cnf": {"x5t#S256": certificate_thumbprint(client.der)}})


def guard_for(issuer: LocalIssuer, mtls: str = "allowed", **top: Any) -> Guard:
    return Guard.from_config({**issuer.guard_config(mtls=mtls), **top})


def get(port: int, ca: CA, client: Issued | None, token: str, **headers: str) -> httpx.Response:
    with httpx.Client(verify=ca.client_context(client), timeout=10) as http:
        return http.get(f"https://127.0.0.1:{port}/whoami", headers={"Authorization": f"Bearer {token}", **headers})


@pytest.fixture(scope="module")
def tls_extension_server(pki: tuple[CA, Issued, Issued, Issued], issuer: LocalIssuer) -> Iterator[int]:
    """uvicorn serving TLS with optional client certificates, passing them by the ASGI TLS extension."""
    ca, server, _, _ = pki
    guard = guard_for(issuer)
    with serve_tls(api(guard), ca, server) as port:
        yield port
    guard.close()


def test_thumbprint_of_pem_and_der_agree(pki: tuple[CA, Issued, Issued, Issued]) -> None:
    _, _, client, _ = pki
    assert certificate_thumbprint(client.cert.read_bytes()) == certificate_thumbprint(client.der)
    assert certificate_thumbprint(client.cert.read_text()) == certificate_thumbprint(client.der)
    header = f":{b64encode(client.der).decode()}:"  # RFC 9440 §2.1
    assert certificate_from_header(header) == client.der
    with pytest.raises(ValueError):
        certificate_thumbprint(b"not a certificate")
    with pytest.raises(ValueError):
        certificate_from_header(":not base64!:")


# -- the ASGI TLS extension ------------------------------------------------------------------------

def test_bound_token_with_its_certificate(tls_extension_server: int, pki: tuple[CA, Issued, Issued, Issued],
                                          issuer: LocalIssuer) -> None:
    ca, _, client, _ = pki
    r = get(tls_extension_server, ca, client, bound(issuer, client))
    assert r.status_code == 200 and r.json()["cnf"] == {"x5t#S256": certificate_thumbprint(client.der)}


def test_bound_token_with_another_certificate(tls_extension_server: int, pki: tuple[CA, Issued, Issued, Issued],
                                              issuer: LocalIssuer) -> None:
    ca, _, client, other = pki
    r = get(tls_extension_server, ca, other, bound(issuer, client))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert r.json()["error_description"].startswith("The access token is bound")


def test_bound_token_without_a_certificate(tls_extension_server: int, pki: tuple[CA, Issued, Issued, Issued],
                                           issuer: LocalIssuer) -> None:
    ca, _, client, _ = pki
    token = bound(issuer, client)
    assert get(tls_extension_server, ca, None, token).status_code == 401
    # A Client-Cert header is not trusted unless configured: the forged one changes nothing.
    forged = f":{b64encode(client.der).decode()}:"
    assert get(tls_extension_server, ca, None, token, **{"Client-Cert": forged}).status_code == 401


def test_unbound_token_is_accepted_when_allowed(tls_extension_server: int, pki: tuple[CA, Issued, Issued, Issued],
                                                issuer: LocalIssuer) -> None:
    ca, _, _, other = pki
    assert get(tls_extension_server, ca, other, issuer.app_token()).status_code == 200
    assert get(tls_extension_server, ca, None, issuer.app_token()).status_code == 200


def test_required_refuses_unbound_tokens(pki: tuple[CA, Issued, Issued, Issued], issuer: LocalIssuer) -> None:
    ca, server, client, _ = pki
    guard = guard_for(issuer, mtls="required")
    with serve_tls(api(guard), ca, server) as port:
        assert get(port, ca, client, issuer.app_token()).status_code == 401
        assert get(port, ca, client, bound(issuer, client)).status_code == 200
    guard.close()


def test_off_refuses_cnf_unless_opted_out(pki: tuple[CA, Issued, Issued, Issued], issuer: LocalIssuer) -> None:
    """RFC 8705 §3: without mtls on the issuer the binding is not checked, so the bound token is refused;
    ``accept_bound_as_bearer`` restores the behaviour before RFC 8705 support."""
    _, _, client, _ = pki
    guard = guard_for(issuer, mtls="off")
    with pytest.raises(BindingMismatch):
        guard.authenticate_sync("Bearer " + bound(issuer, client))
    guard.close()
    guard = Guard.from_config(issuer.guard_config(mtls="off", accept_bound_as_bearer=True))
    assert guard.authenticate_sync("Bearer " + bound(issuer, client)).app is not None
    guard.close()


# -- a TLS-terminating proxy and the RFC 9440 Client-Cert header ---------------------------------------

@pytest.mark.parametrize("trusted", [True, False])
def test_client_cert_header_from_a_trusted_proxy(pki: tuple[CA, Issued, Issued, Issued], issuer: LocalIssuer,
                                                 trusted: bool) -> None:
    ca, server, client, other = pki
    top: dict[str, Any] = {"trusted_proxy": {"client_cert_header": "Client-Cert"}} if trusted else {}
    guard = guard_for(issuer, **top)
    token = bound(issuer, client)
    with serve_uvicorn(api(guard)) as upstream, TLSProxy(server, ca.pem, upstream) as proxy:
        assert get(proxy.port, ca, client, token).status_code == (200 if trusted else 401)
        assert get(proxy.port, ca, other, token).status_code == 401
        # The proxy replaces a Client-Cert the caller sent: no certificate, no match.
        forged = f":{b64encode(client.der).decode()}:"
        assert get(proxy.port, ca, None, token, **{"Client-Cert": forged}).status_code == 401
    guard.close()


def test_url_encoded_pem_header(pki: tuple[CA, Issued, Issued, Issued]) -> None:
    """nginx's $ssl_client_escaped_cert form."""
    from urllib.parse import quote

    _, _, client, _ = pki
    pem = client.cert.read_text()
    assert certificate_thumbprint(certificate_from_header(quote(pem))) == certificate_thumbprint(client.der)
