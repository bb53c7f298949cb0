"""Credentials in URLs are masked wherever a URL is shown; COOKIES_DEBUG warns it logs tokens."""

from __future__ import annotations

import pytest

from cwo_scrapy.session.mask import mask_url
from cwo_scrapy.session.redis_store import mask_url as old_import_path


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://user:pw@host:6379/1", "redis://user:****@host:6379/1"),
        ("redis://:s3cret@host:6379/0", "redis://:****@host:6379/0"),
        ("redis://host:6379/0?password=s3cret&db=2", "redis://host:6379/0?password=****&db=2"),
        ("redis://host/0?PASS=s3cret", "redis://host/0?PASS=****"),
        ("redis://host/0?db=1&auth=s3cret#f", "redis://host/0?db=1&auth=****#f"),
        ("http://proxyuser:s3cret@proxy.example:8080", "http://proxyuser:****@proxy.example:8080"),
        ("https://s3cretTOKEN@proxy.example", "https://****@proxy.example"),
        ("redis://:s3cret@127.0.0.1:99999/0", "redis://:****@127.0.0.1:99999/0"),  # bad port
        ("redis://:pa/s3cret@host:6379/0", "redis://:****@host:6379/0"),  # unencoded "/"
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("/var/lib/cwo/session.json", "/var/lib/cwo/session.json"),
    ],
)
def test_mask_url_hides_every_credential_and_keeps_the_rest(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)


def test_the_old_import_path_still_works() -> None:
    assert old_import_path is mask_url


def test_cookies_debug_logs_one_warning_that_tokens_will_be_logged(replica, tmp_path) -> None:
    from tests.spiders.test_cli import replica_flags, scrapy

    result = scrapy(
        "crawl", "fitment", "-a", "year=2021", "-a", "limit=1", "-O", str(tmp_path / "o.jsonl"),
        "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False", "-s", "COOKIES_DEBUG=True",
        *replica_flags(replica),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "COOKIES_DEBUG is on" in line]
    assert len(warnings) == 1
    assert "WARNING" in warnings[0]
    assert "aws-waf-token" in warnings[0]
    quiet = scrapy(
        "crawl", "fitment", "-a", "year=2021", "-a", "limit=1", "-O", str(tmp_path / "p.jsonl"),
        "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False", *replica_flags(replica),
    )  # fmt: skip
    assert "COOKIES_DEBUG is on" not in quiet.stderr
