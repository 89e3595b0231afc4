"""The configuration reference (``docs/configuration.md``), generated from the configuration schema.

The schema is what :func:`~s2s_guard.config.load_config` accepts: the allowed-key set of each
section module (``_TOP_KEYS``, ``_ISSUER_KEYS``, ...). A key's type and default come from the
dataclass field it fills, its meaning from that field's ``#:`` comment. Keys that fill no field
of their name (``secret_env``, the RFC 9728 document members, ``issuer_uri``) are described in
:data:`KEY_DOCS`, the one place for them. A key with neither is reported by :func:`undocumented`
(``tests/test_config_reference.py`` fails on it), so a key added to a section cannot ship without
a description. Run ``python -m s2s_guard.config.reference docs/configuration.md`` (``make docs``).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from ..grants import Grant
from . import binding, cache, delegation, introspection, issuers, load, openapi, profile_options
from . import grants as grant_section
from . import resource_metadata as rm
from . import telemetry
from .reference_docs import ENVIRONMENT, HEADER, KEY_DOCS, SETTINGS, KeyDoc

__all__ = ["SECTIONS", "Row", "Section", "field_comments", "main", "render", "rows", "stale_docs", "undocumented"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One TOML table: its path (``""`` for the top level), allowed keys and the dataclass they fill."""

    table: str
    heading: str
    keys: Collection[str]
    model: type | None
    intro: str


#: Every table ``load_config`` reads, in the order a configuration file usually has them.
SECTIONS: tuple[Section, ...] = (
    Section(table="", heading="Top level", keys=load._TOP_KEYS, model=load.GuardConfig,
            intro="Keys of the file itself (or of its `[s2s_guard]` table, in a shared file)."),
    Section(table="issuers", heading="[[issuers]]", keys=issuers._ISSUER_KEYS, model=issuers.IssuerConfig,
            intro="One entry per trusted token issuer; `issuer` and (for JWTs) `algorithms` are required. "
                  "Profile options are refused on profiles that do not use them."),
    Section(table="issuers.claims", heading="[issuers.claims]", keys=profile_options._CLAIM_ROLES, model=None,
            intro="`jwt` profile only: the claim names of the app, the user and the scopes."),
    Section(table="introspection", heading="[introspection]", keys=introspection._INTROSPECTION_KEYS,
            model=introspection.IntrospectionConfig,
            intro="RFC 7662 token introspection, for issuers with `validation = \"introspect\"` and opaque tokens."),
    Section(table="cache", heading="[cache]", keys=cache._CACHE_KEYS, model=cache.CacheConfig,
            intro="Where verified tokens, keys and the revoked set live: this process, or Redis shared by workers."),
    Section(table="dpop", heading="[dpop]", keys=binding._DPOP_KEYS, model=binding.DPoPConfig,
            intro="RFC 9449 proof checks, for issuers whose `dpop` is \"allowed\" or \"required\"."),
    Section(table="trusted_proxy", heading="[trusted_proxy]", keys=binding._PROXY_KEYS,
            model=binding.TrustedProxyConfig, intro="Headers of a reverse proxy in front of this API; none by default."),
    Section(table="telemetry", heading="[telemetry]", keys=telemetry._TELEMETRY_KEYS,
            model=telemetry.TelemetryConfig, intro="The audit log and OpenTelemetry."),
    Section(table="grants", heading="[[grants]]", keys=grant_section._GRANT_KEYS, model=Grant,
            intro="App rights on resource path prefixes, for tokens that carry no permissions."),
    Section(table="delegation", heading="[delegation]", keys=delegation._KEYS, model=delegation.DelegationConfig,
            intro="RFC 8693 delegation rules for every token."),
    Section(table="resource_metadata", heading="[resource_metadata]", keys=rm._KEYS,
            model=rm.ResourceMetadataConfig,
            intro="RFC 9728 protected resource metadata: served by the guard and named in its challenges."),
    Section(table="resource_metadata.signed", heading="[resource_metadata.signed]", keys=rm._SIGNED_KEYS,
            model=rm.SignedMetadataConfig, intro="RFC 9728 §2.2 `signed_metadata`: who attests and the signing key."),
    Section(table="openapi", heading="[openapi]", keys=openapi._KEYS, model=openapi.OpenAPIConfig,
            intro="The OAuth 2.0 client-credentials flow FastAPI's OpenAPI document offers (docs only)."),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One key of the reference: its TOML type, default and meaning (``""``: undocumented)."""

    key: str
    type: str
    default: str
    meaning: str


#: TOML types of the annotations configuration fields use; a new annotation must be added here.
_TYPES = {
    "str": "string", "str | None": "string", "bytes | None": "string", "bool": "boolean",
    "float": "number", "int": "integer", "int | None": "integer",
    "tuple[str, ...]": "string or list of strings", "tuple[str, ...] | None": "string or list of strings",
    "frozenset[str] | None": "list of strings",
    "tuple[str, ...] | Literal['any'] | None": 'list of strings, or "any"',
    "Mapping[str, Any] | None": "table", "Mapping[str, str] | None": "table", "Mapping[str, str]": "table",
    "Right": "string", "tuple[IssuerConfig, ...]": "array of tables", "tuple[Grant, ...]": "array of tables",
    "IntrospectionConfig | None": "table", "CacheConfig": "table", "ResourceMetadataConfig | None": "table",
    "DelegationConfig | None": "table", "DPoPConfig": "table", "TrustedProxyConfig": "table",
    "TelemetryConfig": "table", "OpenAPIConfig | None": "table", "SignedMetadataConfig | None": "table",
}
_FIELD = re.compile(r"\s+(\w+)\s*:")


def field_comments(model: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``model`` (Sphinx's convention: it documents the next field)."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD.match(line)
        if match and pending:
            comments[match.group(1)] = " ".join(pending)
        pending = []
    return comments


def _literal(value: Any) -> str:
    """A default as TOML spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (tuple, list, frozenset)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return "unset" if field.default is None else f"`{_literal(field.default)}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        return "see its table" if dataclasses.is_dataclass(made) else f"`{_literal(made) if made else '{}'}`"
    return "required"


def rows(section: Section) -> Iterator[Row]:
    """The section's keys, sorted: an explicit :data:`KEY_DOCS` entry, else the field of that name."""
    fields = {f.name: f for f in dataclasses.fields(section.model)} if section.model else {}
    comments = field_comments(section.model) if section.model else {}
    for key in sorted(section.keys):
        doc = KEY_DOCS.get(f"{section.table}.{key}" if section.table else key)
        field = fields.get(key)
        if doc is None and field is None:
            yield Row(key, "", "", "")
            continue
        base = Row(key, _TYPES.get(str(field.type), "") if field else "", _default(field) if field else "",
                   comments.get(key, "") if field else "")
        yield _merged(base, doc)


def _merged(row: Row, doc: KeyDoc | None) -> Row:
    if doc is None:
        return row
    return Row(row.key, doc.type or row.type, doc.default or row.default, doc.meaning or row.meaning)


def undocumented() -> list[str]:
    """Every key missing a type, a default or a meaning (``"cache.url: meaning"``): the test wants none.

    The fix: a ``#:`` comment on the field the key fills, its annotation in ``_TYPES``, or an entry
    in :data:`~s2s_guard.config.reference_docs.KEY_DOCS` for a key that fills no field of its name.
    """
    found = []
    for section in SECTIONS:
        for row in rows(section):
            missing = [part for part in ("type", "default", "meaning") if not getattr(row, part)]
            if missing:
                found.append(f"{section.table}.{row.key}".lstrip(".") + ": " + ", ".join(missing))
    return found


def stale_docs() -> list[str]:
    """:data:`KEY_DOCS` entries naming no key of the schema (a key renamed or removed)."""
    keys = {f"{s.table}.{key}" if s.table else key for s in SECTIONS for key in s.keys}
    return sorted(set(KEY_DOCS) - keys)


def _cell(text: str) -> str:
    """Markdown from a field comment: double backticks become single ones, pipes are escaped."""
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ")


def _table(lines: list[str], header: tuple[str, ...], body: Iterator[tuple[str, ...]]) -> None:
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    lines.append("")


def render() -> str:
    """The whole reference page, as committed in ``docs/configuration.md``."""
    lines = [HEADER, ""]
    for section in SECTIONS:
        lines += [f"## `{section.heading}`" if section.table else f"## {section.heading}", "", section.intro, ""]
        _table(lines, ("Key", "Type", "Default", "Meaning"),
               ((f"`{r.key}`", r.type, r.default, r.meaning) for r in rows(section)))
    lines += ["## Framework settings", "",
              "Read from Flask's `app.config` or Django's `settings`, beside the configuration itself.", ""]
    _table(lines, ("Setting", "Where", "Default", "Meaning"), iter(SETTINGS))
    lines += ["## Environment variables", "",
              "Read by the library itself; the `*_env` keys above name further variables of your choosing.", ""]
    _table(lines, ("Variable", "Default", "Meaning"), iter(ENVIRONMENT))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    """``python -m s2s_guard.config.reference [PATH]``: write the reference to PATH (or stdout)."""
    missing = undocumented()
    if missing:
        print("configuration keys lacking documentation (add a #: comment on the field, or an entry in "
              "config/reference_docs.py): " + "; ".join(missing), file=sys.stderr)
        return 1
    if len(argv) > 1:
        with open(argv[1], "w", encoding="utf-8") as out:
            out.write(render())
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
