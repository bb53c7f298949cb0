"""Helpers for the spiders' crawl tests: run a spider in-process against a replica."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.defer import maybe_deferred_to_future

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cwo_scrapy import settings as project_settings  # noqa: E402


def spider_settings(replica: Any, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Fast profile against ``replica``; session file and feed under ``tmp_path``."""
    return {
        **replica.settings(),
        "CWO_PROFILE": "fast",
        "CWO_SESSION_FILE": str(tmp_path / "session.json"),
        "CWO_CAPTCHA_RESOLVER": "capsolver",
        "CWO_CAPSOLVER_API_KEY": "test-client-key",
        "CWO_CAPSOLVER_POLL_INTERVAL": 0.1,
        "CWO_RESOLVER_TIMEOUT": 30.0,
        "FEEDS": {str(tmp_path / "out.jsonl"): {"format": "jsonl", "overwrite": True}},
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        **overrides,
    }


def make_crawler(spidercls: type, overrides: dict[str, Any]) -> Crawler:
    """A crawler with the project's settings and ``overrides`` at command-line priority."""
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.setdict(overrides, priority="cmdline")
    return Crawler(spidercls, settings)


async def run_spider(
    spidercls: type, overrides: dict[str, Any], **spider_kwargs: Any
) -> tuple[Crawler, list[Any]]:
    """Run to completion in this process; returns the crawler and the items that passed."""
    crawler = make_crawler(spidercls, overrides)
    items: list[Any] = []

    def collect(item: Any) -> None:
        items.append(item)

    crawler.signals.connect(collect, signal=signals.item_scraped, weak=False)
    await maybe_deferred_to_future(crawler.crawl(**spider_kwargs))
    return crawler, items


def as_lines(items: Iterable[Any]) -> list[str]:
    """Canonical JSON of dataclass items, sorted: equal lists mean equal outputs (multiset)."""
    return sorted(json.dumps(asdict(i), sort_keys=True, ensure_ascii=False) for i in items)


def read_jsonl(path: Path) -> list[str]:
    return sorted(
        json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False)
        for line in path.read_text(encoding="utf-8").splitlines()
    )


def cwo_stats(crawler: Crawler) -> dict[str, Any]:
    return {k: v for k, v in crawler.stats.get_stats().items() if k.startswith("cwo")}


def scrapy_cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scrapy ARGS`` in the project with its data in ``data_dir`` (never the repo's data/)."""
    return subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", *args, "-s", f"CWO_DATA_DIR={data_dir}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
    )
