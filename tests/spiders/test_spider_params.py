"""Spider arguments declared once (pydantic models read by scrapy-spider-metadata), listed by
``-a help=1``, Scrapyd's own arguments ignored, and ``scrapy check`` contracts that run offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler
from scrapy_spider_metadata import get_spider_metadata
from spider_crawl import scrapy_cli

from cwo_scrapy.jobdir import JobdirGuard
from cwo_scrapy.spiderargs import SpiderArgumentError
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def scrapy(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return scrapy_cli(*args, data_dir=tmp_path)


def test_scrapyd_arguments_are_accepted_and_ignored() -> None:
    parsed = FitmentSpider.parse_arguments(
        {"_job": "6487ec79", "_version": "r1", "_anything": "x", "year": "2024"}
    )
    assert parsed["scope"].year == 2024
    spider = FitmentSpider(_job="6487ec79", _version="r1", limit="3")
    assert spider.scope.limit == 3
    assert spider.args.limit == 3


def test_the_declaration_validates_with_one_line_errors() -> None:
    with pytest.raises(SpiderArgumentError, match=r"^combos='some': expected one of default, all$"):
        WheelSizeSpider.parse_arguments({"combos": "some"})
    with pytest.raises(SpiderArgumentError, match="unknown argument 'suspension'"):
        FitmentSpider.parse_arguments({"suspension": "Stock"})  # a wheel_size-only argument


def test_spider_metadata_tools_read_types_defaults_and_help() -> None:
    schema = get_spider_metadata(WheelSizeSpider, normalize=True)["param_schema"]
    props = schema["properties"]
    assert list(props) == [
        "year", "make", "model", "limit", "combos", "suspension", "modification", "rubbing",
    ]  # fmt: skip
    assert props["combos"]["enum"] == ["default", "all"]
    assert props["combos"]["default"] == "default"
    assert all(p.get("description") for p in props.values())
    fitment = get_spider_metadata(FitmentSpider)["param_schema"]["properties"]
    assert list(fitment) == ["year", "make", "model", "limit"]


def test_help_argument_lists_every_argument_and_exits_0(tmp_path: Path) -> None:
    result = scrapy("crawl", "wheel_size", "-a", "help=1", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("year=N", "make=TEXT", "model=TEXT", "limit=N", "combos=default|all",
                 "suspension=TEXT", "modification=TEXT", "rubbing=TEXT"):  # fmt: skip
        assert name in out
    assert "(default: default)" in out
    assert not list(tmp_path.iterdir())  # nothing crawled, nothing written


def test_scrapy_check_runs_the_contracts_offline_against_the_replica(
    replica, tmp_path: Path
) -> None:
    flags = [f"-s{k}={v}" for k, v in replica.settings().items()]
    listed = scrapy("check", "-l", tmp_path=tmp_path)
    for callback in ("parse_years_list", "parse_makes", "parse_models", "parse_trims_object",
                     "parse_drives", "parse_vehicle_record"):  # fmt: skip
        assert f"  * {callback}" in listed.stdout
    result = scrapy("check", *flags, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ran 24 contracts" in result.stderr
    assert result.stderr.rstrip().endswith("OK")


def test_a_component_that_is_simply_off_is_disabled_without_a_warning() -> None:
    """Scrapy logs ``Disabled X: <message>`` at WARNING only when NotConfigured has a message."""
    with pytest.raises(NotConfigured) as info:
        JobdirGuard.from_crawler(get_crawler(settings_dict={}))
    assert info.value.args == ()
