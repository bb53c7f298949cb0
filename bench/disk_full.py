"""The disk-full outcome: a crawl whose feed lives on a 64 KB tmpfs.

Reported by ``python -m bench --reliability``: the items the summary line claims, the whole
lines really in the file, whether a cut line was left, the exit code and the error line. The
promise is that the first two are equal, there is no cut line, and the exit code is 1 with the
close reason ``output_error``. ``tests/spiders/test_disk_full.py`` checks the same outcome.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, cpu_plan, log, replica, scrapy_env
from cwo_scrapy.replica.harness import ReplicaProcess

TMPFS_SIZE = "64k"
SUMMARY = re.compile(r"^\w+: (\d+) item\(s\) -> ", re.MULTILINE)


class MountNotPermitted(RuntimeError):
    """This process may not mount a tmpfs (not root, or in a restricted container)."""


@contextlib.contextmanager
def small_tmpfs(size: str = TMPFS_SIZE) -> Iterator[Path]:
    """A freshly mounted tmpfs of ``size`` in a temporary folder, unmounted afterwards."""
    with tempfile.TemporaryDirectory(prefix="cwo-tmpfs-") as folder:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", folder],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise MountNotPermitted(proc.stderr.strip() or f"mount exited {proc.returncode}")
        try:
            yield Path(folder)
        finally:
            subprocess.run(["umount", "-l", folder], capture_output=True, check=False)


def feed_lines(path: Path) -> tuple[int, bool]:
    """(whole JSON lines, whether a cut or invalid line follows them)."""
    data = path.read_bytes() if path.exists() else b""
    whole = 0
    for line in data.split(b"\n")[:-1]:
        try:
            json.loads(line)
        except ValueError:
            return whole, True
        whole += 1
    return whole, not data.endswith(b"\n") and bool(data)


def crawl_to_full_disk(
    rep: ReplicaProcess, folder: Path, *, year: int = 2016, timeout: float = 600
) -> dict[str, Any]:
    """Run a fitment crawl whose feed is in ``folder`` (a small tmpfs); its outcome."""
    out = folder / "fitment.jsonl"
    cmd = [sys.executable, "-m", "scrapy", "crawl", "fitment", "-a", f"year={year}"]
    cmd += ["-O", str(out), "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False"]
    cmd += [f"-s{k}={v}" for k, v in rep.settings().items()]
    proc = subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=scrapy_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    summary = SUMMARY.findall(proc.stderr)
    whole, cut = feed_lines(out)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return {
        "exit_code": proc.returncode,
        "items_reported": int(summary[-1]) if summary else None,
        "whole_lines": whole,
        "cut_line": cut,
        "error_line": lines[-1] if lines and lines[-1].startswith("scrapy crawl: error") else "",
        "tracebacks": proc.stderr.count("Traceback"),
        "file_bytes": out.stat().st_size if out.exists() else 0,
    }


def run() -> dict[str, Any]:
    try:
        with replica(cpu_plan()) as rep, small_tmpfs() as folder:
            result = crawl_to_full_disk(rep, folder)
    except MountNotPermitted as exc:
        log(f"disk_full: skipped, cannot mount a tmpfs here ({exc})")
        return {"disk_full": {"skipped": f"cannot mount a tmpfs: {exc}"}}
    log(
        f"disk_full: {result['items_reported']} item(s) reported, {result['whole_lines']} whole "
        f"line(s), cut line: {result['cut_line']}, exit {result['exit_code']}"
    )
    return {"disk_full": {"tmpfs_size": TMPFS_SIZE, **result}}
