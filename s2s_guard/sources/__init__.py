"""Key and token sources: the only modules that perform I/O (files at start-up, HTTP and Redis at run time)."""

from .cache import Cache, MemoryCache, SharedCache, shared_cache_for
from .discovery import Discovery, Metadata
from .introspection import Introspector
from .jwks import KeySource, RemoteJWKS, StaticKeys, key_source_for

__all__ = ["Cache", "Discovery", "Introspector", "KeySource", "MemoryCache", "Metadata", "RemoteJWKS",
           "SharedCache", "StaticKeys", "key_source_for", "shared_cache_for"]
