"""A worker's lease bookkeeping (``cwo_scrapy.cluster.tracker``): a lease is acknowledged only
once everything it produced has landed, so a killed worker loses nothing."""

from __future__ import annotations

from cwo_scrapy.cluster.tracker import LeaseTracker


def test_a_lease_completes_only_after_its_items_and_children_landed() -> None:
    tracker = LeaseTracker()
    tracker.leased("7")
    tracker.item_started("7")  # an item
    tracker.item_started("7")  # a child request
    tracker.output_done("7")
    tracker.item_done("7")
    assert tracker.take_completed() == []
    tracker.item_done("7")
    assert tracker.take_completed() == ["7"]
    # a failed download completes one grace period after it left the downloader
    tracker.leased("8")
    tracker.left_downloader("8", now=100.0)
    assert tracker.sweep(grace=1.0, now=100.5) == 0
    assert tracker.sweep(grace=1.0, now=101.0) == 1
    # a local lease never reaches Redis
    local = tracker.new_local()
    tracker.output_done(local)
    assert tracker.take_completed() == ["8"]
    assert tracker.open_local == 0
