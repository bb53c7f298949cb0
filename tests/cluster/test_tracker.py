"""A worker's lease bookkeeping (``cwo_scrapy.cluster.tracker``): a lease is acknowledged only
once everything it produced has landed, so a killed worker loses nothing."""

from __future__ import annotations

from cwo_scrapy.cluster.tracker import PAGE_KEY, LeaseTracker, page_tag


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


def test_a_finished_page_is_noted_done_and_a_retried_one_is_not() -> None:
    """A page is done when its lease completes (items landed or download failed), never when
    it is handed to its retry: the retry's own completion marks it."""
    tracker = LeaseTracker()
    assert page_tag({PAGE_KEY: ["u", 1, 3, 5]}) == ("u", 1, 3, 5)
    assert page_tag({PAGE_KEY: "garbage"}) is None
    tracker.leased("1", ("u", 0, 2, 2))
    tracker.leased("2", ("u", 1, 2, 2))
    assert tracker.handed_off("2")  # retried: not done
    tracker.output_done("1")
    local = tracker.new_local(("v", 0, 1, 1))
    tracker.output_done(local)
    assert tracker.take_completed() == ["1"]
    assert tracker.take_pages() == [("u", 0, 2, 2), ("v", 0, 1, 1)]
    assert tracker.take_pages() == []
