"""``scrapy crawl`` with one-line errors and meaningful exit codes.

Overrides Scrapy's built-in command (``COMMANDS_MODULE = "cwo_scrapy.commands"``):

- an unknown spider, an unknown ``CWO_PROFILE`` or a bad ``-a`` argument prints one line to
  stderr and exits 2 before the crawler process (and its logging) exists, so no request is sent;
- ``-a help=1`` lists the spider's arguments (``cwo_scrapy.spiderparams``) and exits 0;
- with no feed configured (no ``FEEDS``, no ``-o``/``-O``) the spider's default feed is set
  (``cwo_scrapy.feeds``); ``-o`` onto an existing feed the duplicate guard cannot read back
  (``.json``, ``.xml``, ...) is a one-line error, exit 2;
- every crawl ends with a line ``<spider>: N item(s) -> <feed URIs>`` on stderr (and in the
  log file when ``LOG_FILE`` is set, e.g. a Scrapyd job log);
- a crawl that closes with a reason other than ``finished`` (``bad_argument``, ``incomplete``,
  ``site_unreachable``, ``site_changed``, ``session_unrecoverable``, ``output_error``,
  ``shutdown``, ...) prints one line naming the reason and exits 1; whatever was scraped is
  still in the output feed;
- error lines cut any echoed value to 200 characters (:func:`cwo_scrapy.errorline.error_line`).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader

from cwo_scrapy.closing import close_message
from cwo_scrapy.config import SettingsError, check_settings
from cwo_scrapy.errorline import error_line
from cwo_scrapy.feedguard import items_written
from cwo_scrapy.feeds import append_problems, apply_default_feed
from cwo_scrapy.profiles import ProfileError, profile_settings
from cwo_scrapy.spiderargs import SpiderArgumentError
from cwo_scrapy.spiderparams import HELP_ARGUMENT, describe

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_CRAWL_FAILED = 1


def _fail(message: str, code: int) -> None:
    print(f"scrapy crawl: error: {error_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider of the current project, by name (one-line errors, exit codes)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1:
            return  # run() raises the usual UsageError
        assert self.settings is not None
        try:
            profile_settings(self.settings.get("CWO_PROFILE"))
            check_settings(self.settings)
        except (ProfileError, SettingsError) as exc:
            _fail(str(exc), EXIT_USAGE)
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            _fail(f"unknown spider {args[0]!r}", EXIT_USAGE)
            return
        params_model = getattr(spidercls, "params_model", None)
        if HELP_ARGUMENT in opts.spargs and params_model is not None:
            print(describe(params_model(), args[0]), flush=True)
            sys.exit(0)
        parse_arguments = getattr(spidercls, "parse_arguments", None)
        if parse_arguments is not None:
            try:
                parse_arguments(opts.spargs)
            except SpiderArgumentError as exc:
                _fail(str(exc), EXIT_USAGE)
        apply_default_feed(self.settings, spidercls)
        for problem in append_problems(self.settings, spidercls.name):
            _fail(problem, EXIT_USAGE)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError(
                "running 'scrapy crawl' needs exactly one spider name", print_help=False
            )
        assert self.crawler_process is not None
        crawler: Crawler = self._create_crawler(args[0])
        closed: list[str] = []  # the signal's reason survives a close before stats were set up

        def on_closed(reason: str) -> None:
            closed.append(reason)

        crawler.signals.connect(on_closed, signal=signals.spider_closed, weak=False)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            _fail("the crawl could not start; see the log above", EXIT_CRAWL_FAILED)
        reason = closed[-1] if closed else _stat(crawler, "finish_reason")
        _print_summary(crawler)
        if reason not in (None, "finished"):
            spider: Any = getattr(crawler, "spider", None)
            detail = (
                close_message(crawler)
                or getattr(spider, "close_message", None)
                or _stat(crawler, "cwo_session/close_message")
            )
            _fail(
                f"crawl closed with reason {reason!r}" + (f": {detail}" if detail else ""),
                EXIT_CRAWL_FAILED,
            )


def _print_summary(crawler: Crawler) -> None:
    """One line saying how many items were written and where (stderr keeps ``-o -`` clean).

    After a write error the count is what the failed feed really holds, not what was scraped.
    """
    try:
        items = items_written(crawler)
        if items is None:
            items = crawler.stats.get_value("item_scraped_count", 0)
        feeds = list(crawler.settings.getdict("FEEDS"))
    except RuntimeError:
        return
    where = ", ".join(str(uri) for uri in feeds) or "no feed (use -O FILE)"
    name = getattr(getattr(crawler, "spider", None), "name", "crawl")
    line = f"{name}: {items} item(s) -> {where}"
    print(line, file=sys.stderr, flush=True)
    if crawler.settings.get("LOG_FILE"):
        logger.info(line)  # the log file (a Scrapyd job log) keeps it too


def _stat(crawler: Crawler, key: str) -> Any:
    try:
        return crawler.stats.get_value(key)
    except RuntimeError:
        return None
