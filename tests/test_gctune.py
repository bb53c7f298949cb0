"""The crawl process collects garbage less often, and leaves the interpreter as it found it."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.signalmanager import SignalManager

from cwo_scrapy.gctune import GcTuning


def _crawler(threshold: object) -> SimpleNamespace:
    return SimpleNamespace(
        settings=Settings({"CWO_GC_THRESHOLD": threshold}), signals=SignalManager()
    )


def test_thresholds_apply_during_the_crawl_and_are_restored_after() -> None:
    before = gc.get_threshold()
    ext = GcTuning.from_crawler(_crawler([50000, 20, 1000]))
    try:
        assert gc.get_threshold() == (50000, 20, 1000)
        ext.spider_opened()
        assert gc.get_freeze_count() > 0  # start-up objects are out of every later pass
    finally:
        ext.spider_closed()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("threshold", [[], [0, 10, 10], [700, 10]])
def test_an_empty_or_malformed_threshold_leaves_python_s_defaults(threshold: list[int]) -> None:
    before = gc.get_threshold()
    with pytest.raises(NotConfigured):
        GcTuning.from_crawler(_crawler(threshold))
    assert gc.get_threshold() == before
