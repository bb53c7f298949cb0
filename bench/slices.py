"""The replica slices the benchmarks crawl (a make of a model year, or a whole model year)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Slice:
    year: int
    make: str | None = None

    def spider_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"year": self.year}
        if self.make:
            args["make"] = self.make
        return args

    def scope(self) -> dict[str, Any]:
        return {"year": self.year, "make": self.make}

    def label(self) -> str:
        return f"{self.year}" + (f" {self.make}" if self.make else "")


QUICK = Slice(2022, "Ford")  # 236 vehicles
FULL = Slice(2022)  # 2,534 vehicles


def pick(quick: bool) -> Slice:
    return QUICK if quick else FULL
