"""What :func:`~s2s_guard.config.load_config` checks against but may not import.

The configuration model sits below the token profiles (``core/profiles``) and the key sources
(``sources/``), which both import it. So they register themselves here when they are imported:
``core/profiles`` its :data:`~s2s_guard.core.profiles.PROFILES` table (the names a
``profile = "..."`` may take) and ``sources/issuer_uri`` the resolver that turns ``issuer_uri``
into an ``[[issuers]]`` entry (the one step of loading that fetches). ``import s2s_guard``
imports both, through the guard, before any configuration can be loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError

__all__ = ["IssuerURIResolver", "register_issuer_uri_resolver", "register_profiles", "registered_profiles",
           "resolve_issuer_uris"]

#: ``resolver(raw) -> raw``: the configuration with every ``issuer_uri`` replaced by its entry.
IssuerURIResolver = Callable[[Mapping[str, Any]], Mapping[str, Any]]

_profiles: Collection[str] = ()
_resolver: IssuerURIResolver | None = None


def register_profiles(names: Collection[str]) -> None:
    """Accept ``profile = "..."`` for ``names``: a live view (the profiles table itself), read at each load."""
    global _profiles
    _profiles = names


def registered_profiles() -> Collection[str]:
    """The profile names an ``[[issuers]]`` entry may name."""
    return _profiles


def register_issuer_uri_resolver(resolver: IssuerURIResolver) -> None:
    """Resolve ``issuer_uri`` (top level or per issuer) with ``resolver`` when a configuration is loaded."""
    global _resolver
    _resolver = resolver


def resolve_issuer_uris(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` with its ``issuer_uri`` entries resolved, by the registered resolver."""
    if _resolver is not None:
        return _resolver(raw)
    issuers = raw.get("issuers")
    entries = issuers if isinstance(issuers, Sequence) and not isinstance(issuers, str) else ()
    if "issuer_uri" in raw or any(isinstance(e, Mapping) and "issuer_uri" in e for e in entries):
        raise ConfigurationError("issuer_uri", "needs s2s_guard.sources.issuer_uri: import s2s_guard first")
    return raw
