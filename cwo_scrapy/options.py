"""The fitment preference lists of ``api/ymm-temp.php``, fetched once per vehicle type.

The store keeps the "current vehicle" in the PHP session, and the three lists
(getSuspension/getTrimming/getRubbing) answer for whichever vehicle was stored last. So a type's
lists are fetched as a chain: a "set" call storing one vehicle of that type, then the three
lists, one type at a time, so a shared ``PHPSESSID`` never holds two vehicles at once.

:class:`OptionChain` holds that chain's state for one spider; the spider builds its requests
(``xhr_request``), counts them (``_received``), parses with failure accounting (``_parse``)
and gets each type's result through ``on_options``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.spidermiddlewares.httperror import HttpError

from cwo_scrapy.parsing import VehicleRecord, parse_option_list

if TYPE_CHECKING:
    import scrapy
    from twisted.python.failure import Failure

    from cwo_scrapy.cascade import CascadeSpider

logger = logging.getLogger(__name__)

OPTION_KINDS: tuple[str, ...] = ("suspension", "trimming", "rubbing")


@dataclass(slots=True)
class OptionLists:
    """A vehicle type's fitment preference lists (first element = the stock choice)."""

    suspension: list[str]
    modification: list[str]
    rubbing: list[str]


@dataclass(slots=True)
class _TypeState:
    status: str = "new"  # new -> queued -> fetching -> done | failed
    vehicle: VehicleRecord | None = None
    lists: dict[str, list[str]] = field(default_factory=dict)
    restarts: int = 0


class OptionChain:
    """Per vehicle type: the "set" call and the three lists, one type at a time."""

    def __init__(self, spider: CascadeSpider) -> None:
        self.spider = spider
        self._types: dict[str, _TypeState] = {}
        self._type_queue: list[str] = []
        self._type_busy = False

    # -- fitment preference lists, once per vehicle type ------------------------------------------
    def options_for(self, vehicle: VehicleRecord) -> tuple[OptionLists | None, Iterable[Any]]:
        """The type's lists if known; otherwise start fetching them (requests to yield)."""
        state = self._types.setdefault(vehicle.vehicle_type, _TypeState())
        if state.status == "done":
            return self._lists(state), ()
        if state.status == "new":
            state.status = "queued"
            state.vehicle = vehicle
            self._type_queue.append(vehicle.vehicle_type)
            return None, self._next_type_chain()
        return None, ()

    def options_failed(self, vehicle_type: str) -> bool:
        state = self._types.get(vehicle_type)
        return state is not None and state.status == "failed"

    @staticmethod
    def _lists(state: _TypeState) -> OptionLists:
        return OptionLists(
            suspension=state.lists["suspension"],
            modification=state.lists["trimming"],
            rubbing=state.lists["rubbing"],
        )

    def _next_type_chain(self) -> Iterable[scrapy.Request]:
        if self._type_busy or not self._type_queue:
            return ()
        vehicle_type = self._type_queue.pop(0)
        self._type_busy = True
        self._types[vehicle_type].status = "fetching"
        return [self._set_request(vehicle_type)]

    def _set_request(self, vehicle_type: str) -> scrapy.Request:
        v = self._types[vehicle_type].vehicle
        assert v is not None
        url = self.spider.urls.ymm_set(**v.url_args())
        callback = self.spider.options_after_set
        return self.spider.xhr_request(url, callback, vehicle_type=vehicle_type, kind="set")

    def _list_request(self, vehicle_type: str, kind: str) -> scrapy.Request:
        url = self.spider.urls.ymm_options(vehicle_type, kind)  # type: ignore[arg-type]
        callback = self.spider.options_after_list
        return self.spider.xhr_request(url, callback, vehicle_type=vehicle_type, kind=kind)

    def _after_set(
        self, response: scrapy.http.Response, vehicle_type: str, kind: str
    ) -> Iterable[Any]:
        self.spider._received(response)
        yield self._list_request(vehicle_type, OPTION_KINDS[0])

    def _after_list(
        self, response: scrapy.http.Response, vehicle_type: str, kind: str
    ) -> Iterable[Any]:
        self.spider._received(response)
        state = self._types[vehicle_type]
        values = self.spider._parse(f"options/{kind}", parse_option_list, response)
        if not values:
            if values is not None:
                self.spider.inc(f"parse_errors/options/{kind}")
                logger.error("Empty %s list for vehicle type %r", kind, vehicle_type)
            yield from self._type_finished(vehicle_type, ok=False)
            return
        state.lists[kind] = values
        index = OPTION_KINDS.index(kind)
        if index + 1 < len(OPTION_KINDS):
            yield self._list_request(vehicle_type, OPTION_KINDS[index + 1])
        else:
            yield from self._type_finished(vehicle_type, ok=True)

    def _type_finished(self, vehicle_type: str, *, ok: bool) -> Iterable[Any]:
        state = self._types[vehicle_type]
        state.status = "done" if ok else "failed"
        self._type_busy = False
        self.spider.inc("option_types_fetched" if ok else "option_types_failed")
        if ok:
            logger.info(
                "Fitment preference lists for %r: %d suspension, %d modification, %d rubbing",
                vehicle_type,
                *(len(state.lists[k]) for k in OPTION_KINDS),
            )
        else:
            logger.error("No fitment preference lists for vehicle type %r", vehicle_type)
        yield from self.spider.on_options(vehicle_type, self._lists(state) if ok else None)
        yield from self._next_type_chain()

    def _option_error(self, failure: Failure, vehicle_type: str) -> Iterable[Any]:
        state = self._types[vehicle_type]
        status = failure.value.response.status if failure.check(HttpError) else None
        if status == 401:
            # The PHP session died: store the vehicle again, which starts a new one. Decided,
            # counted and logged by get_retry_request on the failed request, with the type's
            # restarts as its count (its own budget, not RETRY_TIMES); the retry itself is a
            # new "set" request, since the list requests only work after one.
            failed = failure.request  # type: ignore[attr-defined]
            failed.meta["retry_times"] = state.restarts
            allowed = get_retry_request(
                failed,
                spider=self.spider,
                reason="401",
                max_retry_times=self.spider.settings.getint("CWO_OPTIONS_SESSION_RESTARTS"),
                stats_base_key="cwo/options_session_restart",
            )
            if allowed is not None:
                state.restarts += 1
                self.spider.inc("options_session_restarts")
                logger.warning("ymm-temp.php: 401 for %r; storing the vehicle again", vehicle_type)
                return [self._set_request(vehicle_type)]
        return list(self._type_finished(vehicle_type, ok=False))
