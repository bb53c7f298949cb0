"""Scrapyd end to end: deploy with scrapyd-deploy, schedule, and the job's items are the truth."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from packaging_helpers import free_port, project_copy, run, start_with_banner, stop

from cwo_scrapy.replica import truth

SCRAPYD_CONF = """\
[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
eggs_dir = {root}/eggs
logs_dir = {root}/logs
items_dir = {root}/items
dbs_dir = {root}/dbs
poll_interval = 0.5
max_proc = 1
"""


def api(base: str, endpoint: str, data: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    body = None if data is None else urllib.parse.urlencode(data).encode()
    with urllib.request.urlopen(f"{base}/{endpoint}", data=body, timeout=30) as resp:
        return json.loads(resp.read())


def wait_for_scrapyd(base: str, proc: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "scrapyd exited"
        try:
            if api(base, "daemonstatus.json")["status"] == "ok":
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("scrapyd did not answer")


def test_deploy_schedule_and_the_jobs_items_equal_the_truth(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    project = project_copy(tmp_path / "project")
    with (project / "scrapy.cfg").open("a") as cfg:
        cfg.write(f"\n[deploy:test]\nurl = {base}/\nproject = cwo_scrapy\n")

    # The egg scrapyd-deploy builds: the project's packages and the replica's data, no bench/.
    egg = tmp_path / "cwo_scrapy.egg"
    built = run([sys.executable, "-m", "scrapyd_client.deploy", "test", "--build-egg", str(egg)],
                cwd=project)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    names = zipfile.ZipFile(egg).namelist()
    assert "cwo_scrapy/replica/data/vehicles.json.gz" in names
    assert "cwo_scrapy/replica/static/challenge.js" in names
    assert "spiders/fitment.py" in names
    assert not [n for n in names if n.startswith(("bench/", "tests/"))]

    # The replica served from the egg alone (zipped: data read through importlib.resources).
    replica, (_, flags) = start_with_banner(
        [sys.executable, "-m", "cwo_scrapy.replica", "--port", "0"], tmp_path, PYTHONPATH=str(egg)
    )
    scrapyd_dir = tmp_path / "scrapyd"
    scrapyd_dir.mkdir()
    (scrapyd_dir / "scrapyd.conf").write_text(SCRAPYD_CONF.format(port=port, root=scrapyd_dir))
    scrapyd, _ = start_with_banner(
        [
            sys.executable,
            "-m",
            "scrapyd",
            "--pidfile",
            str(scrapyd_dir / "twistd.pid"),
            "--logfile",
            str(scrapyd_dir / "scrapyd.log"),
        ],
        scrapyd_dir,
        lines=0,
    )
    try:
        wait_for_scrapyd(base, scrapyd)
        deployed = run(
            [sys.executable, "-m", "scrapyd_client.deploy", "test", "-p", "cwo_scrapy",
             "--version", "r1", "--egg", str(egg)],
            cwd=project,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr[-3000:]
        assert api(base, "listspiders.json?project=cwo_scrapy")["spiders"] == [
            "fitment",
            "wheel_size",
        ]
        settings = [f"{k}={v}" for k, v in (f.split("=", 1) for f in flags.split()[1::2])]
        data_dir = tmp_path / "server-data"
        settings.append(f"CWO_DATA_DIR={data_dir}")  # absolute: the session file goes there
        job = api(
            base,
            "schedule.json",
            [("project", "cwo_scrapy"), ("spider", "fitment"), ("_version", "r1"),
             ("year", "2024"), ("make", "Toyota"), ("model", "Tacoma"),
             *(("setting", s) for s in settings)],
        )  # fmt: skip
        assert job["status"] == "ok", job
        jobid = job["jobid"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            jobs = api(base, "listjobs.json?project=cwo_scrapy")
            if any(j["id"] == jobid for j in jobs["finished"]):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"job {jobid} did not finish: {jobs}")
    finally:
        stop(scrapyd)
        stop(replica)

    log = (scrapyd_dir / "logs" / "cwo_scrapy" / "fitment" / f"{jobid}.log").read_text()
    items_file = scrapyd_dir / "items" / "cwo_scrapy" / "fitment" / f"{jobid}.jl"
    summary = [line for line in log.splitlines() if "fitment: 9 item(s) -> " in line]
    assert summary, log[-3000:]
    assert summary[0].endswith(f"{jobid}.jl"), summary
    assert "unknown argument" not in log
    got = sorted(json.dumps(json.loads(line), sort_keys=True)
                 for line in items_file.read_text().splitlines())  # fmt: skip
    want = sorted(json.dumps(i, sort_keys=True) for i in map(_asdict, truth.fitment_items(
        year=2024, make="Toyota", model="Tacoma")))  # fmt: skip
    assert got == want
    assert (data_dir / "custom_wheel_offset_temp.json").exists()


def _asdict(item: Any) -> dict[str, Any]:
    return asdict(item)
