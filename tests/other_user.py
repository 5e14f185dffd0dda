"""A second Unix user for tests where another local user is the attacker.

Created as root with `useradd` (and removed after), with a private home of its own; it
runs this environment's packages through `hub_server.shared_python`. Where the machine
cannot (not root, no `useradd`, an environment no other user may read), the test skips
and says why.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hub_server import _create_user, _remove_user, real_users_possible, shared_python

OTHER = "zapnb-mallory"


@dataclass(frozen=True)
class OtherUser:
    name: str
    uid: int
    gid: int
    home: Path
    python: list[str]
    env: dict[str, str]

    def popen(self, argv: list[str], **options: Any) -> subprocess.Popen[str]:
        """Start `argv` as this user, in their home, with their own environment."""
        env = {**self.env, **options.pop("env", {})}
        return subprocess.Popen(
            argv,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            env=env,
            cwd=self.home,
            text=True,
            **options,
        )

    def run_python(
        self, code: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        process = self.popen(
            [*self.python, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@contextlib.contextmanager
def made_other_user() -> Iterator[OtherUser]:
    if not real_users_possible():
        pytest.skip("needs root and useradd to create a second Unix user to play the attacker")
    folder = Path(tempfile.mkdtemp(prefix="zapier-nb-other-", dir="/tmp"))
    folder.chmod(0o755)
    python = shared_python(folder)
    if python is None:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("this Python environment is private to its owner: no other user can run it")
    home = folder / "home"
    home.mkdir(mode=0o700)
    _create_user(OTHER, home)
    entry = pwd.getpwnam(OTHER)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **python[1],
    }
    try:
        yield OtherUser(OTHER, entry.pw_uid, entry.pw_gid, home, python[0], env)
    finally:
        _remove_user(OTHER)
        shutil.rmtree(folder, ignore_errors=True)
