"""The vehicle cascade shared by the ``fitment`` and ``wheel_size`` spiders.

Years -> makes -> models -> trims object -> drives per trim -> vehicle record, through the
fitment JSON API (``CWO_API_URL``), with the scope filters ``year``/``make``/``model`` and
``limit``. Subclasses receive each parsed vehicle through :meth:`CascadeSpider.on_vehicle`.

:class:`CascadeSpider` also fetches the fitment preference lists of ``api/ymm-temp.php`` once per
vehicle type, through its :class:`cwo_scrapy.options.OptionChain` (``self.options``). Its base,
:class:`cwo_scrapy.levels.CascadeLevels`, builds each level's requests and handles failed ones.

Session handling (cookiejar key, PHPSESSID, WAF token, 401 recovery) belongs to the session
middleware; the spiders never set ``meta["cookiejar"]``. Failures are counted under ``cwo/...``
stats and reported to :mod:`cwo_scrapy.completeness`, which closes a crawl that lost data with
reason ``incomplete`` when it goes idle; a crawl that never reached a host closes with
``site_unreachable``, so ``scrapy crawl`` can exit non-zero.
"""

from __future__ import annotations

import logging
import typing
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy_spider_metadata import Args

from cwo_scrapy import completeness
from cwo_scrapy.addon import register_defaults
from cwo_scrapy.drift import DriftGuard, SchemaWatch
from cwo_scrapy.levels import CascadeLevels
from cwo_scrapy.options import OptionChain, OptionLists
from cwo_scrapy.parsing import (
    ParseError,
    VehicleRecord,
    parse_name_list,
    parse_trims,
    parse_vehicle,
    parse_years,
)
from cwo_scrapy.pipelines import SeenIdentities, items_in_output
from cwo_scrapy.spiderargs import Scope, SpiderArgumentError
from cwo_scrapy.spiderparams import ScopeParams, validate
from cwo_scrapy.urls import CwoUrls

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def vehicle_key(v: VehicleRecord) -> tuple[int, str, str, str, str]:
    return (v.year, v.make, v.model, v.trim, v.drive)


def _match(value: str, choices: Iterable[str]) -> str | None:
    """The site's spelling of ``value``: exact match first, then case-insensitive."""
    choices = list(choices)
    if value in choices:
        return value
    folded = value.casefold()
    return next((c for c in choices if c.casefold() == folded), None)


class CascadeSpider(CascadeLevels, Args[ScopeParams]):
    """Base spider: the vehicle cascade, preference lists per type, failure reporting.

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
        self._hosts_ok: set[str] = set()
        self.options = OptionChain(self)
        self._waiting: dict[str, list[VehicleRecord]] = defaultdict(list)
        self.drift: DriftGuard | None = None  # set by from_crawler
        self.schema: SchemaWatch | None = None
        # Items already in the feed this crawl appends to (set in start()): not fetched again.
        self.in_output: SeenIdentities | None = None
        # Marks the vehicle requests of this run: one a JOBDIR run left queued is counted as
        # discovered when handled, so the completeness check balances. None in cluster mode
        # (one logical run across workers; that check is skipped there).
        self._run: str | None = uuid.uuid4().hex[:12]

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
        if settings.getbool("CWO_CLUSTER"):
            spider._run = None
        spider.drift = DriftGuard(crawler)
        spider.schema = SchemaWatch(crawler)
        crawler.signals.connect(spider.schema.log_summary, signal=signals.spider_closed)
        return spider

    # -- cascade ------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        self.in_output = items_in_output(self.crawler)
        yield self.api_request(self.urls.years(), self.parse_years_list, "years")

    def _limit_reached(self) -> bool:
        return self.scope.limit is not None and self._vehicles_scheduled >= self.scope.limit

    def _parse(self, level: str, func: Any, response: scrapy.http.Response) -> Any:
        try:
            value = func(response.body)
        except ParseError as exc:
            self.count_failure()
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
        self.crawler.signals.send_catch_log(completeness.root_received)
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

    def _scoped_names(
        self, response: scrapy.http.Response, level: str, field: str, wanted: str | None
    ) -> list[str]:
        """A make/model list, narrowed to the ``-a`` value in the site's spelling if one is set."""
        names = self._parse(level, lambda b: parse_name_list(b, level), response) or []
        if wanted is None:
            return names
        found = _match(wanted, names)
        if found is not None:
            self.crawler.signals.send_catch_log(completeness.scope_found, field=field)
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
            if self.in_output is not None and self.vehicle_in_output(
                (year, make, model, trim, drive)
            ):
                self.inc("vehicles_skipped_in_output")
                self.vehicle_done()
                continue
            request = self.api_request(
                self.urls.vehicle(year, make, model, trim, drive),
                self.parse_vehicle_record,
                "vehicle",
                key=(year, make, model, trim, drive),
            )
            request.meta["cwo_run"] = self._run
            yield request

    def parse_vehicle_record(
        self, response: scrapy.http.Response, key: tuple[int, str, str, str, str]
    ) -> Iterable[Any]:
        """A vehicle record -> the request for its type's preference lists (first vehicle).

        @cwo_url vehicle year=2024 make=Toyota model=Tacoma trim=Limited drive=4WD
        @returns requests 1 1
        @returns items 0 0
        """
        self._received(response)
        self._vehicle_carried_over(response.request)
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

    def vehicle_in_output(self, key: tuple[int, str, str, str, str]) -> bool:
        """Are this vehicle's items all in the appended feed already? (resume; hook)"""
        return False

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
        if self.options.options_failed(vehicle.vehicle_type):
            self.vehicle_failed("no_option_lists")
            return
        options, requests = self.options.options_for(vehicle)
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
