"""Check the built sdist and wheel hold what users need: every module, py.typed, the licence.

    python .ci/check_dist.py build/package-check/dist

Called by ``make package-check`` after ``python -m build``. Exits 1 with one line per problem.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "s2s_guard"


def source_files() -> set[str]:
    """Every file of the package in the checkout (what the wheel must ship), as posix paths."""
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / PACKAGE).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    return {f for f in files if f.endswith((".py", "py.typed"))}


def check_wheel(wheel: Path) -> list[str]:
    names = set(zipfile.ZipFile(wheel).namelist())
    problems = [f"wheel lacks {f}" for f in sorted(source_files() - names)]
    dist_info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), "")
    if f"{dist_info}/licenses/LICENSE" not in names:
        problems.append("wheel lacks the LICENSE file (project.license-files)")
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    if "License-Expression: MIT" not in metadata:
        problems.append("wheel METADATA has no 'License-Expression: MIT'")
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    for needed in ("s2s-guard = s2s_guard.cli:main", "s2s_guard = s2s_guard.testing.pytest_plugin"):
        if needed not in entry_points:
            problems.append(f"wheel entry_points.txt lacks {needed!r}")
    problems += [f"wheel ships {n}" for n in sorted(names) if n.startswith(("tests/", "benchmarks/", "examples/"))]
    return problems


def check_sdist(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {"LICENSE", "README.md", "pyproject.toml", *source_files()}
    return [f"sdist lacks {f}" for f in sorted(wanted - names)]


def main(dist: str) -> int:
    wheels, sdists = sorted(Path(dist).glob("*.whl")), sorted(Path(dist).glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check_dist: expected one wheel and one sdist in {dist}, found {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0]) + check_sdist(sdists[0])
    for problem in problems:
        print("check_dist:", problem)
    if not problems:
        print(f"check_dist: {wheels[0].name} and {sdists[0].name} hold every module, py.typed and LICENSE")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
