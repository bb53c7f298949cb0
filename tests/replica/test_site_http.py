"""The replica's CWO endpoints over real HTTP: contracts, encoding round trips, sessions, truth."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import pytest
from parsel import Selector

from cwo_scrapy.items import FitmentItem, WheelSizeItem
from cwo_scrapy.replica import truth
from cwo_scrapy.replica.catalogue import Catalogue, Vehicle
from cwo_scrapy.replica.harness import HttpResult, ReplicaProcess, fetch
from cwo_scrapy.replica.vehicles import default_combo, option_lists, vehicle_spec
from cwo_scrapy.urls import CwoUrls

SID_COOKIE = re.compile(r"^PHPSESSID=([a-z0-9]{26}); path=/$")


@pytest.fixture(scope="module")
def urls(replica: ReplicaProcess) -> CwoUrls:
    return CwoUrls(replica.site_url, replica.api_url)


def _cookie(result: HttpResult) -> str | None:
    headers = result.headers.get_all("Set-Cookie") or []
    for header in headers:
        m = SID_COOKIE.match(header)
        if m:
            return m[1]
    assert not headers, f"unexpected Set-Cookie {headers}"
    return None


def _set(urls: CwoUrls, v: Vehicle, sid: str | None = None) -> HttpResult:
    spec = vehicle_spec(v)
    url = urls.ymm_set(vehicle_type=spec.vehicle_type, year=v.year, make=v.make, model=v.model,
                       trim=v.trim, drive=v.drive, chassis=spec.chassis_id)  # fmt: skip
    return fetch(url, headers={"Cookie": f"PHPSESSID={sid}"} if sid else None)


def _store_url(urls: CwoUrls, v: Vehicle, combo: tuple[str, str, str] | None = None) -> str:
    spec = vehicle_spec(v)
    s, m, r = combo or default_combo(spec.vehicle_type)
    return urls.store_wheels(year=v.year, make=v.make, model=v.model, trim=v.trim, drive=v.drive,
                             chassis=spec.chassis_id, vehicle_type=spec.vehicle_type,
                             suspension=s, modification=m, rubbing=r)  # fmt: skip


# -- fitment API ----------------------------------------------------------------------------------
def test_fitment_api_cascade_contract(urls: CwoUrls) -> None:
    cat = Catalogue.load()
    years = fetch(urls.years())
    assert years.status == 200
    assert years.headers["Content-Type"].startswith("application/json")
    assert years.json() == cat.years()
    assert all(isinstance(y, str) for y in years.json())
    assert fetch(urls.makes(2022)).json() == cat.makes(2022)
    assert fetch(urls.models(2022, "Ford")).json() == cat.models(2022, "Ford")
    trims = fetch(urls.trims(2022, "Ford", "F-150")).json()
    assert set(trims) == {"vehicleType", "drive", "trim"}
    assert trims["trim"] == cat.trims(2022, "Ford", "F-150")
    assert set(trims["drive"]) == {d for t in trims["trim"]
                                   for d in cat.drives(2022, "Ford", "F-150", t)}  # fmt: skip
    assert set(trims["vehicleType"]) <= {"Truck", "truck"}
    assert fetch(urls.drives(2022, "Ford", "F-150", "XLT")).json() == ["4WD", "RWD"]
    record = fetch(urls.vehicle(2022, "Ford", "F-150", "XLT", "4WD")).json()
    assert all(isinstance(value, str) for value in record.values())
    spec = vehicle_spec(cat.get(2022, "Ford", "F-150", "XLT", "4WD"))
    assert record == spec.record()
    assert record["boltpattern"] == record["boltpatternMm"]


@pytest.mark.parametrize("path", [
    "/2031", "/2022/Fjord", "/2022/Ford/F-151", "/2022/Ford/F-150/XLT/8WD",
    "/offsetguide/2022/Ford/F-150/trim/XLZ/drives", "/2022/Ford%2FF-150", "/2022/Ford/F-150/XLT",
    "/2022/Ford%20",
])  # fmt: skip
def test_fitment_api_unknown_values_give_404_json(urls: CwoUrls, path: str) -> None:
    """Segments are decoded one by one: ``Ford%2FF-150`` is one (unknown) make, not two."""
    result = fetch(urls.api_url + path)
    assert result.status == 404
    assert result.json() == {"message": "Not Found"}


# -- encoding round trips -------------------------------------------------------------------------
def _odd_vehicles() -> list[Vehicle]:
    return [v for v in Catalogue.load() if any(c in s for s in v[1:5] for c in "+&'")]


def test_every_value_with_plus_ampersand_or_quote_round_trips(urls: CwoUrls) -> None:
    """Each such value, sent through CwoUrls, is decoded by the replica to the exact value."""
    vehicles = _odd_vehicles()
    assert len({s for v in vehicles for s in v[1:5] if "+" in s}) == 30
    assert any("&" in v.model for v in vehicles)
    assert any("'" in v.trim for v in vehicles)

    def check(v: Vehicle) -> None:
        spec = vehicle_spec(v)
        assert fetch(urls.vehicle(*v[:5])).json() == spec.record()
        assert v.model in fetch(urls.models(v.year, v.make)).json()
        assert v.trim in fetch(urls.trims(v.year, v.make, v.model)).json()["trim"]
        assert v.drive in fetch(urls.drives(*v[:4])).json()
        bp = Selector(text=fetch(urls.bp(*v[:4])).body.decode())
        assert v.drive in bp.css("select#drive option::attr(value)").getall()
        models = Selector(text=fetch(urls.bp(v.year, v.make)).body.decode())
        assert v.model in models.css("select#model option::attr(value)").getall()
        page = Selector(text=fetch(_store_url(urls, v)).body.decode())
        assert page.css("div.store-ymm-fitrange"), f"store page did not find {v}"
        echoed = [page.css(f"span#{k}.ymm-selected::attr(value)").get()
                  for k in ("year", "make", "model", "trim", "drive")]  # fmt: skip
        assert echoed == [str(v.year), v.make, v.model, v.trim, v.drive]
        # ymm-temp.php stores the decoded vehicle; the store page without a vehicle in the
        # query renders the session's vehicle, which proves what the session holds.
        sid = _cookie(_set(urls, v))
        from_session = fetch(urls.site_url + "/store/wheels?page=1",
                             headers={"Cookie": f"PHPSESSID={sid}"})  # fmt: skip
        sel = Selector(text=from_session.body.decode())
        assert sel.css("span#trim.ymm-selected::attr(value)").get() == v.trim
        assert sel.css("span#model.ymm-selected::attr(value)").get() == v.model
        assert sel.css("div.store-ymm-fitrange")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, vehicles))


def test_preference_values_with_quotes_ampersands_and_plus_round_trip(urls: CwoUrls) -> None:
    cat = Catalogue.load()
    car = next(v for v in cat.vehicles(year=2022) if vehicle_spec(v).vehicle_type == "car")
    truck = cat.get(2022, "Ford", "F-150", "XLT", "4WD")
    for v, combo in (
        (car, ('Lowered 1"-2"', "Fenders Pulled & Rolled", "Slight rub at full turn")),
        (car, ('Lowered >3"', "Wide Body / Flares", "Rubs")),
        (truck, ("Lowered 6+F / 8+R", "Fenders Rolled and Trimming", "Rubs")),
        (truck, ('Suspension Lift 7.5" & Body 3"', "No Trimming", "Rubs like crazy but who cares")),
    ):
        sel = Selector(text=fetch(_store_url(urls, v, combo)).body.decode())
        assert sel.css("div.store-ymm-fitrange"), combo
        chosen = [sel.css(f'span.ymm-selected[data-type="{t}"]::attr(data-value)').get()
                  for t in ("suspension", "mod", "rub")]  # fmt: skip
        assert chosen == list(combo)


# -- ymm-temp.php sessions ------------------------------------------------------------------------
def test_set_issues_a_session_and_options_need_it(urls: CwoUrls) -> None:
    v = Catalogue.load().get(2022, "Ford", "F-150", "XLT", "4WD")
    no_cookie = fetch(urls.ymm_options("truck", "suspension"))
    assert no_cookie.status == 401
    assert no_cookie.json() == {"error": "Invalid session"}
    bogus = fetch(urls.ymm_options("truck", "rubbing"),
                  headers={"Cookie": "PHPSESSID=" + "a" * 26})  # fmt: skip
    assert bogus.status == 401
    assert bogus.json() == {"error": "Invalid session"}

    first = _set(urls, v)
    assert first.status == 200
    sid = _cookie(first)
    assert sid is not None
    again = _set(urls, v, sid)
    assert again.status == 200
    assert _cookie(again) is None  # a live session is reused, no new cookie

    cookie = {"Cookie": f"PHPSESSID={sid}"}
    for vtype in ("truck", "Truck", "car", "CAR"):
        lists = option_lists(vtype)
        for kind, expected in zip(("suspension", "trimming", "rubbing"), lists, strict=True):
            result = fetch(urls.ymm_options(vtype, kind), headers=cookie)
            assert result.status == 200
            assert result.headers["Content-Type"].startswith("application/json")
            assert result.json() == list(expected)
    other = _cookie(_set(urls, v))
    assert other not in (None, sid)


def test_expired_sessions_give_401(replica_factory) -> None:
    proc = replica_factory(extra_args=["--session-ttl", "1"])
    urls = CwoUrls(proc.site_url, proc.api_url)
    v = Catalogue.load().get(2022, "Ford", "F-150", "XLT", "4WD")
    sid = _cookie(_set(urls, v))
    cookie = {"Cookie": f"PHPSESSID={sid}"}
    assert fetch(urls.ymm_options("truck", "suspension"), headers=cookie).status == 200
    time.sleep(1.3)
    stale = fetch(urls.ymm_options("truck", "suspension"), headers=cookie)
    assert stale.status == 401
    assert stale.json() == {"error": "Invalid session"}
    fresh = _cookie(_set(urls, v, sid))  # a dead id gets a brand-new session
    assert fresh not in (None, sid)
    proc.control(expire_sessions=True)
    gone = fetch(urls.ymm_options("truck", "trimming"), headers={"Cookie": f"PHPSESSID={fresh}"})
    assert gone.status == 401


def test_home_page_starts_a_session_that_unlocks_the_option_lists(urls: CwoUrls) -> None:
    """The session middleware recovers from a 401 by visiting the home page, as on the real site."""
    first = fetch(urls.home())
    sid = _cookie(first)
    assert sid is not None
    cookie = {"Cookie": f"PHPSESSID={sid}"}
    assert _cookie(fetch(urls.home(), headers=cookie)) is None  # a live session is kept
    assert fetch(urls.ymm_options("car", "rubbing"), headers=cookie).status == 200


def test_stats_count_the_php_sessions_the_site_started(replica_factory) -> None:
    """``php_sessions_created``: how many PHPSESSID values the site handed out (store benchmark)."""
    proc = replica_factory()
    urls = CwoUrls(proc.site_url, proc.api_url)
    proc.reset()
    sid = _cookie(fetch(urls.home()))
    fetch(urls.home(), headers={"Cookie": f"PHPSESSID={sid}"})  # kept, not a new one
    _set(urls, Catalogue.load().get(2022, "Ford", "F-150", "XLT", "4WD"))  # no cookie: new
    assert proc.stats()["php_sessions_created"] == 2
    assert proc.reset()["php_sessions_created"] == 0


# -- pages -------------------------------------------------------------------------------------
def test_home_bp_and_store_are_html(urls: CwoUrls) -> None:
    home = fetch(urls.home())
    assert home.status == 200
    assert home.headers["Content-Type"].startswith("text/html")
    sel = Selector(text=home.body.decode())
    assert sel.css('ol.ymm-list[data-type="year"] > li.ymm-li::attr(data-value)').getall() == (
        Catalogue.load().years()
    )
    bp = fetch(urls.bp())
    assert bp.status == 200
    assert len(bp.body) > 1000
    assert Selector(text=bp.body.decode()).css("select#year option::attr(value)").get() == ""
    unknown = fetch(urls.store_wheels(year=2022, make="Ford", model="F-150", trim="XLT",
                                      drive="4WD", chassis="1", vehicle_type="truck",
                                      suspension="Stock", modification="No Trimming",
                                      rubbing="Rubs"))  # fmt: skip
    assert unknown.status == 200
    page = Selector(text=unknown.body.decode())
    assert page.css("div.no-results-container")
    assert page.css("div.store-ymm-fitrange") == []


# -- a whole model year against the ground truth ----------------------------------------------
def _num(text: str, unit: str) -> float | None:
    text = text.strip()
    return None if text == unit else float(text.removesuffix(unit))


def _parse_axle(block: Selector) -> dict[str, tuple[float | None, float | None]]:
    out = {}
    for span in block.css("span.store-conf-range"):
        label = span.xpath("normalize-space(text())").get().rstrip(":").lower()
        low, high = span.css("b::text").get().split(" to ")
        unit = "mm" if label == "offset" else '"'
        out[label] = (_num(low, unit), _num(high, unit))
    return out


def _parse_store(html: str, url: str, v: Vehicle, combo: tuple[str, str, str],
                 chassis: str, vtype: str) -> WheelSizeItem:  # fmt: skip
    """What a correct wheel-size parser extracts, written independently of the renderer."""
    sel = Selector(text=html)
    blocks = sel.css("div.store-ymm-fitrange")
    if len(blocks) == 1 and "full-size" in blocks[0].attrib["class"].split():
        front = rear = _parse_axle(blocks[0])
    else:
        by_header = {}
        for block in blocks:
            header = block.css("nobr::text, span.store-conf-header::text").get().strip()
            by_header[header] = _parse_axle(block)
        front, rear = by_header["Front Sizes:"], by_header["Rear Sizes:"]
    bp = sel.css("span.bolt_patterns.store-bp::attr(data-bp)").get().split(",")
    mm = next(p for p in bp if float(p.split("x")[1]) > 20)
    inch = next(p for p in bp if float(p.split("x")[1]) < 20)

    def i(x: float | None) -> int | None:
        return None if x is None else int(x)

    return WheelSizeItem(
        year=v.year, make=v.make, model=v.model, trim=v.trim, drive=v.drive, chassis_id=chassis,
        vehicle_type=vtype, suspension=combo[0], modification=combo[1], rubbing=combo[2],
        staggered=len(blocks) == 2, bolt_pattern_mm=mm, bolt_pattern_in=inch,
        front_diameter_min_in=front["diameter"][0], front_diameter_max_in=front["diameter"][1],
        front_width_min_in=front["width"][0], front_width_max_in=front["width"][1],
        front_offset_min_mm=i(front["offset"][0]), front_offset_max_mm=i(front["offset"][1]),
        rear_diameter_min_in=rear["diameter"][0], rear_diameter_max_in=rear["diameter"][1],
        rear_width_min_in=rear["width"][0], rear_width_max_in=rear["width"][1],
        rear_offset_min_mm=i(rear["offset"][0]), rear_offset_max_mm=i(rear["offset"][1]),
        url=url, fit_ranges_found=True,
    )  # fmt: skip


def _fitment_from_record(r: dict[str, str], lists: dict[str, list[list[str]]]) -> FitmentItem:
    lugs, circle = r["boltpatternMm"].split("x")
    vtype = r["vehicleType"].lower()
    return FitmentItem(
        year=int(r["year"]), make=r["make"], model=r["model"], trim=r["trim"], drive=r["drive"],
        chassis_id=r["drchassisid"], vehicle_type=vtype, bolt_pattern_mm=r["boltpatternMm"],
        bolt_pattern_in=r["boltpatternInches"], lug_count=int(lugs), bolt_circle_mm=float(circle),
        hub_bore_mm=float(r["hub"]), lug_type=r["lugType"], lug_size=r["lugSize"],
        front_wheel_diameter_in=float(r["stockWheelDiameter"]),
        front_wheel_width_in=float(r["stockWheelWidth"]),
        front_wheel_offset_mm=int(r["stockOffset"]), front_tire_size=r["stockTireSize"],
        rear_wheel_diameter_in=float(r["stockWheelDiameterRear"]),
        rear_wheel_width_in=float(r["stockWheelWidthRear"]),
        rear_wheel_offset_mm=int(r["stockOffsetRear"]), rear_tire_size=r["stockTireSizeRear"],
        staggered=r["staggered"] == "1", suspension_options=lists[vtype][0],
        modification_options=lists[vtype][1], rubbing_options=lists[vtype][2],
    )  # fmt: skip


def test_a_whole_model_year_over_http_equals_the_truth(replica: ReplicaProcess) -> None:
    """Every 2022 vehicle record and default-combo store page says what ``truth`` says."""
    urls = CwoUrls(replica.site_url, replica.api_url)
    vehicles = list(Catalogue.load().vehicles(year=2022))
    assert len(vehicles) == 2534
    v0 = vehicles[0]
    sid = _cookie(_set(urls, v0))
    lists = {
        vtype: [fetch(urls.ymm_options(vtype, kind), headers={"Cookie": f"PHPSESSID={sid}"}).json()
                for kind in ("suspension", "trimming", "rubbing")]
        for vtype in ("car", "truck")
    }  # fmt: skip

    def crawl(v: Vehicle) -> tuple[FitmentItem, WheelSizeItem]:
        record = fetch(urls.vehicle(*v[:5])).json()
        fitment = _fitment_from_record(record, lists)
        combo = tuple(lists[fitment.vehicle_type][k][0] for k in range(3))
        url = urls.store_wheels(
            year=v.year, make=v.make, model=v.model, trim=v.trim, drive=v.drive,
            chassis=fitment.chassis_id, vehicle_type=fitment.vehicle_type, suspension=combo[0],
            modification=combo[1], rubbing=combo[2],
        )  # fmt: skip
        page = fetch(url)
        assert page.status == 200
        wheel = _parse_store(page.body.decode(), url, v, combo, fitment.chassis_id,
                             fitment.vehicle_type)  # fmt: skip
        return fitment, wheel

    with ThreadPoolExecutor(8) as pool:
        crawled = list(pool.map(crawl, vehicles))
    expected_fit = list(truth.fitment_items(year=2022))
    expected_wheel = list(truth.wheel_size_items(year=2022, site_url=replica.site_url))
    for (fit, wheel), want_fit, want_wheel in zip(crawled, expected_fit, expected_wheel,
                                                  strict=True):  # fmt: skip
        assert asdict(fit) == asdict(want_fit)
        assert asdict(wheel) == asdict(want_wheel)
    assert any(w.staggered for _, w in crawled)
    assert any(w.front_width_min_in is None or w.front_offset_min_mm is None
               or w.front_diameter_min_in is None for _, w in crawled)  # fmt: skip
