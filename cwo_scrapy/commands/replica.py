"""``scrapy replica``: serve the offline replica (or dump its ground truth) until interrupted."""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand

from cwo_scrapy.replica.server import add_arguments, run


class Command(ScrapyCommand):
    requires_project = False
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Serve the offline CWO + AWS WAF replica on 127.0.0.1"

    def long_desc(self) -> str:
        return (
            "Serve the offline replica of customwheeloffset.com, its fitment API, AWS WAF, the "
            "token service and a fake CapSolver on 127.0.0.1 until SIGINT/SIGTERM. Prints "
            "'Replica serving at URL' and the -s flags that point a crawl at it. With "
            "--dump-truth, print the expected items as JSON lines instead."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        add_arguments(parser)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            print(f"scrapy replica: error: unexpected argument {args[0]!r}", file=sys.stderr)
            self.exitcode = 2
            return
        self.exitcode = run(opts, prog="scrapy replica")
