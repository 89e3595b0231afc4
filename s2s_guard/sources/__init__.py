"""Key and token sources: the only modules that perform I/O (files at start-up, HTTP at run time)."""

from .jwks import KeySource, RemoteJWKS, StaticKeys, key_source_for

__all__ = ["KeySource", "RemoteJWKS", "StaticKeys", "key_source_for"]
