"""Helpers for the packaging tests: a clean copy of the project, temporary virtual envs, and
processes that print a banner line (the replica)."""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Build products and local state a fresh clone does not have.
_IGNORED = (".venv", ".git", "__pycache__", "build", "dist", ".pytest_cache", ".ruff_cache",
            ".scrapy", "*.egg-info", "*.egg", "setup.cfg.bak")  # fmt: skip


def project_copy(dest: Path) -> Path:
    """The project's files as a fresh clone has them (data/ empty), so builds stay out of it."""
    shutil.copytree(PROJECT_ROOT, dest, ignore=_ignore, symlinks=True)
    (dest / "data").mkdir(exist_ok=True)
    return dest


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns(*_IGNORED)(directory, names))
    if Path(directory).name == "data" and Path(directory).parent == PROJECT_ROOT:
        ignored |= {n for n in names if n != ".gitkeep"}
    return ignored


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would import the project from the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SCRAPY_SETTINGS_MODULE")}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def make_venv(path: Path) -> Path:
    """A new venv that sees the shared venv's packages (the tested set) through a .pth file.

    pip runs from the shared venv (``--python``), so no network and no ensurepip are needed.
    Returns the venv's ``bin`` directory.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    bindir = path / "bin"
    purelib = subprocess.run(
        [str(bindir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    shared = sysconfig.get_paths()["purelib"]
    Path(purelib, "_cwo_shared_venv.pth").write_text(shared + "\n")
    return bindir


def pip_install(bindir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bindir / "python"), "install", "-q",
         "--no-deps", "--no-build-isolation", "--no-input", *args],
        capture_output=True, text=True, timeout=600, env=clean_env(),
    )  # fmt: skip


def run(cmd: list[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_env(**env)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_with_banner(
    cmd: list[str], cwd: Path, lines: int = 2, timeout: float = 120, **env: str
) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start ``cmd`` and return it with its first ``lines`` stdout lines (the replica's banner)."""
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - a file, so a chatty stderr never blocks
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=errors, env=clean_env(**env)
    )
    assert proc.stdout is not None
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while buf.count(b"\n") < lines:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                errors.seek(0)
                err = errors.read().decode(errors="replace")[-2000:]
                raise AssertionError(f"{cmd[:4]} did not print its banner: {err}")
            if sel.select(1):
                chunk = os.read(proc.stdout.fileno(), 4096)
                buf += chunk
    return proc, buf.decode().splitlines()[:lines]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
