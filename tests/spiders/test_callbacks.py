"""Our spiders' generator callbacks never ``return`` a value (Scrapy would drop it silently).

Scrapy's own per-response check of this is switched off in ``cwo_scrapy/settings.py``
(``WARN_ON_GENERATOR_RETURN_VALUE``: it re-parses the callback's source on every response);
this test makes the same check once per callback instead.
"""

from __future__ import annotations

import inspect

import pytest
from scrapy.utils.misc import is_generator_with_return_value

from cwo_scrapy.options import OptionChain
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider


def _generator_methods(cls: type) -> dict[str, object]:
    return {
        name: func
        for name, func in inspect.getmembers(cls, inspect.isfunction)
        if inspect.isgeneratorfunction(func)
    }


@pytest.mark.parametrize("spider_cls", [FitmentSpider, WheelSizeSpider])
def test_no_generator_callback_returns_a_value(spider_cls: type) -> None:
    methods = _generator_methods(spider_cls)
    assert {"parse_makes", "parse_drives", "parse_vehicle_record"} <= set(methods)
    offenders = [name for name, func in methods.items() if is_generator_with_return_value(func)]
    assert offenders == []


def test_no_option_chain_callback_returns_a_value() -> None:
    """The ymm-temp.php chain's callbacks live in ``cwo_scrapy.options``; same check."""
    methods = _generator_methods(OptionChain)
    assert {"_after_set", "_after_list"} <= set(methods)
    assert [n for n, f in methods.items() if is_generator_with_return_value(f)] == []


def test_the_check_detects_a_returned_value() -> None:
    """The check this test relies on does flag the mistake it guards against."""

    def callback(response: object):  # type: ignore[no-untyped-def]
        yield 1
        return 2

    assert is_generator_with_return_value(callback)
