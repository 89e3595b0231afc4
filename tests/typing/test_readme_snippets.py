"""The README's Python passes ``mypy --strict``: the snippet files here, and README blocks marked for it.

A README block is checked when the line before its opening fence is ``<!-- mypy: strict -->``;
blocks that are fragments (settings excerpts, one-liners needing context) stay unmarked. The
files in ``snippets/`` are the same code as the README's marked blocks, so they stay typed even
where the README is edited by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = sorted((Path(__file__).parent / "snippets").glob("*.py"))
MARKED = re.compile(r"<!-- mypy: strict -->\n```python\n(.*?)```", re.DOTALL)


def readme_blocks() -> list[str]:
    return MARKED.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_snippets_pass_mypy_strict(tmp_path: Path) -> None:
    files = list(SNIPPETS)
    for i, block in enumerate(readme_blocks()):
        files.append(tmp_path / f"readme_block_{i}.py")
        files[-1].write_text(block, encoding="utf-8")
    assert len(SNIPPETS) >= 4
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
                             "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", *map(str, files)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "MYPYPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
