"""Ground truth and generated vehicle data: deterministic, complete and shaped like the site."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from itertools import islice, product
from pathlib import Path

import pytest

from cwo_scrapy.items import FitmentItem
from cwo_scrapy.replica import truth
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.vehicles import (
    TRUCK_MODIFICATION,
    TRUCK_RUBBING,
    TRUCK_SUSPENSION,
    default_combo,
    option_lists,
    vehicle_spec,
)
from cwo_scrapy.urls import CwoUrls

CSV = "/work/shared/data/cwo-vehicles.csv"


def _digest(kind: str, seed: int, **filters: object) -> str:
    buf = io.StringIO()
    truth.dump(kind, buf, seed=seed, **filters)  # type: ignore[arg-type]
    return hashlib.sha256(buf.getvalue().encode()).hexdigest()


def test_truth_is_identical_in_a_fresh_process_and_changes_with_the_seed() -> None:
    """The server, the truth dump and the tests run in different processes and must agree."""
    code = (
        "import hashlib, io; from cwo_scrapy.replica import truth\n"
        "for kind, seed in (('fitment', 0), ('wheel_size', 0), ('fitment', 7)):\n"
        "    b = io.StringIO(); truth.dump(kind, b, year=2022, make='Ford', seed=seed)\n"
        "    print(hashlib.sha256(b.getvalue().encode()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    ).stdout.split()  # fmt: skip
    here = [
        _digest("fitment", 0, year=2022, make="Ford"),
        _digest("wheel_size", 0, year=2022, make="Ford"),
        _digest("fitment", 7, year=2022, make="Ford"),
    ]
    assert out == here
    assert here[0] != here[2], "a different --seed must give different data"


def test_catalogue_is_complete_and_in_cascade_order() -> None:
    """Years newest first, everything below sorted; exact lookups only."""
    cat = Catalogue.load()
    assert len(cat) == 58_507
    assert sum(1 for _ in cat.vehicles(year=2022)) == 2_534
    assert [v.index for v in cat] == list(range(len(cat)))
    years = cat.years()
    assert years == sorted(years, key=int, reverse=True)
    assert (years[0], years[-1]) == ("2025", "1948")
    rows = [(-v.year, *v[1:5]) for v in cat]
    assert rows == sorted(rows)
    assert cat.get(2022, "Ford", "F-150", "XLT", "4WD") is not None
    assert cat.get(2022, "ford", "F-150", "XLT", "4WD") is None
    assert [v[:5] for v in cat.vehicles(year=2005, make="Chrysler", model="Town & Country")]


@pytest.mark.skipif(not Path(CSV).exists(), reason="the shared source CSV is not on this machine")
def test_catalogue_ships_every_csv_row_in_order() -> None:
    """The packaged catalogue is the real CSV: same rows, same order, nothing lost."""
    assert [v[:5] for v in Catalogue.load()] == [v[:5] for v in Catalogue.from_csv(CSV)]


def test_chassis_ids_are_unique_and_stable_per_vehicle() -> None:
    """DRChassisID identifies one vehicle on store URLs, so no two vehicles may share one."""
    ids = [vehicle_spec(v).chassis_id for v in Catalogue.load()]
    assert len(set(ids)) == len(ids)
    assert all(i.isdigit() for i in ids)


def test_option_lists_follow_the_real_truck_lists_and_start_with_stock() -> None:
    """Spiders take the first element as the stock choice and the product as all combos."""
    truck = option_lists("Truck")
    assert (len(truck.suspension), len(truck.modification), len(truck.rubbing)) == (35, 7, 4)
    assert truck.suspension == TRUCK_SUSPENSION
    assert truck.modification == TRUCK_MODIFICATION
    assert truck.rubbing == TRUCK_RUBBING
    assert default_combo("truck") == ("Stock", "No Trimming", "No rubbing or scrubbing")
    assert default_combo("car") == ("Stock", "No Modification", "No rubbing or scrubbing")
    car = option_lists("car")
    values = [*car.suspension, *car.modification, *car.rubbing]
    assert any('"' in v for v in values)
    assert any("&" in v for v in values)
    for lists in (truck, car):
        for lst in lists:
            assert len(set(lst)) == len(lst)
            assert all(lst)


def test_fitment_items_carry_the_lists_of_their_vehicle_type() -> None:
    items = list(truth.fitment_items(year=2022, make="Ford", model="F-150"))
    assert items
    assert all(isinstance(i, FitmentItem) for i in items)
    for item in items:
        lists = option_lists(item.vehicle_type)
        assert item.vehicle_type in ("car", "truck")
        assert item.suspension_options == list(lists.suspension)
        assert item.modification_options == list(lists.modification)
        assert item.rubbing_options == list(lists.rubbing)
        lugs, circle = item.bolt_pattern_mm.split("x")
        assert (int(lugs), float(circle)) == (item.lug_count, item.bolt_circle_mm)
        inch = float(item.bolt_pattern_in.split("x")[1])
        assert inch == round(item.bolt_circle_mm / 25.4, 2)


def test_wheel_size_combos_default_all_and_explicit() -> None:
    """``combos`` selects stock only, the full product, or one combination."""
    default = list(truth.wheel_size_items(year=2022, make="Ford", model="F-150"))
    vehicles = list(Catalogue.load().vehicles(year=2022, make="Ford", model="F-150"))
    assert len(default) == len(vehicles)
    assert {(i.suspension, i.modification, i.rubbing) for i in default} == {default_combo("truck")}
    one = vehicles[0]
    everything = list(truth.wheel_size_items(year=2022, make="Ford", model="F-150", combos="all"))
    assert len(everything) == len(vehicles) * 35 * 7 * 4
    combo = ('Suspension Lift 6" & Body 3"', "Fenders Rolled", "Rubs")
    explicit = list(truth.wheel_size_items(year=2022, make="Ford", model="F-150", combos=combo))
    assert len(explicit) == len(vehicles)
    assert explicit[0].trim == one.trim
    assert explicit[0].suspension == combo[0]
    car_only = ("Coilovers", "No Modification", "Rubs")
    ford = truth.wheel_size_items(year=2022, make="Ford", model="F-150", combos=car_only)
    assert list(ford) == []
    with pytest.raises(ValueError, match="combos"):
        list(truth.wheel_size_items(year=2022, make="Ford", combos="some"))  # type: ignore[arg-type]


def test_wheel_size_url_is_the_store_url_with_lower_case_vehicle_type() -> None:
    item = next(truth.wheel_size_items(year=2022, make="Ford", site_url="http://127.0.0.1:9"))
    assert item.url == CwoUrls("http://127.0.0.1:9").store_wheels(
        year=item.year, make=item.make, model=item.model, trim=item.trim, drive=item.drive,
        chassis=item.chassis_id, vehicle_type=item.vehicle_type, suspension=item.suspension,
        modification=item.modification, rubbing=item.rubbing,
    )  # fmt: skip
    assert "vehicle_type=truck" in item.url


def test_data_has_staggered_empty_range_and_negative_offset_cases() -> None:
    """The hard cases a parser must handle really occur (and at plausible rates)."""
    n = staggered = empty = negative = 0
    for vehicle in islice(Catalogue.load().vehicles(year=2022), 0, None, 5):
        spec = vehicle_spec(vehicle)
        for combo in product(*spec.options):
            fit = spec.fit_range(*combo)
            assert fit is not None
            n += 1
            staggered += fit.staggered
            empty += None in fit.front or None in fit.rear
            negative += fit.front.offset is not None and fit.front.offset[0] < 0
    assert 0.01 < empty / n < 0.04
    assert 0.03 < staggered / n < 0.4
    assert negative > 0
    fit_items = list(truth.fitment_items(year=2022))
    rwd_cars = [i for i in fit_items if i.vehicle_type == "car" and i.drive == "RWD"]
    share = sum(i.staggered for i in rwd_cars) / len(rwd_cars)
    assert 0.05 < share < 0.35
    assert any(i.front_wheel_offset_mm < 0 for i in truth.fitment_items(year=1985))
    types = Counter(i.vehicle_type for i in fit_items)
    assert types["car"] > 500
    assert types["truck"] > 500


def test_an_empty_axis_is_none_at_both_ends_in_the_items() -> None:
    items = truth.wheel_size_items(year=2022, make="Toyota", combos="all")
    empties = [i for i in items if i.front_width_min_in is None or i.front_offset_min_mm is None
               or i.front_diameter_min_in is None]  # fmt: skip
    assert empties
    for i in empties:
        assert (i.front_width_min_in is None) == (i.front_width_max_in is None)
        assert (i.front_offset_min_mm is None) == (i.front_offset_max_mm is None)
        assert (i.front_diameter_min_in is None) == (i.front_diameter_max_in is None)


def test_urls_of_all_combos_match_the_url_builder() -> None:
    """Values with quotes, ampersands and plus signs are encoded exactly as CwoUrls does."""
    urls = CwoUrls("http://127.0.0.1:9")
    for make, model, vtype in (("Ford", "F-150", "truck"), ("Honda", "Accord", "car")):
        combos = len(list(product(*option_lists(vtype))))
        items = truth.wheel_size_items(
            year=2022, make=make, model=model, combos="all", site_url=urls.site_url
        )
        for i in islice(items, combos):  # every combo of the model's first vehicle
            assert i.vehicle_type == vtype
            assert i.url == urls.store_wheels(
                year=i.year, make=i.make, model=i.model, trim=i.trim, drive=i.drive,
                chassis=i.chassis_id, vehicle_type=i.vehicle_type, suspension=i.suspension,
                modification=i.modification, rubbing=i.rubbing,
            )  # fmt: skip


def test_ranges_are_ordered_and_in_site_units() -> None:
    for item in truth.wheel_size_items(year=2022, make="Chevrolet", model="Silverado 1500",
                                       combos="all"):  # fmt: skip
        for side in ("front", "rear"):
            d = (getattr(item, f"{side}_diameter_min_in"), getattr(item, f"{side}_diameter_max_in"))
            w = (getattr(item, f"{side}_width_min_in"), getattr(item, f"{side}_width_max_in"))
            o = (getattr(item, f"{side}_offset_min_mm"), getattr(item, f"{side}_offset_max_mm"))
            if d[0] is not None:
                assert 13 <= d[0] <= d[1] <= 26
                assert (d[0] * 2).is_integer()
            if w[0] is not None:
                assert 5 <= w[0] <= w[1] <= 14
                assert (w[0] * 2).is_integer()
                assert (w[1] * 2).is_integer()
            if o[0] is not None:
                assert isinstance(o[0], int)
                assert -76 <= o[0] < o[1]


def test_dump_writes_one_json_object_per_item() -> None:
    buf = io.StringIO()
    count = truth.dump("fitment", buf, year=2022, make="Chrysler", model="Pacifica")
    lines = buf.getvalue().splitlines()
    assert count == len(lines) > 0
    first = json.loads(lines[0])
    expected = asdict(next(truth.fitment_items(year=2022, make="Chrysler", model="Pacifica")))
    assert first == expected
    with pytest.raises(ValueError, match="kind"):
        truth.dump("tires", io.StringIO())  # type: ignore[arg-type]
