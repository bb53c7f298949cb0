"""``python -m cwo_scrapy.replica``: the same options and behaviour as ``scrapy replica``."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from cwo_scrapy.replica.server import add_arguments, run


class _OneLineParser(argparse.ArgumentParser):
    """Bad options give one line on stderr and exit status 2, never a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(
        prog="python -m cwo_scrapy.replica",
        description="Offline replica of customwheeloffset.com behind AWS WAF.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv), prog="replica")


if __name__ == "__main__":
    sys.exit(main())
