"""The reliability suite (``tests/reliability``) at full counts, as part of the bench command.

In CI the tests run with reduced counts; ``python -m bench --reliability`` runs the same tests
with ``CWO_RELIABILITY_FULL=1`` (200 killed store writes, longer fault-injected crawls...) and
collects the figures each test reports through ``CWO_RELIABILITY_REPORT``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, log, scrapy_env


def run(*, full: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        report_file = Path(d) / "reliability.jsonl"
        env = scrapy_env(
            {
                "CWO_RELIABILITY_REPORT": str(report_file),
                "CWO_RELIABILITY_FULL": "1" if full else "0",
            }
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/reliability",
                "-q",
                "-p",
                "no:cacheprovider",
                "--timeout=1800",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=4 * 3600,
            check=False,
        )
        figures: dict[str, Any] = {}
        if report_file.exists():
            for line in report_file.read_text().splitlines():
                entry = json.loads(line)
                figures[entry.pop("test")] = entry
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    found = re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)
    counts = {k: int(v) for v, k in found}
    log(f"reliability: {summary}")
    return {
        "reliability": {
            "full": full,
            "passed": counts.get("passed", 0),
            "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
            "skipped": counts.get("skipped", 0),
            "pytest_exit_status": proc.returncode,
            "summary": summary,
            "figures": figures,
            "failures": proc.stdout[-4000:] if proc.returncode else "",
        }
    }
