"""``pip install .`` and ``pip install -e .`` give a project that runs from anywhere."""

from __future__ import annotations

import json
from pathlib import Path

from packaging_helpers import (
    make_venv,
    pip_install,
    project_copy,
    run,
    start_with_banner,
    stop,
)

from cwo_scrapy.replica import truth

# Checks, in the installed venv: where the packages come from, that the replica's data ships,
# that bench/ and tests/ do not, and that every declared runtime dependency is satisfied by
# the tested set (what `pip check` does, for this distribution only).
PROBE = r"""
import importlib.metadata as md, importlib.resources as res, json, sys, sysconfig
from packaging.requirements import Requirement
import cwo_scrapy, spiders
site = sysconfig.get_paths()["purelib"]
unmet = []
for text in md.requires("cwo-scrapy") or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        unmet.append(text)
        continue
    if version not in req.specifier:
        unmet.append(f"{text} (have {version})")
replica = res.files("cwo_scrapy.replica")
print(json.dumps({
    "cwo_scrapy": cwo_scrapy.__file__, "spiders": spiders.__file__, "site": site,
    "data": replica.joinpath("data", "vehicles.json.gz").is_file(),
    "static": replica.joinpath("static", "challenge.js").is_file(),
    "unmet": unmet, "version": md.version("cwo-scrapy"),
}))
"""


def probe(bindir: Path, cwd: Path) -> dict:
    result = run([str(bindir / "python"), "-c", PROBE], cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_pip_install_dot_gives_a_project_that_lists_serves_and_crawls_from_any_directory(
    tmp_path: Path,
) -> None:
    source = project_copy(tmp_path / "src")
    bindir = make_venv(tmp_path / "venv")
    result = pip_install(bindir, str(source))
    assert result.returncode == 0, result.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    info = probe(bindir, elsewhere)
    assert info["cwo_scrapy"].startswith(info["site"]), info  # installed, not the checkout
    assert info["spiders"].startswith(info["site"]), info
    assert info["data"], info
    assert info["static"], info
    assert info["unmet"] == [], info
    assert info["version"] == "0.1.0"
    assert not (Path(info["site"]) / "bench").exists()
    assert not (Path(info["site"]) / "tests").exists()

    # A directory that holds only the project's scrapy.cfg is a project directory.
    project_dir = tmp_path / "run"
    project_dir.mkdir()
    (project_dir / "scrapy.cfg").write_text((source / "scrapy.cfg").read_text())
    # Scrapy's console script lives in the shared venv (the .pth): `python -m scrapy` is it.
    scrapy = [str(bindir / "python"), "-m", "scrapy"]
    listed = run([*scrapy, "list"], cwd=project_dir)
    assert listed.stdout.split() == ["fitment", "wheel_size"], listed.stderr[-2000:]
    # ... and so is any directory with SCRAPY_SETTINGS_MODULE.
    listed = run([*scrapy, "list"], cwd=elsewhere, SCRAPY_SETTINGS_MODULE="cwo_scrapy.settings")
    assert listed.stdout.split() == ["fitment", "wheel_size"], listed.stderr[-2000:]

    # `scrapy replica` from the installed package; its printed flags are all a crawl needs.
    replica, (banner, flags) = start_with_banner([*scrapy, "replica", "--port", "0"], project_dir)
    try:
        assert banner.startswith("Replica serving at http://127.0.0.1:"), banner
        assert "-s CWO_PROFILE=fast" in flags
        crawl = run(
            [*scrapy, "crawl", "fitment", "-a", "year=2024", "-a", "make=Toyota",
             "-a", "model=Tacoma", *flags.split()],
            cwd=project_dir,
        )  # fmt: skip
    finally:
        stop(replica)
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    out = project_dir / "data" / "fitment.jsonl"  # CWO_DATA_DIR: data/ beside scrapy.cfg
    assert crawl.stderr.splitlines()[-1] == f"fitment: 9 item(s) -> {out}"
    got = sorted(json.loads(line)["trim"] + "/" + json.loads(line)["drive"]
                 for line in out.read_text().splitlines())  # fmt: skip
    want = sorted(f"{i.trim}/{i.drive}" for i in truth.fitment_items(
        year=2024, make="Toyota", model="Tacoma"))  # fmt: skip
    assert got == want
    assert (project_dir / "data" / "custom_wheel_offset_temp.json").exists()
    # Quiet by default: INFO, no item dumps, no warning for components that are just off.
    assert " DEBUG: " not in crawl.stderr
    assert "Disabled " not in crawl.stderr


def test_pip_install_editable_runs_the_checkout(tmp_path: Path) -> None:
    source = project_copy(tmp_path / "src")
    bindir = make_venv(tmp_path / "venv")
    result = pip_install(bindir, "-e", str(source))
    assert result.returncode == 0, result.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    info = probe(bindir, elsewhere)
    assert info["cwo_scrapy"].startswith(str(source)), info
    assert info["unmet"] == [], info
    listed = run([str(bindir / "python"), "-m", "scrapy", "list"], cwd=elsewhere,
                 SCRAPY_SETTINGS_MODULE="cwo_scrapy.settings")  # fmt: skip
    assert listed.stdout.split() == ["fitment", "wheel_size"], listed.stderr[-2000:]
