"""Hostile input on the command line: one line, exit 2, no traceback, no huge echo, no secret."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from cwo_scrapy import settings as defaults
from cwo_scrapy.config import problems
from cwo_scrapy.errorline import LIMIT, error_line
from cwo_scrapy.spiderargs import SpiderArgumentError, ascii_digits, parse_limit, parse_year
from tests.spiders.test_cli import scrapy


def _project(**overrides: str) -> Settings:
    settings = Settings()
    settings.setmodule(defaults, priority="project")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


@pytest.mark.parametrize(
    "value", ["201²", "²", "\uff12\uff10\uff12\uff11", "٢٠٢١", "+2021", "2_021", "-1", ""]
)
def test_numbers_are_ascii_digits_only(value: str) -> None:
    assert ascii_digits(value) is None
    with pytest.raises(SpiderArgumentError):
        parse_year(value)
    with pytest.raises(SpiderArgumentError):
        parse_limit(value)


def test_plain_numbers_still_parse() -> None:
    assert parse_year(" 2021 ") == 2021
    assert parse_limit("7") == 7


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CWO_RESOLVER_TIMEOUT", "inf", "must be a finite number"),
        ("CWO_RESOLVER_TIMEOUT", "nan", "must be a finite number"),
        ("CWO_SESSION_SYNC_INTERVAL", "-inf", "must be a finite number"),
        ("CWO_REDIS_URL", "redis://127.0.0.1:99999/0", "port out of range 0-65535"),
        ("CWO_SITE_URL", "http://127.0.0.1:70000", "port out of range 0-65535"),
        ("CWO_REDIS_URL", "redis://127.0.0.1:port/0", "port is not a number"),
    ],
)
def test_infinite_floats_and_bad_ports_are_named(name: str, value: str, expected: str) -> None:
    found = list(problems(_project(**{name: value})))
    assert len(found) == 1
    assert name in found[0]
    assert expected in found[0]


def test_a_bad_port_error_does_not_echo_the_redis_password() -> None:
    (problem,) = problems(_project(CWO_REDIS_URL="redis://:hunter2@h:99999/0?password=hunter3"))
    assert "hunter" not in problem


def test_error_lines_cut_echoed_values_to_200_characters() -> None:
    line = error_line(f"limit={'9x' * 50_000!r}: not a positive whole number")
    assert len(line) < LIMIT + 100
    assert "(100002 chars)" in line
    assert line.endswith(": not a positive whole number")
    assert error_line("make='Nope Motors': not listed") == "make='Nope Motors': not listed"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["-a", "year=201²"], "year='201²'"),
        (["-a", "limit=²"], "limit='²'"),
        (["-s", "CWO_RESOLVER_TIMEOUT=inf"], "CWO_RESOLVER_TIMEOUT='inf'"),
        (["-s", "CWO_REDIS_URL=redis://:pw@127.0.0.1:99999/0"], "port out of range"),
        (["-a", "limit=" + "x" * 100_000], "(100002 chars)"),
    ],
)
def test_crawl_rejects_hostile_input_with_one_short_line_and_exit_2(
    args: list[str], shown: str
) -> None:
    result = scrapy("crawl", "fitment", *args, "-s", "CWO_SITE_URL=http://127.0.0.1:9", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert shown in result.stderr
    assert len(result.stderr) < 2 * LIMIT + 200
    assert ":pw@" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
