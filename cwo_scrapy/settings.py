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

# --- Target ---------------------------------------------------------------------------------
# Base URL of the store (pages, makemodel/bp.php, api/ymm-temp.php, store/wheels).
CWO_SITE_URL = "https://www.customwheeloffset.com"
# Base URL of the fitment JSON API (years, makes, models, trims, drives, vehicle record).
CWO_API_URL = "https://www.enthusiastenterprises.us/fitment/vehicle/co"

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
# Scrapy re-parses a generator callback's source with `ast` on every response to warn about
# `return value` in generators: its cache is keyed by the bound method, a new object per
# access, so it never hits. That was 2.3% of a fitment crawl's CPU under cProfile (0.40 s of
# 17.2 s, 5,044 responses). tests/spiders/test_callbacks.py makes the same check once per
# callback of our spiders instead.
WARN_ON_GENERATOR_RETURN_VALUE = False
CWO_PROFILE = "polite"  # "polite" (these values) or "fast" (replica and benchmarks)
# 429: honour Retry-After by pausing the download slot, then retry (cwo_scrapy/retry_after.py).
CWO_RETRY_AFTER_ENABLED = True
CWO_RETRY_AFTER_MAX = 120.0  # longest pause honoured, seconds
CWO_RETRY_AFTER_TIMES = 5  # retries of one request after a 429

# --- Files (cwo_scrapy/datadir.py) ------------------------------------------------------------
# Session file and default outputs; relative = under the project directory (nearest scrapy.cfg),
# or the current directory when there is none (Scrapyd). Absolute paths work.
CWO_DATA_DIR = "data"

# --- Field fidelity (cwo_scrapy/drift.py, cwo_scrapy/samples.py, scrapy fieldcheck) -----------
# Close with "site_changed" when more than this share of one response kind fails to parse...
CWO_DRIFT_MAX_FAILURE_RATIO = 0.2
CWO_DRIFT_MIN_SAMPLES = 30  # ...once at least this many of that kind were seen
# Redacted response samples (fieldcheck, drift breaker); "" = <CWO_DATA_DIR>/samples.
CWO_SAMPLES_DIR = ""

# --- Session management (cwo_scrapy/session/ store, cwo_scrapy/middleware.py) ----------------
CWO_SESSION_ENABLED = True
CWO_SESSION_FILE = ""  # "" = <CWO_DATA_DIR>/custom_wheel_offset_temp.json
CWO_SESSION_STORE = "json"  # "json" (CWO_SESSION_FILE) or "redis" (CWO_REDIS_URL)
CWO_REDIS_URL = "redis://127.0.0.1:6379/0"
CWO_COOKIEJAR = "cwo"  # the one cookiejar key both spiders share
CWO_SESSION_MAX_AGE = 24 * 3600  # seconds; an older session starts fresh (new User-Agent)
CWO_SESSION_MAX_RETRIES = 3  # session retries per request
CWO_SESSION_MAX_FAILED_RESOLUTIONS = 3  # consecutive failures -> close "session_unrecoverable"
CWO_SESSION_INIT_URL = ""  # GET that starts a PHP session after a 401; "" = the site home page
CWO_SESSION_SYNC_INTERVAL = 30.0  # s between cheap store checks for other processes' changes
CWO_OPTIONS_SESSION_RESTARTS = 2  # ymm-temp.php "set" again after a 401 (middleware disabled)

# Resolvers (cwo_scrapy/resolvers/): browser | capsolver | static | an import path.
CWO_CAPTCHA_RESOLVER = "browser"
CWO_RESOLVER_TIMEOUT = 120.0  # seconds one resolution may take
CWO_BROWSER_EXECUTABLE = "/usr/bin/chromium"
# true (headless), false (a window on DISPLAY), virtual (a window on a private Xvfb display), or
# auto: virtual when Xvfb is installed and DISPLAY is unset, else headless.
CWO_BROWSER_HEADLESS = "auto"
CWO_BROWSER_HEADED_TIMEOUT = 600.0  # headed browser: time a person gets to solve a captcha
CWO_CAPSOLVER_API_KEY = ""  # or the CAPSOLVER_API_KEY environment variable
CWO_CAPSOLVER_API_URL = "https://api.capsolver.com"
CWO_CAPSOLVER_POLL_INTERVAL = 3.0  # s between getTaskResult polls
CWO_AWS_WAF_TOKEN = ""  # for the static resolver, or the CWO_AWS_WAF_TOKEN environment variable
CWO_TWOCAPTCHA_API_KEY = ""  # or the TWOCAPTCHA_API_KEY environment variable
CWO_TWOCAPTCHA_API_URL = "https://api.2captcha.com"
CWO_TWOCAPTCHA_POLL_INTERVAL = 5.0  # s between getTaskResult polls
# One egress per session (cwo_scrapy/egress.py, docs/real-site.md): a proxy URL, credentials
# allowed ("" = the http_proxy/https_proxy environment, else direct). Tokens are earned through it.
CWO_PROXY = ""

# One identity per session (cwo_scrapy/identity.py): a desktop Chrome UA chosen through
# scrapy-fake-useragent's providers, with the client hints that Chrome sends. The project's
# provider matches the local Chromium's major version. The fallback string matters: without it
# fake-useragent 2.x makes a provider fail and Scrapy's own UA leaks.
FAKEUSERAGENT_PROVIDERS = ["cwo_scrapy.identity.DesktopChromeProvider"]
CWO_USER_AGENT = ""  # pins the session's UA (the static resolver's pasted-token flow)
CWO_USER_AGENT_OS = "host"  # host | windows | macos | linux | any (fake-useragent's shares)
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

# --- Components -----------------------------------------------------------------------------
DOWNLOADER_MIDDLEWARES = {
    # 585: process_request before CookiesMiddleware (700) so the cookiejar key it sets is the
    # jar Scrapy uses; process_response after CookiesMiddleware (Set-Cookie already in the jar)
    # and HttpCompressionMiddleware (590, decompressed bodies for the "Human Verification"
    # check), and before RetryMiddleware (550), so WAF 202/405 and 401/403 become session
    # retries instead of blind retries or interstitials handed to callbacks.
    "cwo_scrapy.middleware.SessionMiddleware": 585,
    # 555: after the session middleware in response order, before RetryMiddleware (550).
    "cwo_scrapy.retry_after.RetryAfterMiddleware": 555,
}
ITEM_PIPELINES = {
    "cwo_scrapy.pipelines.ValidationPipeline": 100,  # drop malformed items: cwo/items_dropped/*
    "cwo_scrapy.pipelines.DuplicateGuardPipeline": 200,  # drop repeats: .../duplicate
}
# JSON lines written one flushed line at a time: an interrupted crawl leaves only whole lines.
FEED_EXPORTERS = {
    "jsonl": "cwo_scrapy.pipelines.LineFlushJsonLinesExporter",
    "jsonlines": "cwo_scrapy.pipelines.LineFlushJsonLinesExporter",
    # One column per field, lists as JSON arrays, true/false; appends keep one header.
    "csv": "cwo_scrapy.feeds.CsvItemExporter",
}
# The spiders' default output (<CWO_DATA_DIR>/fitment.jsonl, wheel_sizes.jsonl) is set by
# `scrapy crawl` only when no feed is configured here, with -s FEEDS or -o/-O (cwo_scrapy/feeds.py).
# `scrapy check` contracts; @cwo_url builds the request URL from CWO_SITE_URL/CWO_API_URL.
SPIDER_CONTRACTS = {"cwo_scrapy.contracts.CwoUrlContract": 10}
EXTENSIONS = {
    "cwo_scrapy.progress.Progress": 500,
    "cwo_scrapy.jobdir.JobdirGuard": 0,  # JOBDIR left by a killed run: start over safely
    "cwo_scrapy.gctune.GcTuning": 0,  # fewer GC passes: flat per-request cost (measured)
    "cwo_scrapy.cookiesdebug.CookiesDebugWarning": 0,  # COOKIES_DEBUG logs tokens: say so
    "cwo_scrapy.completeness.Completeness": 0,  # idle: incomplete / bad_argument closes
}
# Cyclic GC thresholds for the crawl process ([] = Python's defaults); see cwo_scrapy/gctune.py.
CWO_GC_THRESHOLD = [50000, 20, 1000]
CWO_PROGRESS_INTERVAL = 30.0  # seconds between progress lines; 0 disables
ADDONS = {
    "cwo_scrapy.profiles.ProfileAddon": 0,  # applies CWO_PROFILE
    "cwo_scrapy.cluster.addon.ClusterAddon": 10,  # applies CWO_CLUSTER
    "cwo_scrapy.egress.EgressAddon": 20,  # CWO_PROXY's password out of "Overridden settings"
}

# --- Cluster mode (cwo_scrapy/cluster/, docs/cluster.md) ---------------------------------------
# CWO_CLUSTER=True switches to scrapy-redis's shared queue and dupefilter on CWO_REDIS_URL, the
# Redis session store and one output file per worker.
CWO_CLUSTER = False
CWO_CLUSTER_CRAWL_ID = ""  # "" = the spider name; workers with the same id share one crawl
CWO_CLUSTER_WORKER_ID = ""  # "" = <host>-<pid>; also %(worker)s in FEEDS
CWO_CLUSTER_KEY_PREFIX = "cwo:cluster"
CWO_CLUSTER_HEARTBEAT = 2.0  # s between heartbeats (liveness, acknowledgements, progress)
CWO_CLUSTER_WORKER_TTL = 30.0  # s without heartbeat after which a worker's requests are requeued
CWO_CLUSTER_IDLE_CLOSE = 5.0  # s the whole crawl must stay drained before workers close
CWO_CLUSTER_REDIS_TIMEOUT = 60.0  # s Redis may be unreachable before a worker ends (exit 1)
