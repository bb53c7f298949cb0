"""The replica's record schemas and markups: chosen on the command line, seeded, deterministic."""

from __future__ import annotations

import contextlib
import io
import json
from argparse import ArgumentParser
from dataclasses import asdict

import pytest

from cwo_scrapy.replica import render, truth
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.harness import fetch
from cwo_scrapy.replica.server import add_arguments, run
from cwo_scrapy.replica.variants import page_layout, record_shape, vehicle_record
from cwo_scrapy.replica.vehicles import default_combo, vehicle_spec
from cwo_scrapy.urls import CwoUrls


def cli(*argv: str) -> tuple[int, str, str]:
    parser = ArgumentParser()
    add_arguments(parser)
    out = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(parser.parse_args(list(argv)), out=out)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--record-schema", "slim"], "--record-schema must be one of full, lean, mixed"),
        (["--markup", "sloppy"], "--markup must be one of strict, lenient, mixed, broken"),
        (["--dump-truth", "wheel_size", "--markup", "broken"], "no ground truth"),
    ],
)
def test_bad_variant_options_are_one_line_errors(argv: list[str], message: str) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_dump_truth_follows_the_variant_and_the_seed() -> None:
    """Lean records lose values by the documented fallbacks; full output is unchanged."""
    _, full, _ = cli("--dump-truth", "fitment", "--year", "2016", "--make", "Chrysler")
    _, lean, _ = cli("--dump-truth", "fitment", "--year", "2016", "--make", "Chrysler",
                     "--record-schema", "lean")  # fmt: skip
    _, lean7, _ = cli("--dump-truth", "fitment", "--year", "2016", "--make", "Chrysler",
                      "--record-schema", "lean", "--seed", "7")  # fmt: skip
    assert full == "".join(
        json.dumps(r, ensure_ascii=False) + "\n"
        for r in map(asdict, truth.fitment_items(year=2016, make="Chrysler"))
    )
    full_items = [json.loads(line) for line in full.splitlines()]
    lean_items = [json.loads(line) for line in lean.splitlines()]
    assert len(full_items) == len(lean_items) == 23
    assert lean != full
    assert lean != lean7
    for f, lean_item in zip(full_items, lean_items, strict=True):
        if not f["staggered"]:  # square: rear = front, same as the full record says
            assert lean_item["rear_wheel_width_in"] == f["rear_wheel_width_in"]
        assert lean_item["bolt_pattern_in"] == f["bolt_pattern_in"]
        assert lean_item["bolt_pattern_mm"] in (f["bolt_pattern_mm"], None)


def test_lean_records_have_the_shape_public_evidence_suggests() -> None:
    specs = [vehicle_spec(v) for v in Catalogue.load().vehicles(year=2016)]
    lean = [vehicle_record(s, "lean") for s in specs]
    assert not any("stockWheelWidthRear" in r or "stockOffsetRear" in r for r in lean)
    assert not any("staggered" in r for r in lean)
    square = [r for r, s in zip(lean, specs, strict=True) if not s.staggered]
    assert all(r["stockWheelDiameterRear"] == r["stockTireSizeRear"] == "" for r in square)
    assert any(r["boltpattern"] == s.bolt_pattern_in for r, s in zip(lean, specs, strict=True))
    assert any(isinstance(r.get("engine"), list) for r in lean)
    shapes = {record_shape(s, "mixed") for s in specs}
    assert shapes == {"full", "lean"}
    assert [vehicle_record(s, "full") for s in specs] == [s.record() for s in specs]


def test_lenient_markup_serves_every_layout_and_strict_serves_one() -> None:
    specs = [vehicle_spec(v) for v in Catalogue.load().vehicles(year=2016)]

    def layouts(markup: str) -> set[str]:
        out = set()
        for s in specs:
            combo = default_combo(s.vehicle_type)
            out.add(page_layout(s, combo, s.fit_range(*combo), markup))  # type: ignore[arg-type]
        return out

    assert layouts("strict") == {"strict"}
    assert layouts("lenient") == {"headerless", "lone", "single", "noblock"}
    assert layouts("mixed") == {"strict", "headerless", "lone", "single", "noblock"}
    assert layouts("broken") == {"broken"}


def test_the_running_replica_serves_its_variant(replica_factory) -> None:
    replica = replica_factory(record_schema="lean", markup="lenient")
    info = replica.info()
    assert (info["record_schema"], info["markup"]) == ("lean", "lenient")
    urls = CwoUrls(replica.site_url, replica.api_url)
    record = fetch(urls.vehicle(2016, "Chrysler", "300", "C", "RWD")).json()
    assert "factoryStaggered" in record
    assert "staggered" not in record
    catalogue = Catalogue.load()
    spec = vehicle_spec(catalogue.get(2016, "Chrysler", "300", "C", "RWD"))
    assert record == vehicle_record(spec, "lean")
    assert render.render_store(catalogue, spec, default_combo("car"), markup="lenient")
