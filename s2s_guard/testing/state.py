"""Save and load a local issuer's keys and identities, so two processes mint and verify alike.

``s2s-guard issuer`` can write its state and ``s2s-guard mint`` read it: the tokens printed
then verify against the running issuer's JWKS and metadata. The state holds private keys:
it is written with mode 0600 and is for local testing only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          load_pem_private_key)

from .issuer import LocalIssuer, SigningKey
from .sharepoint import HighTrustIdentity

__all__ = ["dump_state", "issuer_from_state", "load_state", "save_state"]


def _pem(key: Any) -> str:
    return str(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii"))


def _key(pem: str) -> Any:
    key = load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError("unsupported key type in issuer state")
    return key


def dump_state(issuer: LocalIssuer) -> dict[str, Any]:
    """A JSON-ready snapshot: issuer string, audience, signing keys, tenant and SharePoint identity."""
    sp = issuer.sharepoint
    return {"issuer": issuer.issuer, "audience": issuer.audience, "algorithms": list(issuer.algorithms),
            "keys": [{"kid": k.kid, "alg": k.alg, "pem": _pem(k.key)} for k in issuer.keys],
            "tenant_id": issuer.tenant_id,
            "sharepoint": {"issuer_id": sp.issuer_id, "realm": sp.realm, "pem": _pem(sp.key),
                           "certificate": sp.certificate_pem.decode("ascii")}}


def issuer_from_state(state: dict[str, Any], **options: Any) -> LocalIssuer:
    """A :class:`LocalIssuer` with the saved keys; its ``issuer`` is the saved one even unstarted."""
    keys = [SigningKey(kid=k["kid"], alg=k["alg"], key=_key(k["pem"])) for k in state["keys"]]
    sp = state["sharepoint"]
    sharepoint = HighTrustIdentity(issuer_id=sp["issuer_id"], realm=sp["realm"], key=_key(sp["pem"]),
                                   certificate=x509.load_pem_x509_certificate(sp["certificate"].encode("ascii")))
    return LocalIssuer(issuer=state["issuer"], audience=state["audience"],
                       algorithms=tuple(state["algorithms"]), keys=keys, tenant_id=state["tenant_id"],
                       sharepoint=sharepoint, **options)


def save_state(issuer: LocalIssuer, path: str | os.PathLike[str]) -> None:
    """Write :func:`dump_state` to ``path``, readable by its owner only."""
    target = Path(path)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(dump_state(issuer), out, indent=2)


def load_state(path: str | os.PathLike[str], **options: Any) -> LocalIssuer:
    """The issuer saved at ``path`` (see :func:`issuer_from_state`)."""
    return issuer_from_state(json.loads(Path(path).read_text(encoding="utf-8")), **options)
