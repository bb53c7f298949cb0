"""The ``downloader/*`` stats are Scrapy's figures, byte for byte, only cheaper to compute."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.stats import DownloaderStats as ScrapyDownloaderStats
from scrapy.http import TextResponse
from scrapy.utils.request import request_httprepr
from scrapy.utils.test import get_crawler

from cwo_scrapy.downloader_stats import DownloaderStats, request_size
from cwo_scrapy.urls import CwoUrls

URLS = CwoUrls()
REQUESTS = [
    Request("https://www.customwheeloffset.com"),  # no path, no headers
    Request(URLS.vehicle(2022, "Ram", "2500", "Big Horn Crew Cab 6'4\" Box", "4WD")),
    Request(
        "https://www.customwheeloffset.com/store/wheels;v=1?year=2016&make=Chrysler&q=a+b#top",
        headers={
            "Accept": "text/html",
            "sec-ch-ua": '"Chromium";v="156", "Google Chrome";v="156"',
            "Referer": "https://www.customwheeloffset.com/store/wheels",
        },
    ),
    Request(
        "http://127.0.0.1:8080/api/ymm-temp.php",
        method="POST",
        body=b"year=2022&make=Ford",
        headers={"Cookie": ["a=1", "b=2"], "X-Requested-With": "XMLHttpRequest"},
    ),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_request_bytes_are_those_of_scrapys_raw_http_representation(request_: Request) -> None:
    assert request_size(request_) == len(request_httprepr(request_))


def test_a_crawl_reports_the_same_downloader_stats_as_with_scrapys_middleware() -> None:
    def run(cls: type[ScrapyDownloaderStats]) -> dict[str, object]:
        crawler = get_crawler()
        crawler.stats.open_spider()
        mw = cls.from_crawler(crawler)
        for request in REQUESTS:
            mw.process_request(request)
            response = TextResponse(
                request.url, status=200, headers={"Content-Type": "text/html"}, body=b"<p>x</p>"
            )
            mw.process_response(request, response)
        return crawler.stats.get_stats()

    assert run(DownloaderStats) == run(ScrapyDownloaderStats)
    assert run(DownloaderStats)["downloader/request_count"] == len(REQUESTS)
