"""``scrapy fieldcheck`` against the replica in every variant, and its samples as fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cwo_scrapy.fieldcheck import KINDS, parse_sample
from cwo_scrapy.parsing import ParseError
from cwo_scrapy.samples import MANIFEST, load_samples

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "fieldcheck-lean-lenient"


def fieldcheck(replica: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [f"-s{k}={v}" for k, v in replica.settings().items()]
    return subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "fieldcheck", *args, *flags,
         "-s", "CWO_PROFILE=fast", "-s", f"CWO_SESSION_FILE={tmp_path / 'session.json'}",
         "-s", f"CWO_SAMPLES_DIR={tmp_path / 'samples'}", "-s", "CWO_CAPTCHA_RESOLVER=capsolver",
         "-s", "CWO_CAPSOLVER_API_KEY=test-client-key", "-s", "CWO_CAPSOLVER_POLL_INTERVAL=0.1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "markup", "waf", "exit_code"),
    [
        ("full", "strict", "off", 0),
        ("lean", "lenient", "challenge", 0),
        ("mixed", "mixed", "off", 0),
        ("full", "broken", "off", 1),
    ],
)
def test_fieldcheck_reports_every_kind_and_saves_redacted_samples(
    replica_factory, tmp_path: Path, schema: str, markup: str, waf: str, exit_code: int
) -> None:
    replica = replica_factory(waf=waf, record_schema=schema, markup=markup)
    result = fieldcheck(replica, tmp_path, "--json")
    assert result.returncode == exit_code, result.stderr[-2000:]
    report = json.loads(result.stdout)
    rows = {r["kind"]: r for r in report["rows"]}
    assert list(rows) == list(KINDS)
    assert report["ok"] is (exit_code == 0)
    for kind, row in rows.items():
        assert row["status"] == 200, row
        assert row["parsed"] is (kind != "store" or markup != "broken"), row
    if markup == "broken":
        assert "lacks unit" in rows["store"]["note"]
    if schema == "lean":
        assert "stockWheelWidthRear" in rows["vehicle"]["missing"]
        assert "vehicleType2" in rows["vehicle"]["unknown"]
    if schema == "full":
        assert rows["vehicle"]["missing"] == rows["vehicle"]["unknown"] == []

    folder = Path(report["samples"])
    assert folder.parent == tmp_path / "samples"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert [s["kind"] for s in manifest["samples"]] == list(KINDS)
    samples = load_samples(folder)
    for kind in KINDS:  # the saved folder works as fixtures: each parser reads its sample
        if rows[kind]["parsed"]:
            parse_sample(kind, samples[kind].body)
        else:
            with pytest.raises(ParseError):
                parse_sample(kind, samples[kind].body)
    if waf == "challenge":  # no cookie value, no token, no Set-Cookie anywhere in the folder
        session = json.loads((tmp_path / "session.json").read_text())
        secrets = [session["aws_waf_token"], session["PHPSESSID"]]
        saved = "".join(p.read_text() for p in folder.iterdir())
        assert all(s and s not in saved for s in secrets)
        assert "set-cookie" not in saved.lower()


def test_fieldcheck_prints_a_table_for_the_vehicle_asked_for(replica, tmp_path: Path) -> None:
    result = fieldcheck(replica, tmp_path, "--year", "2016", "--make", "chrysler", "--model", "300")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [c.strip() for c in lines[0].split(" | ")][:4] == ["kind", "URL", "HTTP", "parsed"]
    assert [line.split(" | ")[0].strip() for line in lines[1 : 1 + len(KINDS)]] == list(KINDS)
    assert "using Chrysler" in result.stdout
    assert "/2016/Chrysler/300/" in result.stdout
    assert lines[-1].startswith("samples (redacted): ")


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--year", "abcd"], "year='abcd'"), (["--make", "Nosuchmake"], "makes: 'Nosuchmake'")],
)
def test_fieldcheck_bad_input_is_one_line_and_a_non_zero_exit(
    replica, tmp_path: Path, args: list[str], message: str
) -> None:
    result = fieldcheck(replica, tmp_path, *args)
    assert result.returncode in (1, 2)
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_saved_folder_loads_as_fixtures() -> None:
    """The committed folder (from ``scrapy fieldcheck`` on a lean/lenient replica behind WAF)."""
    samples = load_samples(FIXTURE)
    assert set(samples) == set(KINDS)
    vehicle = parse_sample("vehicle", samples["vehicle"].body)
    assert vehicle.missing_keys
    assert all(parse_sample(k, samples[k].body) is not None for k in KINDS if k != "set")
