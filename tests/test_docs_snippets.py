"""Every ```toml block in docs/ and README.md is a configuration the current code accepts.

A block is loaded with ``load_config`` as a complete configuration, unless the line before it is
``<!-- snippet: partial -->``: a fragment (an ``[[issuers]]`` entry or a table shown alone) is
completed with the least it lacks (an ``audience``; ``issuer``, ``algorithms`` and ``jwks_uri`` for
an ``[[issuers]]`` entry of the ``jwt`` profile without them; an issuer when there is none) and
then loaded the same way, so fragments cannot drift either. A block after
``<!-- snippet: fetches -->`` (``issuer_uri``, which reads the issuer's discovery document at
load) is parsed as TOML and its keys checked against the schema with the fetch left out.
Environment variables named by
``*_env`` keys are set to a 32-byte secret for the load. Failures name the file and line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s2s_guard import load_config

ROOT = Path(__file__).resolve().parent.parent
PARTIAL = "<!-- snippet: partial -->"
FETCHES = "<!-- snippet: fetches -->"
_FENCE = re.compile(r"^(\s*)```toml\s*$")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, the marker before it or "", text) of each ```toml block, de-indented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        fence = _FENCE.match(line)
        if fence is None:
            continue
        indent = len(fence.group(1))
        body: list[str] = []
        for inner in lines[i + 1:]:
            if inner.strip() == "```":
                break
            body.append(inner[indent:])
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        yield i + 1, previous if previous in (PARTIAL, FETCHES) else "", "\n".join(body) + "\n"


SNIPPETS = [pytest.param(marker, text, id=f"{path.relative_to(ROOT)}:{line}")
            for path in _documents() for line, marker, text in _blocks(path)]


def _env_names(value: Any) -> Iterator[str]:
    """The values of every ``*_env`` key, at any depth: the variables a configuration reads."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_env") and isinstance(item, str):
                yield item
            else:
                yield from _env_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _env_names(item)


_BASE_ISSUER = {"issuer": "https://idp.example.com", "algorithms": ["RS256"],
                "jwks_uri": "https://idp.example.com/jwks"}


def _completed(fragment: dict[str, Any]) -> dict[str, Any]:
    """A partial snippet with the least it needs to be a whole configuration."""
    issuers = []
    for i, entry in enumerate(fragment.get("issuers") or [{}]):
        if entry.get("profile", "jwt") == "jwt" and "issuer" not in entry:
            entry = {"name": f"snippet-{i}", **_BASE_ISSUER, **entry}
        issuers.append(entry)
    return {"audience": ["api://orders"], **fragment, "issuers": issuers}


def test_the_documents_have_toml_snippets() -> None:
    assert len(SNIPPETS) >= 10  # the extraction itself is not broken
    assert any(p.values[0] == "" for p in SNIPPETS)  # some are complete as written


def _without_fetch(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand in for the discovery fetch ``issuer_uri`` makes at load: the document's issuer, RS256."""
    import s2s_guard.sources.issuer_uri as issuer_uri

    def document(issuer: str, **_: Any) -> tuple[str, dict[str, Any]]:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        return url, {"issuer": issuer, "jwks_uri": issuer.rstrip("/") + "/keys"}

    monkeypatch.setattr(issuer_uri, "fetch_document", document, raising=True)
    return data


@pytest.mark.parametrize(("marker", "text"), SNIPPETS)
def test_toml_snippet(marker: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tomllib.loads(text)
    if marker == PARTIAL:
        data = _completed(data)
    elif marker == FETCHES:
        data = _without_fetch(data, monkeypatch)
    for name in _env_names(data):
        monkeypatch.setenv(name, "s" * 32)
    config = load_config(data)
    assert config.issuers and config.audience
