"""Every CWO URL the project requests, built in one place.

Spiders, resolvers, the ground-truth generator and the replica's tests all call these
builders, so a change of encoding or parameter order happens once. Path segments are
encoded with ``quote(value, safe="")`` (space -> ``%20``, ``+`` -> ``%2B``, ``&`` -> ``%26``,
``'`` -> ``%27``, ``/`` -> ``%2F``) and query strings with ``urlencode(quote_via=quote)`` so a
``+`` in a value is never read back as a space.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

from cwo_scrapy.default_settings import CWO_API_URL as DEFAULT_API_URL
from cwo_scrapy.default_settings import CWO_SITE_URL as DEFAULT_SITE_URL

OptionKind = Literal["suspension", "trimming", "rubbing"]
_OPTION_FLAGS: dict[str, str] = {
    "suspension": "getSuspension",
    "trimming": "getTrimming",
    "rubbing": "getRubbing",
}


def item_url_args(item: Mapping[str, Any]) -> dict[str, Any]:
    """The vehicle part of a store page or ``ymm-temp.php`` set URL, from an output item."""
    return {
        "year": item["year"],
        "make": item["make"],
        "model": item["model"],
        "trim": item["trim"],
        "drive": item["drive"],
        "chassis": item["chassis_id"],
        "vehicle_type": item["vehicle_type"],
    }


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _query(params: list[tuple[str, str | int]]) -> str:
    return urlencode([(k, str(v)) for k, v in params], quote_via=quote)


@dataclass(frozen=True, slots=True)
class CwoUrls:
    """URL builders for one target (the real site by default, or the replica)."""

    site_url: str = DEFAULT_SITE_URL
    api_url: str = DEFAULT_API_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "site_url", self.site_url.rstrip("/"))
        object.__setattr__(self, "api_url", self.api_url.rstrip("/"))

    # -- fitment JSON API (enthusiastenterprises.us, or the replica's /fitment/vehicle/co) --
    def years(self) -> str:
        return f"{self.api_url}/"

    def makes(self, year: str | int) -> str:
        return f"{self.api_url}/{_seg(year)}"

    def models(self, year: str | int, make: str) -> str:
        return f"{self.api_url}/{_seg(year)}/{_seg(make)}"

    def trims(self, year: str | int, make: str, model: str) -> str:
        return f"{self.api_url}/{_seg(year)}/{_seg(make)}/{_seg(model)}"

    def drives(self, year: str | int, make: str, model: str, trim: str) -> str:
        return (
            f"{self.api_url}/offsetguide/{_seg(year)}/{_seg(make)}/{_seg(model)}"
            f"/trim/{_seg(trim)}/drives"
        )

    def vehicle(self, year: str | int, make: str, model: str, trim: str, drive: str) -> str:
        return f"{self.api_url}/{_seg(year)}/{_seg(make)}/{_seg(model)}/{_seg(trim)}/{_seg(drive)}"

    # -- www.customwheeloffset.com --
    def home(self) -> str:
        return f"{self.site_url}/"

    def bp(
        self,
        year: str | int | None = None,
        make: str | None = None,
        model: str | None = None,
        trim: str | None = None,
    ) -> str:
        params: list[tuple[str, str | int]] = []
        for key, value in (("year", year), ("make", make), ("model", model), ("trim", trim)):
            if value is None:
                break
            params.append((key, value))
        q = _query(params)
        return f"{self.site_url}/makemodel/bp.php" + (f"?{q}" if q else "")

    def ymm_set(
        self,
        *,
        vehicle_type: str,
        year: str | int,
        make: str,
        model: str,
        trim: str,
        drive: str,
        chassis: str,
    ) -> str:
        """Stores the vehicle in the PHP session; the response sets ``PHPSESSID``."""
        q = _query(
            [
                ("store", "wheels"),
                ("type", "set"),
                ("vehicle_type", vehicle_type),
                ("year", year),
                ("make", make),
                ("model", model),
                ("trim", trim),
                ("drive", drive),
                ("chassis", chassis),
            ]
        )
        return f"{self.site_url}/api/ymm-temp.php?{q}"

    def ymm_options(self, vehicle_type: str, kind: OptionKind) -> str:
        """Fitment preference list for a vehicle type; needs a live ``PHPSESSID``."""
        q = _query(
            [
                ("type", "set"),
                ("vehicle_type", vehicle_type),
                ("store", "wheels"),
                (_OPTION_FLAGS[kind], "true"),
            ]
        )
        return f"{self.site_url}/api/ymm-temp.php?{q}"

    def store_wheels(
        self,
        *,
        year: str | int,
        make: str,
        model: str,
        trim: str,
        drive: str,
        chassis: str,
        vehicle_type: str,
        suspension: str,
        modification: str,
        rubbing: str,
        page: int | None = None,
    ) -> str:
        params: list[tuple[str, str | int]] = [
            ("sort", "instock"),
            ("year", year),
            ("make", make),
            ("model", model),
            ("trim", trim),
            ("drive", drive),
            ("DRChassisID", chassis),
            ("vehicle_type", vehicle_type),
            ("suspension", suspension),
            ("modification", modification),
            ("rubbing", rubbing),
            ("saleToggle", "0"),
            ("qdToggle", "0"),
        ]
        if page is not None:
            params.append(("page", page))
        return f"{self.site_url}/store/wheels?{_query(params)}"
