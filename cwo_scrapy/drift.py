"""Drift circuit breaker: stop a crawl whose responses the parsers no longer understand.

When the site changes its markup or API, every response of one kind fails to parse and a
polite crawl would spend hours producing nothing. :class:`DriftCounter` (pure, O(1) per
response) counts parsed and failed responses per kind; once at least ``CWO_DRIFT_MIN_SAMPLES``
of a kind were seen and more than ``CWO_DRIFT_MAX_FAILURE_RATIO`` of them failed, it trips.
:class:`DriftGuard` is the Scrapy side: it keeps up to three failing responses, saves them
redacted under ``CWO_SAMPLES_DIR`` when it trips, logs one line (parser, first failing URL,
failure count) and closes the crawl with reason ``site_changed``. What was scraped stays in the
feed. The schema watch (:class:`SchemaWatch`) reports vehicle-record keys that drifted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cwo_scrapy.closing import close_crawl
from cwo_scrapy.samples import samples_dir, save_sample, write_manifest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from cwo_scrapy.parsing import VehicleRecord

logger = logging.getLogger(__name__)

REASON_SITE_CHANGED = "site_changed"
MAX_SAVED = 3

#: The parser behind each response kind (a cascade level), for the message a user reads.
PARSERS = {
    "years": "parse_years",
    "makes": "parse_name_list",
    "models": "parse_name_list",
    "trims": "parse_trims",
    "drives": "parse_name_list",
    "vehicle": "parse_vehicle",
    "store": "parse_fit_ranges",
}


def parser_name(kind: str) -> str:
    return PARSERS.get(kind) or ("parse_option_list" if kind.startswith("options") else kind)


class DriftCounter:
    """Parsed/failed counts per response kind, and the rule that says the site changed."""

    __slots__ = ("_failed", "_seen", "first_url", "max_ratio", "min_samples")

    def __init__(self, max_ratio: float = 0.2, min_samples: int = 30) -> None:
        self.max_ratio = max_ratio
        self.min_samples = min_samples
        self._seen: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self.first_url: dict[str, str] = {}

    def _over(self, kind: str, seen: int) -> bool:
        failed = self._failed.get(kind, 0)
        return failed > 0 and seen >= self.min_samples and failed > self.max_ratio * seen

    def ok(self, kind: str) -> bool:
        """A response of ``kind`` parsed; True if the kind is over the limit now."""
        seen = self._seen[kind] = self._seen.get(kind, 0) + 1
        return seen >= self.min_samples and self._over(kind, seen)

    def failed(self, kind: str, url: str) -> bool:
        """A response of ``kind`` failed to parse; True if the kind is over the limit now."""
        seen = self._seen[kind] = self._seen.get(kind, 0) + 1
        self._failed[kind] = self._failed.get(kind, 0) + 1
        self.first_url.setdefault(kind, url)
        return self._over(kind, seen)

    def counts(self, kind: str) -> tuple[int, int]:
        """(failed, seen) for ``kind``."""
        return self._failed.get(kind, 0), self._seen.get(kind, 0)


class DriftGuard:
    """The breaker in a crawl: counts through the cascade's parse hook, closes on drift."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.counter = DriftCounter(
            settings.getfloat("CWO_DRIFT_MAX_FAILURE_RATIO"),
            settings.getint("CWO_DRIFT_MIN_SAMPLES"),
        )
        self.samples_root = samples_dir(settings)
        self.crawler = crawler  # stats exist only once the crawl started
        self._bad: dict[str, list[tuple[Response, str]]] = {}
        self.tripped: str | None = None

    def ok(self, kind: str) -> None:
        if self.counter.ok(kind) and self.tripped is None:
            self._trip(kind)

    def failed(self, kind: str, response: Response, error: Exception | str) -> None:
        bad = self._bad.setdefault(kind, [])
        if len(bad) < MAX_SAVED:
            bad.append((response, str(error)))
        if self.counter.failed(kind, response.url) and self.tripped is None:
            self._trip(kind)

    def _save(self, kind: str) -> str:
        stamp = datetime.now(UTC)
        folder = self.samples_root / stamp.strftime("%Y-%m-%d") / f"drift-{stamp:%H%M%S}"
        safe = kind.replace("/", "-")
        try:
            entries = [
                save_sample(folder, f"{safe}-{n}", response, kind=kind, parsed=False, note=error)
                for n, (response, error) in enumerate(self._bad.get(kind, []), 1)
            ]
            write_manifest(folder, entries, reason=REASON_SITE_CHANGED, parser=parser_name(kind))
        except OSError as exc:
            logger.error("Cannot save drift samples under %s: %s", folder, exc)
            return f"not saved ({exc.strerror or exc})"
        return str(folder)

    def _trip(self, kind: str) -> None:
        self.tripped = kind
        failed, seen = self.counter.counts(kind)
        where = self._save(kind)
        message = (
            f"site changed: {parser_name(kind)} failed on {failed} of {seen} {kind} responses "
            f"(first: {self.counter.first_url[kind]}); samples: {where}"
        )
        self.crawler.stats.set_value("cwo/drift/tripped", kind)
        self.crawler.stats.set_value("cwo/drift/failed", failed)
        close_crawl(self.crawler, REASON_SITE_CHANGED, message)  # logs the one line


class SchemaWatch:
    """Vehicle-record keys that differ from what the parser expects: stats and one INFO line.

    Per record: ``cwo/schema/missing/<key>`` for each expected key it lacks; per crawl:
    ``cwo/schema/unknown_keys`` (how many distinct unknown keys were seen) and one line at the
    end listing both, so a user sees the API drift without reading stats.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.missing: dict[str, int] = {}
        self.unknown: set[str] = set()
        self.records = 0

    def record(self, vehicle: VehicleRecord) -> None:
        self.records += 1
        if vehicle.missing_keys:
            inc = self.crawler.stats.inc_value
            for key in vehicle.missing_keys:
                self.missing[key] = self.missing.get(key, 0) + 1
                inc(f"cwo/schema/missing/{key}")
        if vehicle.unknown_keys and not self.unknown.issuperset(vehicle.unknown_keys):
            self.unknown.update(vehicle.unknown_keys)
            self.crawler.stats.set_value("cwo/schema/unknown_keys", len(self.unknown))

    def summary(self) -> str | None:
        """The line for the log, or None when every record had exactly the expected keys."""
        if not self.missing and not self.unknown:
            return None
        missing = ", ".join(f"{k} ({n})" for k, n in sorted(self.missing.items())) or "none"
        unknown = ", ".join(sorted(self.unknown)) or "none"
        return (
            f"Vehicle record schema differs from the expected one in {self.records} record(s): "
            f"missing keys: {missing}; unknown keys (ignored): {unknown}"
        )

    def log_summary(self, *_: Any) -> None:
        line = self.summary()
        if line:
            logger.info(line)
