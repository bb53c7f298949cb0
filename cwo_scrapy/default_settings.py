"""Every ``CWO_*`` default and the project's components, in one place.

Like Scrapy's own ``scrapy.settings.default_settings``: one line per setting, with a comment
saying what it is. ``cwo_scrapy/settings.py`` imports all of it, :class:`cwo_scrapy.addon.CwoAddon`
registers it in another project, ``cwo_scrapy.config`` types ``-s`` values after it, and
components read settings with typed getters and no inline default. Adding a setting is one line
here (plus its row in README's settings table).
"""

# --- Target ---------------------------------------------------------------------------------
# Base URL of the store (pages, makemodel/bp.php, api/ymm-temp.php, store/wheels).
CWO_SITE_URL = "https://www.customwheeloffset.com"
# Base URL of the fitment JSON API (years, makes, models, trims, drives, vehicle record).
CWO_API_URL = "https://www.enthusiastenterprises.us/fitment/vehicle/co"

CWO_PROFILE = "polite"  # "polite" (settings.py values) or "fast" (replica and benchmarks)
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
CWO_SESSION_MAX_RETRIES = 3  # session retries per request (apart from RETRY_TIMES)
CWO_SESSION_MAX_FAILED_RESOLUTIONS = 3  # consecutive failures -> close "session_unrecoverable"
CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR = 30  # resolution attempts per sliding hour; 0 = no cap
CWO_SESSION_INIT_URL = ""  # GET that starts a PHP session after a 401; "" = the site home page
CWO_SESSION_SYNC_INTERVAL = 30.0  # s between cheap store checks for other processes' changes
CWO_OPTIONS_SESSION_RESTARTS = 2  # ymm-temp.php "set" again after a 401 (middleware disabled)

# Resolvers (cwo_scrapy/resolvers/): browser | capsolver | static | an import path. They answer
# every WAF action (invisible challenge and captcha). Formerly CWO_CAPTCHA_RESOLVER (deprecated).
CWO_SESSION_RESOLVER = "browser"
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

# One identity per session (cwo_scrapy/identity.py; FAKEUSERAGENT_* in settings.py).
CWO_USER_AGENT = ""  # pins the session's UA (the static resolver's pasted-token flow)
CWO_USER_AGENT_OS = "host"  # host | windows | macos | linux | any (fake-useragent's shares)

# --- Extensions -----------------------------------------------------------------------------
# Cyclic GC thresholds for the crawl process ([] = Python's defaults); see cwo_scrapy/gctune.py.
CWO_GC_THRESHOLD = [50000, 20, 1000]
CWO_PROGRESS_INTERVAL = 30.0  # seconds between progress lines; 0 disables

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

# --- Components -----------------------------------------------------------------------------
DOWNLOADER_MIDDLEWARES = {
    # 585: process_request before CookiesMiddleware (700) so the cookiejar key it sets is the
    # jar Scrapy uses; process_response after CookiesMiddleware (Set-Cookie already in the jar)
    # and HttpCompressionMiddleware (590, decompressed bodies for the "Human Verification"
    # check), and before RetryMiddleware (550), so WAF 202/405 and 401/403 become session
    # retries instead of blind retries or interstitials handed to callbacks.
    "cwo_scrapy.middleware.SessionMiddleware": 585,
    # 587: with the session off, the User-Agent, client hints and Accept-Language of the
    # USER_AGENT setting on every request (the session middleware applies the session's).
    "cwo_scrapy.identity_middleware.IdentityMiddleware": 587,
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
EXTENSIONS = {
    "cwo_scrapy.progress.Progress": 500,
    "cwo_scrapy.jobdir.JobdirGuard": 0,  # JOBDIR left by a killed run: start over safely
    "cwo_scrapy.gctune.GcTuning": 0,  # fewer GC passes: flat per-request cost (measured)
    "cwo_scrapy.cookiesdebug.CookiesDebugWarning": 0,  # COOKIES_DEBUG logs tokens: say so
    "cwo_scrapy.completeness.Completeness": 0,  # idle: incomplete / bad_argument closes
}
