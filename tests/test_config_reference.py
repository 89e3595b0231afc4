"""The configuration reference (docs/configuration.md) is generated from the schema, complete and current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import s2s_guard
from s2s_guard.config import reference
from s2s_guard.config.reference import SECTIONS, Section, render, rows, stale_docs, undocumented

ROOT = Path(s2s_guard.__file__).parent.parent
PAGE = ROOT / "docs" / "configuration.md"


def test_every_key_has_a_type_a_default_and_a_meaning() -> None:
    assert undocumented() == []


def test_every_explicit_description_names_a_key_of_the_schema() -> None:
    assert stale_docs() == []


def test_a_field_without_its_comment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    comments = reference.field_comments

    def without_timeout(model: type) -> dict[str, str]:
        return {k: v for k, v in comments(model).items() if k != "timeout"}

    monkeypatch.setattr(reference, "field_comments", without_timeout)
    assert "issuers.timeout: meaning" in undocumented() and "cache.timeout: meaning" in undocumented()


def test_the_committed_page_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run python -m s2s_guard.config.reference docs/configuration.md")


@pytest.mark.parametrize("key", ["jwks_cooldown", "jwks_max_age", "jwks_min_age", "jwks_stale_if_error",
                                 "principal_id", "timeout"])
def test_the_keys_issue_14_found_undocumented_are_described(key: str) -> None:
    issuers = next(s for s in SECTIONS if s.table == "issuers")
    row = next(r for r in rows(issuers) if r.key == key)
    assert row.meaning and row.default and row.type


def test_environment_and_settings_named_in_the_package_are_documented() -> None:
    page = render()
    named = {m for path in Path(s2s_guard.__file__).parent.rglob("*.py")
             for m in re.findall(r"\bS2S_GUARD_[A-Z_]+\b", path.read_text(encoding="utf-8"))}
    assert {"S2S_GUARD_DENY_BY_DEFAULT", "S2S_GUARD_SHOW_PII", "S2S_GUARD_SET_USER"} <= named
    assert [name for name in sorted(named) if f"`{name}`" not in page] == []
    assert "private_key_kid" in page


def test_a_key_added_without_a_description_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a parallel branch adding ``[cache] shards`` (say) sees until it describes the key."""
    cache = next(s for s in SECTIONS if s.table == "cache")
    grown = Section(table=cache.table, heading=cache.heading, keys={*cache.keys, "shards"},
                    model=cache.model, intro=cache.intro)
    monkeypatch.setattr(reference, "SECTIONS", tuple(grown if s is cache else s for s in SECTIONS))
    assert reference.undocumented() == ["cache.shards: type, default, meaning"]
    assert reference.main(["reference"]) == 1


def test_every_table_load_config_reads_has_a_section() -> None:
    """A new top-level table must get its own section (or the reference would stop at its name)."""
    tables = {r.key for r in rows(SECTIONS[0]) if r.type in ("table", "array of tables")}
    assert tables - {"jwks"} <= {s.table for s in SECTIONS}
