"""``scrapy fieldcheck``: one sample of every response kind the spiders parse, checked live.

Before a long crawl of the real site a user wants to know that our parsers still read what the
site sends. :class:`FieldCheckSpider` walks the cascade once (years, makes, models, the trims
object, drives, one vehicle record, the ``ymm-temp.php`` set call, the three option lists and
one store page for that vehicle), through the project's downloader middlewares, so the session
middleware handles the WAF and 401s as in a crawl. Every parser runs on its sample; a kind that
fails stops the walk, and the kinds after it are reported as not fetched.
:func:`save_report` writes the samples (redacted) and a ``manifest.json`` that also holds the
report; :func:`format_table` is the table the command prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy.spidermiddlewares.httperror import HttpError

from cwo_scrapy.cascade import CascadeSpider, _match
from cwo_scrapy.options import OPTION_KINDS
from cwo_scrapy.parsing import (
    ParseError,
    VehicleRecord,
    parse_fit_ranges,
    parse_name_list,
    parse_option_list,
    parse_trims,
    parse_vehicle,
    parse_years,
)
from cwo_scrapy.samples import save_sample, write_manifest

#: Every kind, in the order the walk fetches them.
KINDS: tuple[str, ...] = (
    "years",
    "makes",
    "models",
    "trims",
    "drives",
    "vehicle",
    "set",
    *(f"options/{k}" for k in OPTION_KINDS),
    "store",
)


#: The parser the spiders run on each kind (``set``: none, the spiders read no body), so a saved
#: folder can be checked again offline: ``parse_sample(kind, load_samples(dir)[kind].body)``.
SAMPLE_PARSERS: dict[str, Callable[[bytes], Any]] = {
    "years": parse_years,
    "makes": lambda b: parse_name_list(b, "makes"),
    "models": lambda b: parse_name_list(b, "models"),
    "trims": parse_trims,
    "drives": lambda b: parse_name_list(b, "drives"),
    "vehicle": parse_vehicle,
    "set": lambda b: None,
    **{f"options/{k}": parse_option_list for k in OPTION_KINDS},
    "store": parse_fit_ranges,
}


def parse_sample(kind: str, body: bytes) -> Any:
    """Run the spiders' parser for ``kind`` on a saved body (ParseError if it cannot read it)."""
    return SAMPLE_PARSERS[kind](body)


@dataclass(slots=True)
class Row:
    """One line of the report."""

    kind: str
    url: str = ""
    status: int | None = None
    parsed: bool = False
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    note: str = ""
    file: str = ""


class FieldCheckSpider(CascadeSpider):
    """The cascade's request builders and scope arguments, walked once, depth first."""

    name = "fieldcheck"
    allowed_arguments: ClassVar[frozenset[str]] = frozenset({"year", "make", "model"})
    custom_settings: ClassVar[dict[str, Any]] = {"FEEDS": {}}
    # The walk ends when its last request is answered; no ``incomplete`` verdict.
    completeness_checks = False

    def apply_arguments(self, parsed: dict[str, Any]) -> None:
        self.rows: dict[str, Row] = {kind: Row(kind) for kind in KINDS}
        self.responses: dict[str, scrapy.http.Response] = {}
        self.vehicle: VehicleRecord | None = None
        self.lists: dict[str, list[str]] = {}

    async def start(self) -> Any:
        yield self._get("years", self.urls.years())

    # -- plumbing -----------------------------------------------------------------------------
    def _get(self, kind: str, url: str) -> scrapy.Request:
        self.rows[kind].url = url
        callback = self._callback(kind)
        if kind == "store":
            request = self.page_request(url, callback)
        elif kind in ("set",) or kind.startswith("options/"):
            request = self.xhr_request(url, callback)
        else:
            request = self.api_request(url, callback, kind)
        request.errback = self._failed
        request.meta["fieldcheck_kind"] = kind
        return request

    def _callback(self, kind: str) -> Callable[[scrapy.http.Response], Iterable[Any]]:
        def callback(response: scrapy.http.Response) -> Iterable[Any]:
            row = self.rows[kind]
            row.url, row.status = response.url, response.status
            self.responses[kind] = response
            try:
                yield from getattr(self, "check_" + kind.replace("options/", "option_"))(response)
            except ParseError as exc:
                row.parsed, row.note = False, str(exc)
                self._skip_after(kind)

        return callback

    def _failed(self, failure: Any) -> None:
        request = failure.request
        kind = request.meta["fieldcheck_kind"]
        row = self.rows[kind]
        if failure.check(HttpError):
            response = failure.value.response
            row.status = response.status
            self.responses[kind] = response
            row.note = f"HTTP {response.status}"
        else:
            row.note = f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
        self._skip_after(kind)

    def _skip_after(self, kind: str) -> None:
        for later in KINDS[KINDS.index(kind) + 1 :]:
            if not self.rows[later].note:
                self.rows[later].note = f"not fetched: {kind} failed"

    def _ok(self, kind: str, note: str) -> Row:
        row = self.rows[kind]
        row.parsed, row.note = True, note
        return row

    def _pick(self, kind: str, names: list[str], wanted: str | None) -> str:
        if not names:
            raise ParseError(f"{kind}: the list is empty")
        if wanted is None:
            return names[0]
        found = _match(wanted, names)
        if found is None:
            raise ParseError(f"{kind}: {wanted!r} is not in the site's list of {len(names)}")
        return found

    # -- the walk -----------------------------------------------------------------------------
    def check_years(self, response: scrapy.http.Response) -> Iterable[Any]:
        years = parse_years(response.body)
        if not years:
            raise ParseError("years: the list is empty")
        year = self.scope.year if self.scope.year is not None else max(years)
        if year not in years:
            raise ParseError(f"years: {year} is not in the site's list")
        self.year = year
        self._ok("years", f"{len(years)} years, {min(years)}-{max(years)}; using {year}")
        yield self._get("makes", self.urls.makes(year))

    def check_makes(self, response: scrapy.http.Response) -> Iterable[Any]:
        makes = parse_name_list(response.body, "makes")
        self.make = self._pick("makes", makes, self.scope.make)
        self._ok("makes", f"{len(makes)} makes; using {self.make}")
        yield self._get("models", self.urls.models(self.year, self.make))

    def check_models(self, response: scrapy.http.Response) -> Iterable[Any]:
        models = parse_name_list(response.body, "models")
        self.model = self._pick("models", models, self.scope.model)
        self._ok("models", f"{len(models)} models; using {self.model}")
        yield self._get("trims", self.urls.trims(self.year, self.make, self.model))

    def check_trims(self, response: scrapy.http.Response) -> Iterable[Any]:
        info = parse_trims(response.body)
        self.trim = self._pick("trims", info.trims, None)
        self._ok("trims", f"{len(info.trims)} trims; using {self.trim}")
        yield self._get("drives", self.urls.drives(self.year, self.make, self.model, self.trim))

    def check_drives(self, response: scrapy.http.Response) -> Iterable[Any]:
        drives = parse_name_list(response.body, "drives")
        drive = self._pick("drives", drives, None)
        self._ok("drives", f"{len(drives)} drives; using {drive}")
        url = self.urls.vehicle(self.year, self.make, self.model, self.trim, drive)
        yield self._get("vehicle", url)

    def check_vehicle(self, response: scrapy.http.Response) -> Iterable[Any]:
        v = self.vehicle = parse_vehicle(response.body)
        row = self._ok("vehicle", f"{v.vehicle_type}, chassis {v.chassis_id}")
        row.missing, row.unknown = list(v.missing_keys), list(v.unknown_keys)
        yield self._get("set", self.urls.ymm_set(**_vehicle_args(v)))

    def check_set(self, response: scrapy.http.Response) -> Iterable[Any]:
        self._ok("set", "vehicle stored in the PHP session (the spiders read no body)")
        yield self._option_request(OPTION_KINDS[0])

    def _option_request(self, kind: str) -> scrapy.Request:
        assert self.vehicle is not None
        assert self.vehicle.vehicle_type
        url = self.urls.ymm_options(self.vehicle.vehicle_type, kind)  # type: ignore[arg-type]
        return self._get(f"options/{kind}", url)

    def _on_option(self, kind: str, response: scrapy.http.Response) -> Iterable[Any]:
        values = parse_option_list(response.body)
        if not values:
            raise ParseError(f"option list {kind}: empty")
        self.lists[kind] = values
        self._ok(f"options/{kind}", f"{len(values)} values; stock: {values[0]}")
        index = OPTION_KINDS.index(kind)
        if index + 1 < len(OPTION_KINDS):
            yield self._option_request(OPTION_KINDS[index + 1])
            return
        v = self.vehicle
        assert v is not None
        url = self.urls.store_wheels(
            **_vehicle_args(v),
            suspension=self.lists["suspension"][0],
            modification=self.lists["trimming"][0],
            rubbing=self.lists["rubbing"][0],
        )
        yield self._get("store", url)

    def check_option_suspension(self, response: scrapy.http.Response) -> Iterable[Any]:
        return self._on_option("suspension", response)

    def check_option_trimming(self, response: scrapy.http.Response) -> Iterable[Any]:
        return self._on_option("trimming", response)

    def check_option_rubbing(self, response: scrapy.http.Response) -> Iterable[Any]:
        return self._on_option("rubbing", response)

    def check_store(self, response: scrapy.http.Response) -> Iterable[Any]:
        v = self.vehicle
        fit = parse_fit_ranges(response.body, square=not (v and v.staggered))
        if fit is None:
            note = "no-results page: the store found nothing for this vehicle"
        elif not fit.found:
            note = "no fit-range block and no no-results marker: ranges will be null"
        else:
            f = fit.front
            note = (
                f'front {f.diameter_min_in}-{f.diameter_max_in}" x '
                f'{f.width_min_in}-{f.width_max_in}", {f.offset_min_mm}-{f.offset_max_mm}mm'
                + ("; staggered" if fit.staggered else "")
            )
        self._ok("store", note)
        return ()


def _vehicle_args(v: VehicleRecord) -> dict[str, Any]:
    """The vehicle as the ``ymm-temp.php`` and store URL builders take it."""
    return {
        "vehicle_type": v.vehicle_type or "",
        "year": v.year,
        "make": v.make,
        "model": v.model,
        "trim": v.trim,
        "drive": v.drive,
        "chassis": v.chassis_id or "",
    }


def report(spider: FieldCheckSpider) -> list[Row]:
    return [spider.rows[k] for k in KINDS]


def save_report(folder: Path, spider: FieldCheckSpider, **extra: Any) -> Path:
    """Save each fetched body (redacted) and ``manifest.json`` with the report in it."""
    rows = report(spider)
    entries = []
    for row in rows:
        response = spider.responses.get(row.kind)
        entry: dict[str, Any]
        if response is not None:
            entry = save_sample(folder, row.kind.replace("/", "-"), response, **_meta(row))
            row.file = entry["file"]
        else:
            entry = {"file": "", "url": row.url, "status": row.status, **_meta(row)}
        entries.append(entry)
    return write_manifest(folder, entries, ok=all(r.parsed for r in rows), **extra)


def _meta(row: Row) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "parsed": row.parsed,
        "missing": row.missing,
        "unknown": row.unknown,
        "note": row.note,
    }


def as_json(rows: list[Row], folder: Path | None) -> dict[str, Any]:
    return {
        "ok": all(r.parsed for r in rows),
        "samples": str(folder) if folder else None,
        "rows": [asdict(r) for r in rows],
    }


def format_table(rows: list[Row]) -> str:
    """kind | URL | HTTP status | parsed | missing / unknown keys | note, one row per kind."""
    head = ("kind", "URL", "HTTP", "parsed", "missing / unknown keys", "note")
    lines = [head]
    for r in rows:
        keys = ""
        if r.missing or r.unknown:
            missing, unknown = ", ".join(r.missing) or "-", ", ".join(r.unknown) or "-"
            keys = f"missing: {missing} / unknown: {unknown}"
        lines.append(
            (
                r.kind,
                r.url or "-",
                str(r.status) if r.status is not None else "-",
                "yes" if r.parsed else "NO",
                keys or "-",
                r.note or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    return "\n".join(
        " | ".join([*(c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)), line[-1]])
        for line in lines
    )
