"""``s2s-guard ... | head`` with the reader already gone: no BrokenPipeError traceback and exit
141 (what a shell reports for a tool killed by SIGPIPE), buffered or not, script or ``-m``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s2s_guard.cli_issuer import register_demo_clients, write_state
from s2s_guard.testing import LocalIssuer

SCRIPT = Path(sys.executable).with_name("s2s-guard")
COMMANDS = {"script": [str(SCRIPT)], "module": [sys.executable, "-m", "s2s_guard.cli"]}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> str:
    with LocalIssuer() as issuer:
        path = tmp_path_factory.mktemp("state") / "issuer.json"
        write_state(issuer, path, register_demo_clients(issuer))
    return str(path)


def run_into_closed_pipe(argv: list[str], *, unbuffered: bool) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with stdout piped into a reader that has already exited without reading."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update({"PYTHONUNBUFFERED": "1"} if unbuffered else {})
    read, write = os.pipe()
    subprocess.run([sys.executable, "-c", "pass"], stdin=read, check=True)  # the reader: gone
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, env=env, timeout=60)
    finally:
        os.close(write)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(("how", "args"), [
    ("script", ["mint", "app-only"]), ("module", ["mint", "app-only"]),
    ("module", ["mint", "--list"]), ("module", ["--help"])], ids=["mint", "mint-m", "list", "help"])
def test_a_closed_stdout_exits_quietly(how: str, args: list[str], unbuffered: bool, state: str) -> None:
    if how == "script" and not SCRIPT.exists():
        pytest.skip("the s2s-guard console script is not installed next to this Python")
    argv = [*COMMANDS[how], *args, *(["--state", state] if args[0] == "mint" else [])]
    done = run_into_closed_pipe(argv, unbuffered=unbuffered)
    err = done.stderr.decode()
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err
    # argparse itself swallows a failed write of --help (exit 0) when stdout is unbuffered
    assert done.returncode == (0 if args == ["--help"] and unbuffered else 141)


def test_an_open_stdout_still_gets_the_token(state: str) -> None:
    done = subprocess.run([*COMMANDS["module"], "mint", "app-only", "--state", state],
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count(b".") == 2, done.stderr
