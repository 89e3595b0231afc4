"""Constants shared by the contrib tests (a plain module: conftest files are not importable by name)."""

from __future__ import annotations

AUD = "api://orders"
DOWN_ISSUER = "https://down.example"
