"""Benchmark 6, replica throughput: runs H2's ``bench/replica_throughput.py`` and keeps its result.

The script pins the replica to one core and its load generator to another, and writes its own
JSON; here it writes to a temporary file whose figures are merged into ``latest.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, log, scrapy_env

SCRIPT = PROJECT_ROOT / "bench" / "replica_throughput.py"


def run(*, quick: bool = False) -> dict[str, Any]:
    duration = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        output = Path(d) / "replica.json"
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--duration", str(duration), "--output", str(output)],
            cwd=PROJECT_ROOT,
            env=scrapy_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not output.exists():
            raise RuntimeError(f"{SCRIPT.name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        result = json.loads(output.read_text())
    log(f"replica throughput: {result['requests_per_s']} req/s")
    return {
        "replica_requests_per_s": result["requests_per_s"],
        "replica": {**result, "exit_status": proc.returncode},
    }
