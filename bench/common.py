"""Shared machinery of the benchmarks: CPU pinning, crawls as subprocesses, RSS, ground truth.

Every crawl runs as its own process (``python -m scrapy crawl ...`` in the project directory)
so the figures include nothing of the benchmark driver, and the replica and the crawler are
pinned to different cores when the machine has two or more (recorded in the results).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
RECORDER = "bench.recorder.BenchRecorder"
HASH_SEED = "0"

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cwo_scrapy.items import IDENTITY, FitmentItem, WheelSizeItem  # noqa: E402
from cwo_scrapy.replica.harness import ReplicaProcess  # noqa: E402

# Identity of an item in the output (the fields the duplicate guard uses).
FITMENT_KEY = IDENTITY[FitmentItem]
WHEEL_SIZE_KEY = IDENTITY[WheelSizeItem]


def log(message: str) -> None:
    """Progress of the benchmark run on stderr (results go to files)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 4000, seed: int = 1
) -> tuple[float, float]:
    """95% bootstrap confidence interval of the median of ``values`` (seeded: reproducible)."""
    import random

    rng = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def timeline(stats: Mapping[str, Any]) -> list[float]:
    """Monotonic times of a crawl's responses (``bench/timeline`` made absolute)."""
    opened = float(stats["bench/opened_monotonic"])
    return [opened + t for t in stats["bench/timeline"]]


def overlap_counts(times: Mapping[str, Sequence[float]]) -> tuple[float, dict[str, int]]:
    """Seconds during which every crawl was answering, and each one's responses in them.

    Crawls run side by side on one core share it; what each got done while all of them were
    running compares their CPU cost per response under identical conditions.
    """
    start = max(t[0] for t in times.values())
    end = min(t[-1] for t in times.values())
    if end <= start:
        raise RuntimeError("the crawls did not overlap")
    done = {
        key: bisect.bisect_right(t, end) - bisect.bisect_left(t, start) for key, t in times.items()
    }
    return end - start, done


def run_side_by_side(jobs: Mapping[str, Callable[[], Any]], *, reverse: bool) -> dict[str, Any]:
    """Start each job in its own thread (in reverse order if asked); their results by name."""
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def call(name: str) -> None:
        try:
            results[name] = jobs[name]()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    names = list(jobs)[::-1] if reverse else list(jobs)
    threads = [threading.Thread(target=call, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def need_more(ratios: Sequence[float], *, least: int, most: int, ci_width: float) -> bool:
    """Whether to run another interleaved pair: fewer than ``least`` so far, or (below
    ``most``) the 95% interval of the median ratio still wider than ``ci_width``."""
    if len(ratios) < least:
        return True
    if len(ratios) >= most:
        return False
    low, high = bootstrap_ci(ratios)
    return high - low > ci_width


# -- machine -----------------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    vm = psutil.virtual_memory()
    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gb": round(vm.total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "scrapy": _version("scrapy"),
        "twisted": _version("twisted"),
        "aiohttp": _version("aiohttp"),
        "git_commit": _git_commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# -- CPU pinning -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which core the replica and the crawler run on (None: not pinned)."""

    replica: int | None
    crawler: int | None

    @property
    def pinned(self) -> bool:
        return self.replica is not None

    def describe(self) -> dict[str, Any]:
        return {"pinned": self.pinned, "replica_cpu": self.replica, "crawler_cpu": self.crawler}


def cpu_plan() -> CpuPlan:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return CpuPlan(None, None)
    return CpuPlan(cpus[0], cpus[1])


def pin(pid: int, cpu: int | None) -> None:
    """Pin every thread of ``pid`` to ``cpu`` (threads created later inherit it)."""
    if cpu is None:
        return
    with contextlib.suppress(psutil.Error, OSError):
        proc = psutil.Process(pid)
        for thread in proc.threads():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(thread.id, {cpu})


def pin_child(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins a child process before it executes anything."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def replica(plan: CpuPlan, waf: str = "off", **kwargs: Any) -> Iterator[ReplicaProcess]:
    """A started replica, pinned to the plan's replica core."""
    with ReplicaProcess(waf=waf, **kwargs) as rep:
        assert rep.proc is not None
        pin(rep.proc.pid, plan.replica)
        yield rep


# -- RSS sampling ------------------------------------------------------------------------------
class RssSampler:
    """Samples a process's resident set size in a thread; ``peak_mb`` when stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
            while not self._stop.is_set():
                rss = proc.memory_info().rss
                self.peak = max(self.peak, rss)
                self.samples += 1
                self._stop.wait(self.interval)
        except psutil.Error:
            return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


# -- crawls as subprocesses ----------------------------------------------------------------------
@dataclass(slots=True)
class CrawlResult:
    returncode: int
    wall_s: float
    stats: dict[str, Any]
    stderr_tail: str
    output: Path | None
    peak_rss_mb: float | None = None
    cpu_s: float | None = None

    @property
    def responses(self) -> int:
        return int(self.stats.get("bench/responses", 0))

    @property
    def requests_per_s(self) -> float:
        """Responses per second from the first to the last response (start-up left out)."""
        return float(self.stats.get("bench/requests_per_s") or 0.0)

    def stat(self, key: str, default: Any = 0) -> Any:
        return self.stats.get(key, default)


def project_extensions() -> dict[str, int]:
    """The project's EXTENSIONS plus the bench recorder (``-s EXTENSIONS`` replaces the dict)."""
    from cwo_scrapy import settings as project_settings

    extensions = dict(getattr(project_settings, "EXTENSIONS", {}))
    extensions[RECORDER] = 990
    return extensions


def scrapy_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    # One hash seed for every crawl process: with random seeds, dict and set layouts differ
    # per process and so does the speed (6.6% vs 3.9% spread over 6 identical crawls here).
    env.setdefault("PYTHONHASHSEED", HASH_SEED)
    env.update(extra or {})
    return env


def crawl_command(
    spider: str,
    *,
    spider_args: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    output: Path | None = None,
    append: bool = False,
    stats_file: Path | None = None,
    timeline_every: int = 0,
    urls_file: Path | None = None,
) -> list[str]:
    """``python -m scrapy crawl SPIDER -a ... -s ... -O OUT`` with the bench recorder enabled."""
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider]
    for key, value in (spider_args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    merged: dict[str, Any] = {"EXTENSIONS": json.dumps(project_extensions())}
    if stats_file is not None:
        merged["BENCH_STATS_FILE"] = str(stats_file)
    if timeline_every:
        merged["BENCH_TIMELINE_EVERY"] = timeline_every
    if urls_file is not None:
        merged["BENCH_URLS_FILE"] = str(urls_file)
    merged.update(settings or {})
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    if output is not None:
        cmd += ["-o" if append else "-O", f"{output}:jsonl"]
    return cmd


def run_crawl(
    spider: str,
    *,
    spider_args: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    output: Path | None = None,
    cpu: int | None = None,
    timeout: float = 3600.0,
    sample_rss: bool = False,
    timeline_every: int = 0,
    urls_file: Path | None = None,
    workdir: Path | None = None,
) -> CrawlResult:
    """Run one crawl to completion in a subprocess (pinned to ``cpu``); stats from the recorder."""
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        stats_file = tmp / f"stats-{time.monotonic_ns()}.json"
        cmd = crawl_command(
            spider,
            spider_args=spider_args,
            settings=settings,
            output=output,
            stats_file=stats_file,
            timeline_every=timeline_every,
            urls_file=urls_file,
        )
        stderr = stack.enter_context(tempfile.TemporaryFile())
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=scrapy_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=pin_child(cpu),
        )
        sampler = RssSampler(proc.pid) if sample_rss else None
        try:
            if sampler is not None:
                with sampler:
                    ps = psutil.Process(proc.pid)
                    cpu_s = None
                    while proc.poll() is None:
                        with contextlib.suppress(psutil.Error):
                            times = ps.cpu_times()
                            cpu_s = times.user + times.system
                        if time.monotonic() - started > timeout:
                            raise subprocess.TimeoutExpired(cmd, timeout)
                        time.sleep(0.2)
            else:
                proc.wait(timeout=timeout)
                cpu_s = None
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        wall = time.monotonic() - started
        stderr.seek(0)
        tail = stderr.read()[-4000:].decode(errors="replace")
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return CrawlResult(
        returncode=proc.returncode,
        wall_s=wall,
        stats=stats,
        stderr_tail=tail,
        output=output,
        peak_rss_mb=sampler.peak_mb if sampler is not None else None,
        cpu_s=cpu_s,
    )


def fast_settings(rep: ReplicaProcess, session_file: Path, **extra: Any) -> dict[str, Any]:
    """``-s`` values for a fast-profile crawl of ``rep`` with its own session file."""
    return {
        "CWO_PROFILE": "fast",
        **rep.settings(),
        "CWO_SESSION_FILE": str(session_file),
        "CWO_PROGRESS_INTERVAL": 10,
        **extra,
    }


# -- ground truth ------------------------------------------------------------------------------
def canonical(item: Mapping[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False)


@dataclass(slots=True)
class Comparison:
    """Output vs ground truth, by item identity and by full value."""

    expected: int
    got: int
    missing: int
    unexpected: int
    wrong: int
    duplicates: int
    invalid_lines: int
    examples: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return (
            self.got == self.expected
            and not (self.missing or self.unexpected or self.wrong)
            and not (self.duplicates or self.invalid_lines)
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "equal": self.equal}


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Items of a JSON-lines file and how many lines were not valid JSON objects."""
    items: list[dict[str, Any]] = []
    invalid = 0
    if not path.exists():
        return items, 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                invalid += 1
                continue
            if isinstance(obj, dict):
                items.append(obj)
            else:
                invalid += 1
    return items, invalid


def compare(
    output: Path,
    expected: Iterable[Mapping[str, Any]],
    key_fields: Sequence[str],
    *,
    subset: bool = False,
) -> Comparison:
    """Compare a crawl's JSON lines with the ground truth items.

    ``subset``: the crawl covered an unspecified part of ``expected`` (``-a limit=N``): every
    item must equal its truth item, nothing may repeat, and ``expected`` becomes the count of
    items that the crawl produced.
    """
    truth: dict[tuple[Any, ...], str] = {}
    for item in expected:
        truth[tuple(item[k] for k in key_fields)] = canonical(item)
    items, invalid = read_jsonl(output)
    counts: Counter[tuple[Any, ...]] = Counter()
    wrong = unexpected = 0
    examples: list[str] = []
    for item in items:
        key = tuple(item.get(k) for k in key_fields)
        counts[key] += 1
        want = truth.get(key)
        if want is None:
            unexpected += 1
            if len(examples) < 5:
                examples.append(f"unexpected {key}")
        elif canonical(item) != want:
            wrong += 1
            if len(examples) < 5:
                examples.append(f"wrong {key}")
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    found = sum(1 for key in counts if key in truth)
    missing = 0 if subset else len(truth) - found
    return Comparison(
        expected=found if subset else len(truth),
        got=len(items),
        missing=missing,
        unexpected=unexpected,
        wrong=wrong,
        duplicates=duplicates,
        invalid_lines=invalid,
        examples=examples,
    )


def fitment_truth(**scope: Any) -> Iterator[dict[str, Any]]:
    from cwo_scrapy.replica import truth

    for item in truth.fitment_items(**scope):
        yield asdict(item)


def wheel_size_truth(site_url: str, **scope: Any) -> Iterator[dict[str, Any]]:
    from cwo_scrapy.replica import truth

    for item in truth.wheel_size_items(site_url=site_url, **scope):
        yield asdict(item)


def fingerprint(value: str | None) -> str | None:
    """A short one-way digest, to compare secret values without storing or printing them."""
    if not value:
        return None
    return hashlib.sha256(value.encode()).hexdigest()[:12]
