"""What the ``s2s-guard`` command's modules share, so that neither imports the other back.

``cli.py`` parses arguments and imports ``cli_issuer.py`` (which imports the testing kit) only
when ``issuer`` or ``mint`` runs; both raise :class:`UsageError` and default to :data:`DEFAULT_STATE`.
"""

from __future__ import annotations

__all__ = ["DEFAULT_STATE", "UsageError"]

#: Where ``s2s-guard issuer`` saves its keys and ``s2s-guard mint`` reads them (current directory).
DEFAULT_STATE = ".s2s-guard-issuer.json"


class UsageError(Exception):
    """Bad usage or configuration: reported on stderr with exit code 2."""
