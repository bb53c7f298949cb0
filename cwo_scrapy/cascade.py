"""The vehicle cascade shared by the ``fitment`` and ``wheel_size`` spiders.

Years -> makes -> models -> trims object -> drives per trim -> vehicle record, through the
fitment JSON API (``CWO_API_URL``), with the scope filters ``year``/``make``/``model`` and
``limit``. Subclasses receive each parsed vehicle through :meth:`CascadeSpider.on_vehicle`.

:class:`CascadeSpider` also fetches the fitment preference lists of ``api/ymm-temp.php`` once per
vehicle type (a "set" call for a vehicle of that type, then getSuspension/getTrimming/
getRubbing), one type at a time so a shared ``PHPSESSID`` never holds two vehicles at once.

Session handling (cookiejar key, PHPSESSID, WAF token, 401 recovery) belongs to the session
middleware; the spiders never set ``meta["cookiejar"]``. Failures are counted under ``cwo/...``
stats; a crawl that lost data closes with reason ``incomplete`` and a crawl that never reached a
host closes with ``site_unreachable``, so ``scrapy crawl`` can exit non-zero.
"""

from __future__ import annotations

import logging
import typing
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    CloseSpider,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy_spider_metadata import Args
from twisted.internet.error import ConnectError, DNSLookupError, TCPTimedOutError, TimeoutError

from cwo_scrapy.addon import register_defaults
from cwo_scrapy.closing import close_crawl, close_reason
from cwo_scrapy.drift import DriftGuard, SchemaWatch
from cwo_scrapy.parsing import (
    ParseError,
    VehicleRecord,
    parse_name_list,
    parse_option_list,
    parse_trims,
    parse_vehicle,
    parse_years,
)
from cwo_scrapy.spiderargs import Scope, SpiderArgumentError
from cwo_scrapy.spiderparams import ScopeParams, validate
from cwo_scrapy.urls import CwoUrls

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

_CONNECT_ERRORS = (
    DownloadConnectionRefusedError,
    CannotResolveHostError,
    DownloadTimeoutError,
    ConnectError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)

# Deeper levels first: vehicles are finished (and items written) before more lists are opened,
# which keeps the queue small and lets ``limit`` stop the cascade early.
PRIORITY = {
    "years": 0,
    "makes": 1,
    "models": 2,
    "trims": 3,
    "drives": 4,
    "vehicle": 5,
    "store": 6,
    "options": 10,
}

OPTION_KINDS: tuple[str, ...] = ("suspension", "trimming", "rubbing")

# Close reasons other than "finished" that the crawl command turns into exit code 1.
REASON_BAD_ARGUMENT = "bad_argument"
REASON_INCOMPLETE = "incomplete"
REASON_UNREACHABLE = "site_unreachable"
# REASON_SITE_CHANGED ("site_changed") is cwo_scrapy.drift's: the parsers stopped understanding.


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


def vehicle_key(v: VehicleRecord) -> tuple[int, str, str, str, str]:
    return (v.year, v.make, v.model, v.trim, v.drive)


def _match(value: str, choices: Iterable[str]) -> str | None:
    """The site's spelling of ``value``: exact match first, then case-insensitive."""
    choices = list(choices)
    if value in choices:
        return value
    folded = value.casefold()
    return next((c for c in choices if c.casefold() == folded), None)


class CascadeSpider(scrapy.Spider, Args[ScopeParams]):
    """Base spider: the vehicle cascade, preference lists per type, failure accounting.

    Arguments (``-a NAME=VALUE``, any subset) are declared in ``cwo_scrapy.spiderparams``
    (``Args[Model]`` names each spider's model): ``year`` (four digits), ``make`` and ``model``
    (matched against the site's lists, case-insensitively), ``limit`` (at most N vehicles).
    """

    # -- arguments ----------------------------------------------------------------------------
    @classmethod
    def params_model(cls) -> type[ScopeParams]:
        """The pydantic model of this spider's ``-a`` arguments (``Args[Model]``)."""
        for klass in cls.__mro__:
            for base in klass.__dict__.get("__orig_bases__", ()):
                if typing.get_origin(base) is Args:
                    return typing.get_args(base)[0]
        return ScopeParams

    @classmethod
    def parse_arguments(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``-a`` arguments; raises :class:`SpiderArgumentError` (one line)."""
        params = validate(cls.params_model(), kwargs, cls.name)
        assert isinstance(params, ScopeParams)
        scope = Scope(year=params.year, make=params.make, model=params.model, limit=params.limit)
        return {"scope": scope, "params": params}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            raise SpiderArgumentError(f"unexpected positional arguments {args!r}")
        parsed = self.parse_arguments(kwargs)
        super().__init__()
        self.args: ScopeParams = parsed.pop("params")  # as scrapy_spider_metadata.Args sets it
        self.scope: Scope = parsed.pop("scope")
        self.apply_arguments(parsed)
        self.urls = CwoUrls()
        self.close_message: str | None = None
        self._vehicles_scheduled = 0
        self._outstanding: Counter[str] = Counter()
        self._matched: dict[str, bool] = {"year": False, "make": False, "model": False}
        self._failures = 0
        self._hosts_ok: set[str] = set()
        self._types: dict[str, _TypeState] = {}
        self._type_queue: list[str] = []
        self._type_busy = False
        self._waiting: dict[str, list[VehicleRecord]] = defaultdict(list)
        self.drift: DriftGuard | None = None  # set by from_crawler
        self.schema: SchemaWatch | None = None
        # In cluster mode another worker may see the lists that contain the make/model, so
        # this process's counters cannot prove a scope value absent: the check is skipped.
        self._scope_checks = True

    def apply_arguments(self, parsed: dict[str, Any]) -> None:
        """Store subclass-specific parsed arguments (hook)."""

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """Also the ``CWO_*`` defaults, for a crawler built without the project's settings."""
        super().update_settings(settings)
        register_defaults(settings, priority="default")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.urls = CwoUrls(
            site_url=settings.get("CWO_SITE_URL"),
            api_url=settings.get("CWO_API_URL"),
        )
        spider._scope_checks = not settings.getbool("CWO_CLUSTER")
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        spider.drift = DriftGuard(crawler)
        spider.schema = SchemaWatch(crawler)
        crawler.signals.connect(spider.schema.log_summary, signal=signals.spider_closed)
        return spider

    # -- helpers for subclasses ---------------------------------------------------------------
    def inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"cwo/{key}", count)

    def vehicle_done(self) -> None:
        self.inc("vehicles_done")

    def vehicle_failed(self, reason: str) -> None:
        """A vehicle whose items could not be produced: the crawl will end ``incomplete``."""
        self.inc(f"vehicles_failed/{reason}")
        self.inc("vehicles_done")
        self._failures += 1

    def _request(
        self,
        url: str,
        callback: Any,
        level: str,
        headers: dict[str, str],
        cb_kwargs: dict[str, Any],
        *,
        dont_filter: bool = False,
    ) -> scrapy.Request:
        """A request of one cascade level, counted as outstanding until its answer arrives."""
        self._outstanding[level] += 1
        return scrapy.Request(
            url,
            callback=callback,
            errback=self._errback,
            cb_kwargs=cb_kwargs,
            priority=PRIORITY[level],
            dont_filter=dont_filter,
            headers=headers,
            meta={"cwo_level": level, "cwo_cluster_local": level == "options"},
        )

    def api_request(self, url: str, callback: Any, level: str, **cb_kwargs: Any) -> scrapy.Request:
        """A fitment-API request with the CORS headers the site's own JavaScript sends."""
        site = self.urls.site_url
        headers = {
            "Accept": "application/json, text/plain, */*",
            "Origin": site,
            "Referer": f"{site}/",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
        }
        return self._request(url, callback, level, headers, cb_kwargs)

    def xhr_request(
        self, url: str, callback: Any, level: str = "options", **cb_kwargs: Any
    ) -> scrapy.Request:
        """An ``api/ymm-temp.php`` request as the store page's XHR sends it.

        Not through the duplicate filter: the same list is fetched again after a session restart.
        """
        headers = {
            "Accept": "*/*",
            "X-Requested-With": "XMLHttpRequest",
            "Referer": f"{self.urls.site_url}/store/wheels",
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
        }
        return self._request(url, callback, level, headers, cb_kwargs, dont_filter=True)

    def page_request(self, url: str, callback: Any, **cb_kwargs: Any) -> scrapy.Request:
        """A store page fetched like a browser navigation.

        Not through the duplicate filter: each is made once, from a vehicle response that the
        filter already let through once, and ``combos=all`` makes ~590 per vehicle, so the
        filter would hold 34.5 million fingerprints (~3 GB) for the catalogue
        (``bench/dedup_memory.py``).
        """
        headers = {
            "Accept": (
                "text/html,application/xhtml+xml,application/xml;q=0.9,"
                "image/avif,image/webp,*/*;q=0.8"
            ),
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
            "Sec-Fetch-User": "?1",
            "Upgrade-Insecure-Requests": "1",
            "Referer": f"{self.urls.site_url}/store/wheels",
        }
        return self._request(url, callback, "store", headers, cb_kwargs, dont_filter=True)

    # -- cascade ------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        yield self.api_request(self.urls.years(), self.parse_years_list, "years")

    def _limit_reached(self) -> bool:
        return self.scope.limit is not None and self._vehicles_scheduled >= self.scope.limit

    def _received(self, response: scrapy.http.Response) -> None:
        self._outstanding[response.meta.get("cwo_level", "")] -= 1
        self._hosts_ok.add(urlsplit(response.url).netloc)

    def _parse(self, level: str, func: Any, response: scrapy.http.Response) -> Any:
        try:
            value = func(response.body)
        except ParseError as exc:
            self._failures += 1
            self.inc(f"parse_errors/{level}")
            logger.error("Cannot parse %s response from %s: %s", level, response.url, exc)
            if self.drift is not None:
                self.drift.failed(level, response, exc)
            return None
        if self.drift is not None:
            self.drift.ok(level)
        return value

    def parse_years_list(self, response: scrapy.http.Response) -> Iterable[scrapy.Request]:
        """The year list -> one makes request per year.

        @cwo_url years
        @returns requests 20
        @returns items 0 0
        """
        self._received(response)
        years = self._parse("years", parse_years, response)
        if years is None:
            return
        if self.scope.year is not None:
            if self.scope.year not in years:
                self.bad_argument(
                    f"year={self.scope.year}: not in the site's year list "
                    f"({min(years, default='-')}-{max(years, default='-')})"
                )
                return
            years = [self.scope.year]
        for year in years:
            if self.want_year(year):
                yield self.api_request(self.urls.makes(year), self.parse_makes, "makes", year=year)
        self._check_scope()

    def _scoped_names(
        self, response: scrapy.http.Response, level: str, field: str, wanted: str | None
    ) -> list[str]:
        """A make/model list, narrowed to the ``-a`` value in the site's spelling if one is set."""
        names = self._parse(level, lambda b: parse_name_list(b, level), response) or []
        if wanted is None:
            return names
        found = _match(wanted, names)
        self._matched[field] |= found is not None
        return [found] if found else []

    def parse_makes(self, response: scrapy.http.Response, year: int) -> Iterable[scrapy.Request]:
        """A year's makes -> one models request per make.

        @cwo_url makes year=2024
        @returns requests 10
        @returns items 0 0
        """
        self._received(response)
        for make in self._scoped_names(response, "makes", "make", self.scope.make):
            if self._limit_reached():
                break
            if self.want_make(year, make):
                yield self.api_request(
                    self.urls.models(year, make), self.parse_models, "models", year=year, make=make
                )
        self._check_scope()

    def parse_models(
        self, response: scrapy.http.Response, year: int, make: str
    ) -> Iterable[scrapy.Request]:
        """A make's models -> one trims request per model.

        @cwo_url models year=2024 make=Toyota
        @returns requests 2
        @returns items 0 0
        """
        self._received(response)
        for model in self._scoped_names(response, "models", "model", self.scope.model):
            if self._limit_reached():
                break
            if self.want_model(year, make, model):
                yield self.api_request(
                    self.urls.trims(year, make, model),
                    self.parse_trims_object,
                    "trims",
                    year=year,
                    make=make,
                    model=model,
                )
        self._check_scope()

    def parse_trims_object(
        self, response: scrapy.http.Response, year: int, make: str, model: str
    ) -> Iterable[scrapy.Request]:
        """A model's trims object -> one drives request per trim.

        @cwo_url trims year=2024 make=Toyota model=Tacoma
        @returns requests 1
        @returns items 0 0
        """
        self._received(response)
        info = self._parse("trims", parse_trims, response)
        for trim in info.trims if info else []:
            if self._limit_reached():
                break
            if self.want_trim(year, make, model, trim):
                yield self.api_request(
                    self.urls.drives(year, make, model, trim),
                    self.parse_drives,
                    "drives",
                    year=year,
                    make=make,
                    model=model,
                    trim=trim,
                )

    def parse_drives(
        self, response: scrapy.http.Response, year: int, make: str, model: str, trim: str
    ) -> Iterable[scrapy.Request]:
        """A trim's drives -> one vehicle-record request per drive.

        @cwo_url drives year=2024 make=Toyota model=Tacoma trim=Limited
        @returns requests 1
        @returns items 0 0
        """
        self._received(response)
        drives = self._parse("drives", lambda b: parse_name_list(b, "drives"), response)
        for drive in drives or []:
            if self._limit_reached():
                break
            if not self.want_vehicle(year, make, model, trim, drive):
                continue
            self._vehicles_scheduled += 1
            self.inc("vehicles_discovered")
            yield self.api_request(
                self.urls.vehicle(year, make, model, trim, drive),
                self.parse_vehicle_record,
                "vehicle",
                key=(year, make, model, trim, drive),
            )

    def parse_vehicle_record(
        self, response: scrapy.http.Response, key: tuple[int, str, str, str, str]
    ) -> Iterable[Any]:
        """A vehicle record -> the request for its type's preference lists (first vehicle).

        @cwo_url vehicle year=2024 make=Toyota model=Tacoma trim=Limited drive=4WD
        @returns requests 1 1
        @returns items 0 0
        """
        self._received(response)
        vehicle = self._parse("vehicle", parse_vehicle, response)
        if vehicle is None:
            self.vehicle_failed("parse_error")
            return
        if vehicle_key(vehicle) != key:
            # The record names another vehicle: trust the lists that led here, and say so.
            self.inc("vehicle_identity_mismatch")
            logger.warning("Vehicle record %s names %s", response.url, vehicle_key(vehicle))
        if self.schema is not None:
            self.schema.record(vehicle)
        self.inc("vehicles_parsed")
        yield from self.on_vehicle(vehicle)

    # -- scope hooks (tests narrow a crawl to an exact set of vehicles by overriding these) ----
    def want_year(self, year: int) -> bool:
        return True

    def want_make(self, year: int, make: str) -> bool:
        return True

    def want_model(self, year: int, make: str, model: str) -> bool:
        return True

    def want_trim(self, year: int, make: str, model: str, trim: str) -> bool:
        return True

    def want_vehicle(self, year: int, make: str, model: str, trim: str, drive: str) -> bool:
        return True

    # -- vehicles wait for their type's option lists --------------------------------------------
    def on_vehicle(self, vehicle: VehicleRecord) -> Iterable[Any]:
        """Called once per parsed vehicle record: hands it on once its type's lists are known."""
        if self.options_failed(vehicle.vehicle_type):
            self.vehicle_failed("no_option_lists")
            return
        options, requests = self.options_for(vehicle)
        if options is None:
            self._waiting[vehicle.vehicle_type].append(vehicle)
            yield from requests
            return
        yield from self.vehicle_ready(vehicle, options)

    def on_options(self, vehicle_type: str, options: OptionLists | None) -> Iterable[Any]:
        """Called once per vehicle type when its lists arrived (``None``: they cannot be had)."""
        for vehicle in self._waiting.pop(vehicle_type, []):
            if options is None:
                self.vehicle_failed("no_option_lists")
                continue
            yield from self.vehicle_ready(vehicle, options)

    # -- subclass hook ----------------------------------------------------------------------------
    def vehicle_ready(self, vehicle: VehicleRecord, options: OptionLists) -> Iterable[Any]:
        """A vehicle with its type's option lists: yield its items and requests."""
        raise NotImplementedError

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
        url = self.urls.ymm_set(
            vehicle_type=v.vehicle_type,
            year=v.year,
            make=v.make,
            model=v.model,
            trim=v.trim,
            drive=v.drive,
            chassis=v.chassis_id,
        )
        return self.xhr_request(url, self._after_set, vehicle_type=vehicle_type, kind="set")

    def _list_request(self, vehicle_type: str, kind: str) -> scrapy.Request:
        url = self.urls.ymm_options(vehicle_type, kind)  # type: ignore[arg-type]
        return self.xhr_request(url, self._after_list, vehicle_type=vehicle_type, kind=kind)

    def _after_set(
        self, response: scrapy.http.Response, vehicle_type: str, kind: str
    ) -> Iterable[Any]:
        self._received(response)
        yield self._list_request(vehicle_type, OPTION_KINDS[0])

    def _after_list(
        self, response: scrapy.http.Response, vehicle_type: str, kind: str
    ) -> Iterable[Any]:
        self._received(response)
        state = self._types[vehicle_type]
        values = self._parse(f"options/{kind}", parse_option_list, response)
        if not values:
            if values is not None:
                self.inc(f"parse_errors/options/{kind}")
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
        self.inc("option_types_fetched" if ok else "option_types_failed")
        if ok:
            logger.info(
                "Fitment preference lists for %r: %d suspension, %d modification, %d rubbing",
                vehicle_type,
                *(len(state.lists[k]) for k in OPTION_KINDS),
            )
        else:
            logger.error("No fitment preference lists for vehicle type %r", vehicle_type)
        yield from self.on_options(vehicle_type, self._lists(state) if ok else None)
        yield from self._next_type_chain()

    def _option_error(self, failure: Failure, vehicle_type: str) -> Iterable[Any]:
        # Local import keeps this change to this method (the project's one retry path).
        from scrapy.downloadermiddlewares.retry import get_retry_request

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
                spider=self,
                reason="401",
                max_retry_times=self.settings.getint("CWO_OPTIONS_SESSION_RESTARTS"),
                stats_base_key="cwo/options_session_restart",
            )
            if allowed is not None:
                state.restarts += 1
                self.inc("options_session_restarts")
                logger.warning("ymm-temp.php: 401 for %r; storing the vehicle again", vehicle_type)
                return [self._set_request(vehicle_type)]
        return list(self._type_finished(vehicle_type, ok=False))

    # -- failures -----------------------------------------------------------------------------
    def _errback(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        level = request.meta.get("cwo_level", "other")
        self._outstanding[level] -= 1
        if failure.check(HttpError):
            what = f"http_{failure.value.response.status}"
            self._hosts_ok.add(urlsplit(request.url).netloc)
        else:
            what = type(failure.value).__name__
        self.inc(f"requests_failed/{level}/{what}")
        host = urlsplit(request.url).netloc
        if failure.check(*_CONNECT_ERRORS) and host not in self._hosts_ok:
            message = f"cannot reach {host}: {failure.getErrorMessage()}"
            logger.error("Site unreachable: %s", message)
            self.stop_crawl(REASON_UNREACHABLE, message)
            return ()
        if level == "options":
            vehicle_type = request.cb_kwargs["vehicle_type"]
            logger.error(
                "ymm-temp.php %s request for %r failed: %s",
                request.cb_kwargs.get("kind"),
                vehicle_type,
                what,
            )
            return self._option_error(failure, vehicle_type)
        logger.error("%s request %s failed: %s", level, request.url, what)
        if level == "vehicle":
            self.vehicle_failed(what)
        elif level == "store":
            return self.on_store_failure(request, what)
        else:
            self._failures += 1
            self._check_scope()
        return ()

    def on_store_failure(self, request: scrapy.Request, what: str) -> Iterable[Any]:
        """A store page could not be fetched (hook for the wheel_size spider)."""
        self._failures += 1
        return ()

    def stop_crawl(self, reason: str, message: str) -> None:
        """Close the crawl with ``reason`` (once); ``scrapy crawl`` prints ``message``."""
        if close_crawl(self.crawler, reason, message):
            self.close_message = message

    def bad_argument(self, message: str) -> None:
        """A scope value is not on the site: stop before crawling anything else."""
        logger.error("Bad argument: %s", message)
        self.stop_crawl(REASON_BAD_ARGUMENT, message)

    def _check_scope(self) -> None:
        """Once every list that could contain the make/model arrived, check they were found."""
        out = self._outstanding
        if not self._scope_checks:
            return
        if (
            self.scope.make is not None
            and out["years"] == 0
            and out["makes"] == 0
            and not self._matched["make"]
            and self._failures == 0
        ):
            where = f" for {self.scope.year}" if self.scope.year else ""
            self.bad_argument(f"make={self.scope.make!r}: not in the site's make list{where}")
        if (
            self.scope.model is not None
            and out["years"] == 0
            and out["makes"] == 0
            and out["models"] == 0
            and not self._matched["model"]
            and self._failures == 0
            and (self.scope.make is None or self._matched["make"])
        ):
            where = " ".join(str(v) for v in (self.scope.year, self.scope.make) if v)
            self.bad_argument(
                f"model={self.scope.model!r}: not in the site's model list"
                + (f" for {where}" if where else "")
            )

    def _on_idle(self, spider: scrapy.Spider) -> None:
        if spider is not self or close_reason(self.crawler) is not None:
            return
        stats = self.crawler.stats.get_stats()
        errors = sum(v for k, v in stats.items() if k.startswith("spider_exceptions/"))
        if self._failures or errors:
            message = (
                f"{self._failures} failed request(s) or parse error(s) and {errors} spider "
                "error(s); some data is missing, see the log and the cwo/* stats"
            )
            if message != self.close_message:
                logger.error("Crawl incomplete: %s", message)
                self.close_message = message
            # Raised on every idle signal, not latched: in cluster mode an extension may keep
            # the spider open (DontCloseSpider) on one call and let it close on a later one.
            raise CloseSpider(REASON_INCOMPLETE)
