"""The replica's vehicle catalogue: the real year/make/model/trim/drive rows, shipped compressed.

The rows live in ``data/vehicles.json.gz`` as a nested JSON object
``{year: {make: {model: {trim: "DRIVE,DRIVE"}}}}`` (about 100 KB, loads in ~30 ms), rebuilt from
the CSV with ``python -m cwo_scrapy.replica.catalogue CSV``. Order semantics: years are newest
first (as the real API answers); makes, models, trims and drives are sorted with Python's plain
string order (the CSV's order). Every vehicle gets a stable ``index`` (its position in that
order), which the generated data uses to give each vehicle a unique chassis id.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

DATA_FILE = Path(__file__).with_name("data") / "vehicles.json.gz"

_Tree = dict[str, dict[str, dict[str, dict[str, dict[str, int]]]]]


class Vehicle(NamedTuple):
    """One catalogue row; ``index`` is its position in catalogue order."""

    year: int
    make: str
    model: str
    trim: str
    drive: str
    index: int


class Catalogue:
    """Read-only cascade lookups over the shipped rows; use :meth:`load` for the shared copy."""

    def __init__(self, tree: dict[str, dict[str, dict[str, dict[str, str]]]]) -> None:
        self._tree: _Tree = {}
        self._rows: list[Vehicle] = []
        for year in sorted(tree, key=int, reverse=True):
            makes = tree[year]
            ymap: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
            for make in sorted(makes):
                models = makes[make]
                mmap: dict[str, dict[str, dict[str, int]]] = {}
                for model in sorted(models):
                    trims = models[model]
                    tmap: dict[str, dict[str, int]] = {}
                    for trim in sorted(trims):
                        dmap: dict[str, int] = {}
                        for drive in sorted(trims[trim].split(",")):
                            dmap[drive] = len(self._rows)
                            self._rows.append(
                                Vehicle(int(year), make, model, trim, drive, len(self._rows))
                            )
                        tmap[trim] = dmap
                    mmap[model] = tmap
                ymap[make] = mmap
            self._tree[year] = ymap
        self._years = list(self._tree)

    @classmethod
    def load(cls) -> Catalogue:
        """The packaged catalogue, parsed once per process."""
        return _load_packaged()

    @classmethod
    def from_csv(cls, path: str | Path) -> Catalogue:
        return cls(_tree_from_csv(path))

    # -- cascade ----------------------------------------------------------------------------
    def years(self) -> list[str]:
        """Years as strings, newest first."""
        return list(self._years)

    def makes(self, year: str | int) -> list[str]:
        return list(self._tree.get(str(year), ()))

    def models(self, year: str | int, make: str) -> list[str]:
        return list(self._tree.get(str(year), {}).get(make, ()))

    def trims(self, year: str | int, make: str, model: str) -> list[str]:
        return list(self._tree.get(str(year), {}).get(make, {}).get(model, ()))

    def drives(self, year: str | int, make: str, model: str, trim: str) -> list[str]:
        return list(self._tree.get(str(year), {}).get(make, {}).get(model, {}).get(trim, ()))

    # -- vehicles ---------------------------------------------------------------------------
    def get(self, year: str | int, make: str, model: str, trim: str, drive: str) -> Vehicle | None:
        """The vehicle with exactly these values, or None (no normalisation of case or spaces)."""
        try:
            idx = self._tree[str(year)][make][model][trim][drive]
        except (KeyError, TypeError):
            return None
        return self._rows[idx]

    def by_index(self, index: int) -> Vehicle:
        return self._rows[index]

    def vehicles(
        self,
        *,
        year: str | int | None = None,
        make: str | None = None,
        model: str | None = None,
    ) -> Iterator[Vehicle]:
        """Vehicles in catalogue order, optionally restricted to a year, make and/or model."""
        years = self._years if year is None else [str(year)]
        for y in years:
            makes = self._tree.get(y, {})
            for mk in makes if make is None else [make]:
                models = makes.get(mk, {})
                for md in models if model is None else [model]:
                    for drives in models.get(md, {}).values():
                        for idx in drives.values():
                            yield self._rows[idx]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Vehicle]:
        return iter(self._rows)


@cache
def _load_packaged() -> Catalogue:
    # Through importlib.resources: inside a zipped egg (Scrapyd) DATA_FILE is not a real path.
    packed = resources.files("cwo_scrapy.replica").joinpath("data", DATA_FILE.name).read_bytes()
    return Catalogue(json.loads(gzip.decompress(packed)))


def _tree_from_csv(path: str | Path) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    tree: dict[str, dict[str, dict[str, dict[str, list[str]]]]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if [h.lower() for h in header] != ["year", "make", "model", "trim", "drive"]:
            raise ValueError(f"unexpected CSV header {header!r}")
        for year, make, model, trim, drive in reader:
            tree.setdefault(year, {}).setdefault(make, {}).setdefault(model, {}).setdefault(
                trim, []
            ).append(drive)
    return {
        y: {
            ma: {mo: {t: ",".join(ds) for t, ds in trims.items()} for mo, trims in models.items()}
            for ma, models in makes.items()
        }
        for y, makes in tree.items()
    }


def build_data_file(csv_path: str | Path, out: Path = DATA_FILE) -> int:
    """Rewrite the packaged data file from a Year,Make,Model,Trim,Drive CSV; returns its size."""
    payload = json.dumps(_tree_from_csv(csv_path), separators=(",", ":"), ensure_ascii=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(payload.encode("utf-8"), 9, mtime=0))
    return out.stat().st_size


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cwo_scrapy.replica.catalogue path/to/cwo-vehicles.csv")
    print(f"wrote {DATA_FILE} ({build_data_file(sys.argv[1])} bytes)")
