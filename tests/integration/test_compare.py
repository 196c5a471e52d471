# SPDX-License-Identifier: MIT
"""bench/compare, the side-by-side benchmark script, runs end to end: `--smoke
--servers yerbad` starts a real yerbad pinned to a CPU, runs the four yerba-bench
scenarios with tiny sizes, prints the table and writes the Markdown section into an
existing file without touching the text around it. The figures are not judged
(no test asserts a time); they must be there and be numbers.
"""
import json
import os
import re
import subprocess

import pytest

import harness

pytestmark = pytest.mark.bench

COMPARE = harness.REPO / "bench" / "compare"
BENCH = os.environ.get("YERBA_BENCH", str(harness.YERBACTL.parent / "yerba-bench"))
BEGIN = "<!-- bench/compare: generated section begins"
END = "<!-- bench/compare: generated section ends -->"
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"


def run_compare(*args, timeout=180):
    cmd = [str(COMPARE), "--yerbad", str(harness.YERBAD), "--yerbactl", str(harness.YERBACTL),
           "--bench", BENCH] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          cwd=str(harness.REPO))


def test_smoke_yerbad(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text("# Hand-written intro\n\nkept\n\n%s -->\nstale figures\n%s\n\n"
                   "## Profile (hand-written)\n\nalso kept\n" % (BEGIN, END))
    out_json = tmp_path / "results.json"
    p = run_compare("--smoke", "--servers", "yerbad", "--out", doc, "--json-out", out_json)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    # The printed table: one column, a number in every measured row.
    for label in ("idle: RSS per session (KiB)", "login: server CPU per login (ms)",
                  "chat: server CPU per message (µs)", "chat: latency p99 (ms)",
                  "step: best rate, no loss, p99 ≤ 250 ms (msg/s)"):
        line = next((l for l in p.stdout.splitlines() if l.startswith(label)), None)
        assert line is not None, "no row %r in\n%s" % (label, p.stdout)
        assert re.search(r"\s%s$" % NUMBER, line), line
    assert re.search(r"idle: sessions online\s+40$", p.stdout, re.M), p.stdout

    # The Markdown: generated section replaced, hand-written text around it kept.
    text = doc.read_text()
    assert "# Hand-written intro\n\nkept\n" in text
    assert text.rstrip().endswith("## Profile (hand-written)\n\nalso kept")
    assert "stale figures" not in text
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    section = text[text.index(BEGIN):text.index(END)]
    assert "bench/compare --yerbad" in section and "--smoke" in section      # the command
    assert "Load average" in section and "yerbad 0." in section             # machine, version
    row = next(l for l in section.splitlines() if l.startswith("| chat: server CPU per message"))
    assert re.fullmatch(r"\| chat: server CPU per message \(µs\) \| %s \|" % NUMBER, row), row
    assert re.search(r"^\| yerbad \| 200 \| ", section, re.M), section      # the step table

    # The JSON results: every scenario ran with every login successful.
    r = json.loads(out_json.read_text())["results"]["yerbad"]["results"]
    assert set(r) == {"idle", "login", "chat", "step"}
    for name, res in r.items():
        assert res["logins_failed"] == 0 and res["exit"] == 0, (name, res["first_failure"])
    assert r["idle"]["online"] == 40
    assert r["chat"]["received"] == r["chat"]["sent"] > 0
    assert r["chat"]["server_cpu_us_per_msg"] > 0
    assert r["step"]["steps"][0]["rate"] == 200


def test_unknown_server(tmp_path):
    p = run_compare("--servers", "yerbad,openfire", "--no-doc", timeout=30)
    assert p.returncode == 2 and "openfire" in p.stderr


def test_server_that_does_not_start(tmp_path):
    """A server that fails is reported (exit 1, dashes in its column, the failure in
    the Markdown), not a traceback with nothing written."""
    doc = tmp_path / "performance.md"
    cmd = [str(COMPARE), "--smoke", "--servers", "yerbad", "--yerbad", "/bin/false",
           "--yerbactl", str(harness.YERBACTL), "--bench", BENCH, "--out", str(doc)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "yerbad FAILED" in p.stdout
    assert re.search(r"idle: RSS per session \(KiB\)\s+–$", p.stdout, re.M), p.stdout
    assert "**failed**: `yerbad did not become ready" in doc.read_text()
