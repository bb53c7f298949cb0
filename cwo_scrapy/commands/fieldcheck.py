"""``scrapy fieldcheck``: check that our parsers read the site, before a long crawl.

Fetches one sample of every response kind the spiders parse (``cwo_scrapy.fieldcheck``),
through the session middleware, prints a table (or ``--json``), saves the samples redacted
under ``<CWO_SAMPLES_DIR>/<UTC date>/`` with a ``manifest.json`` to attach to a bug report, and
exits 0 when every kind parsed, 1 otherwise (2 for bad options).
"""

from __future__ import annotations

import argparse
import json
import sys

from scrapy.commands import ScrapyCommand

from cwo_scrapy.config import SettingsError, check_settings
from cwo_scrapy.fieldcheck import FieldCheckSpider, as_json, format_table, report, save_report
from cwo_scrapy.profiles import ProfileError, profile_settings
from cwo_scrapy.samples import dated_dir, samples_dir
from cwo_scrapy.spiderargs import SpiderArgumentError

EXIT_FAILED = 1
EXIT_USAGE = 2


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_LEVEL": "WARNING"}

    def syntax(self) -> str:
        return "[--year YYYY] [--make MAKE] [--model MODEL] [--json]"

    def short_desc(self) -> str:
        return "Fetch one sample of every response kind and check that every parser reads it"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--year", default=None, help="model year (default: the newest)")
        parser.add_argument("--make", default=None, help="make (default: the year's first)")
        parser.add_argument("--model", default=None, help="model (default: the make's first)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def _fail(self, message: str, code: int) -> None:
        print(f"scrapy fieldcheck: error: {message}", file=sys.stderr, flush=True)
        self.exitcode = code

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            return self._fail(f"unexpected argument {args[0]!r}", EXIT_USAGE)
        assert self.settings is not None
        assert self.crawler_process is not None
        kwargs = {k: getattr(opts, k) for k in ("year", "make", "model") if getattr(opts, k)}
        try:
            profile_settings(self.settings.get("CWO_PROFILE") or "polite")
            check_settings(self.settings)
            FieldCheckSpider.parse_arguments(kwargs)
        except (ProfileError, SettingsError, SpiderArgumentError) as exc:
            return self._fail(str(exc), EXIT_USAGE)
        crawler = self.crawler_process.create_crawler(FieldCheckSpider)
        self.crawler_process.crawl(crawler, **kwargs)
        self.crawler_process.start()
        spider = getattr(crawler, "spider", None)
        if not isinstance(spider, FieldCheckSpider):
            return self._fail("the check could not start; see the log above", EXIT_FAILED)
        folder = dated_dir(samples_dir(self.settings))
        try:
            save_report(folder, spider, site=spider.urls.site_url, api=spider.urls.api_url)
        except OSError as exc:
            print(f"scrapy fieldcheck: cannot save samples under {folder}: {exc}", file=sys.stderr)
            folder = None  # type: ignore[assignment]
        rows = report(spider)
        if opts.json:
            print(json.dumps(as_json(rows, folder), indent=2, ensure_ascii=False))
        else:
            print(format_table(rows))
            if folder is not None:
                print(f"samples (redacted): {folder}")
        ok = all(r.parsed for r in rows)
        if not ok and not opts.json:
            failed = next(r for r in rows if not r.parsed)
            print(f"scrapy fieldcheck: {failed.kind} failed: {failed.note}", file=sys.stderr)
        self.exitcode = 0 if ok else EXIT_FAILED
        return None
