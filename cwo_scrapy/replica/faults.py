"""Seeded fault injection and the rate-based rule of the replica.

Every random decision (5xx, dropped connection, 429) draws from one ``random.Random`` seeded by
``--seed`` so a failing test or benchmark replays the same fault sequence. The knobs are plain
attributes changed at run time through ``/__replica__/control``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

ERROR_STATUSES = (500, 502, 503, 504)


@dataclass(slots=True)
class Faults:
    """Run-time fault knobs (all off by default) plus their seeded dice."""

    error_rate: float = 0.0  # share of requests answered with a 5xx
    drop_rate: float = 0.0  # share of requests whose connection is closed without a response
    latency: float = 0.0  # seconds added before every non-control request
    retry_after_rate: float = 0.0  # share of requests answered 429 + Retry-After
    retry_after: int = 1  # seconds announced in Retry-After
    rate_limit: int = 0  # >0: more than N requests per window from one client -> 403
    rate_window: float = 60.0
    solver_fail: bool = False  # fake CapSolver answers ERROR_CAPTCHA_UNSOLVABLE
    solver_hang: bool = False  # fake CapSolver tasks stay "processing"
    refuse_tokens: bool = False  # 403 on every protected request carrying a valid token
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    _windows: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng.seed(seed)

    @property
    def any_dice(self) -> bool:
        """True when a per-request random fault can fire (lets the hot path skip the RNG)."""
        return self.error_rate > 0 or self.drop_rate > 0 or self.retry_after_rate > 0

    def roll(self) -> str | None:
        """One draw per request: ``"drop"``, ``"error"``, ``"429"`` or None, in that priority."""
        x = self.rng.random()
        if x < self.drop_rate:
            return "drop"
        x -= self.drop_rate
        if x < self.error_rate:
            return "error"
        x -= self.error_rate
        if x < self.retry_after_rate:
            return "429"
        return None

    def error_status(self) -> int:
        return self.rng.choice(ERROR_STATUSES)

    def rate_limited(self, key: str, now: float | None = None) -> bool:
        """Fixed-window counter per client key; True once the key exceeds ``rate_limit``."""
        if self.rate_limit <= 0:
            return False
        now = time.monotonic() if now is None else now
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.rate_window:
            if len(self._windows) > 100_000:  # bounded memory under key churn
                self._windows.clear()
            self._windows[key] = [now, 1.0]
            return False
        window[1] += 1
        return window[1] > self.rate_limit

    def reset_windows(self) -> None:
        self._windows.clear()
