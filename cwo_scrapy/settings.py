"""Scrapy settings for cwo-scrapy.

Every project setting starts with ``CWO_``; components read them once in ``from_crawler`` with
typed getters, and ``scrapy crawl`` checks their types first (``cwo_scrapy.config``). The
defaults target the real site politely; ``scrapy replica`` prints the ``-s`` flags that point a
crawl at the offline replica, and ``-s CWO_PROFILE=fast`` (``cwo_scrapy.profiles``) is the
profile for replica runs and benchmarks. README.md lists every setting.
"""

BOT_NAME = "cwo_scrapy"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
COMMANDS_MODULE = "cwo_scrapy.commands"  # scrapy replica, cleansession, and crawl's exit codes

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
# INFO: progress, summaries and problems; -L DEBUG (or -s LOG_LEVEL=DEBUG) adds every request
# and every scraped item.
LOG_LEVEL = "INFO"
ROBOTSTXT_OBEY = False  # the store's robots.txt does not cover its JSON API; we throttle instead

# Every CWO_* default and the project's components (middlewares, pipelines, extensions, feed
# exporters) live in cwo_scrapy/default_settings.py: one place, one line per setting.
from cwo_scrapy.default_settings import *  # noqa: E402, F403
from cwo_scrapy.default_settings import (  # noqa: E402
    DOWNLOADER_MIDDLEWARES as _CWO_DOWNLOADER_MIDDLEWARES,
)

# --- Politeness (the real site; CWO_PROFILE=fast replaces these for the replica) --------------
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
RETRY_TIMES = 5
# 202/405 are WAF answers handled by the session middleware, never cached or retried blindly.
HTTPCACHE_IGNORE_HTTP_CODES = [202, 401, 403, 405, 429]
# Scrapy's default of 100 spawns 100 asyncio tasks per callback output and halves throughput
# here. Measured with `scrapy crawl X -a year=2022 -s CWO_PROFILE=fast -s
# CWO_SESSION_ENABLED=False` on a local replica (2,534 vehicles, 2 cores, wall time):
#   fitment     CONCURRENT_ITEMS=100: 18.2 s / 19.0 s   16: 10.2 / 9.9   4: 9.6 / 9.4   1: 9.5 / 9.3
#   wheel_size  CONCURRENT_ITEMS=100: 35.5 s            4: 18.9          1: 18.7
# Below 16 the differences are noise; 4 keeps a little parallelism for async pipelines.
CONCURRENT_ITEMS = 4

# Downloader middlewares, on top of cwo_scrapy.default_settings' (which add-on users get too):
# - Scrapy's DownloaderStats is replaced by one computing the same byte counts without
#   serializing each request (cwo_scrapy/downloader_stats.py).
# - OffsiteMiddleware is off: the spiders set no allowed_domains (every URL is built by
#   cwo_scrapy.urls for CWO_SITE_URL / CWO_API_URL), so it let every request through.
DOWNLOADER_MIDDLEWARES = {
    **_CWO_DOWNLOADER_MIDDLEWARES,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
    "cwo_scrapy.downloader_stats.DownloaderStats": 850,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
}
# Spider middlewares that do nothing for these spiders, off. Each one wraps every callback's
# output in one more async generator, which costs more than the work it does here:
# - UrlLengthMiddleware: every URL is built by cwo_scrapy.urls from catalogue values.
# - DepthMiddleware: no DEPTH_LIMIT; it only kept the request_depth_max stat.
# - MetaCopyDetectionMiddleware: requests are built in one place with fresh meta.
# RefererMiddleware is replaced by a subclass that skips its per-request policy lookup when a
# request names its own Referer, as every cascade request does (cwo_scrapy/referer.py).
# Measured side by side on one core (year 2022 fitment, fast profile, 4 pairs): 7% more
# responses per CPU second.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "cwo_scrapy.referer.OwnRefererMiddleware": 700,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# Scrapy re-parses a generator callback's source with `ast` on every response to warn about
# `return value` in generators: its cache is keyed by the bound method, a new object per
# access, so it never hits. That was 2.3% of a fitment crawl's CPU under cProfile (0.40 s of
# 17.2 s, 5,044 responses). tests/spiders/test_callbacks.py makes the same check once per
# callback of our spiders instead.
WARN_ON_GENERATOR_RETURN_VALUE = False

# One identity per session (cwo_scrapy/identity.py): a desktop Chrome UA chosen through
# scrapy-fake-useragent's providers, with the client hints that Chrome sends. The project's
# provider matches the local Chromium's major version. The fallback string matters: without it
# fake-useragent 2.x makes a provider fail and Scrapy's own UA leaks.
FAKEUSERAGENT_PROVIDERS = ["cwo_scrapy.identity.DesktopChromeProvider"]
# CWO_USER_AGENT and CWO_USER_AGENT_OS: cwo_scrapy/default_settings.py.
FAKEUSERAGENT_FALLBACK = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)
USER_AGENT = FAKEUSERAGENT_FALLBACK
# Chrome UAs only: the browser resolver runs Chromium, and the token is bound to the UA it used.
FAKE_USERAGENT_RANDOM_UA_TYPE = "chrome"
# What Chrome sends on a navigation (cwo_scrapy.identity.ACCEPT / ACCEPT_LANGUAGE).
DEFAULT_REQUEST_HEADERS = {
    "Accept": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/jxl,image/avif,image/webp,"
        "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
    ),
    "Accept-Language": "en-US,en;q=0.9",
}

# The spiders' default output (<CWO_DATA_DIR>/fitment.jsonl, wheel_sizes.jsonl) is set by
# `scrapy crawl` only when no feed is configured here, with -s FEEDS or -o/-O (cwo_scrapy/feeds.py).
# `scrapy check` contracts; @cwo_url builds the request URL from CWO_SITE_URL/CWO_API_URL.
SPIDER_CONTRACTS = {"cwo_scrapy.contracts.CwoUrlContract": 10}
ADDONS = {
    "cwo_scrapy.profiles.ProfileAddon": 0,  # applies CWO_PROFILE
    "cwo_scrapy.cluster.addon.ClusterAddon": 10,  # applies CWO_CLUSTER
    "cwo_scrapy.egress.EgressAddon": 20,  # CWO_PROXY's password out of "Overridden settings"
}
