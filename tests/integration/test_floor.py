# SPDX-License-Identifier: MIT
"""yerba-floor, the machine's floor (docs/bench.md): each mode briefly with small
counts. No figure is asserted (no test asserts a time); the report must be well formed
and its counts must add up: every message the client sent was received and relayed by
the server, every handshake the client finished the server counted, every idle
connection is up on both sides, and the JSON line parses.
"""
import json
import os
import subprocess

import pytest

import harness

pytestmark = pytest.mark.bench

FLOOR = os.environ.get("YERBA_FLOOR", str(harness.YERBACTL.parent / "yerba-floor"))
TIMEOUT = 60


def run_floor(*args, check_rc=0):
    cmd = [FLOOR] + [str(a) for a in args] + ["--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    lines = p.stdout.strip().splitlines()
    assert lines, "no output; stderr:\n%s" % p.stderr
    report = json.loads(lines[-1])
    assert p.returncode == check_rc, "exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    assert report["exit"] == p.returncode
    assert len(lines) >= 3 and lines[0].startswith("yerba-floor " + args[0]), p.stdout
    return report


def assert_tls(r):
    assert r["tls"] is True
    assert r["tls_version"] == "TLSv1.3" and r["cipher"].startswith("TLS_AES_"), r
    assert r["group"], r


@pytest.mark.parametrize("tls", [False, True])
def test_relay(tls):
    r = run_floor("relay", *(["--tls"] if tls else []), "--clients", 40, "--rate", 200,
                  "--duration", 2, "--bytes", 100)
    if tls:
        assert_tls(r)
    else:
        assert r["tls"] is False
    assert r["clients"] == 40 and r["bytes"] == 100 and r["server_accepted"] == 40
    # 200 msg/s for 2 s, give or take a pacing tick at either end
    assert 370 <= r["sent"] <= 400
    assert r["received"] == r["sent"] and r["lost"] == 0 and r["dropped"] == 0
    assert r["late"] == 0
    # the server forwarded exactly the messages, not a byte more or less
    assert r["server_relayed_bytes"] == r["sent"] * 100 and r["server_dropped_bytes"] == 0
    assert 0 < r["lat_p50_ms"] <= r["lat_p99_ms"] <= r["lat_max_ms"]
    assert r["server_cpu_us_per_msg"] > 0 and r["msg_per_s"] > 0
    assert len(r["steps"]) == 1 and r["best_rate"] is None


def test_relay_step():
    r = run_floor("relay", "--clients", 20, "--rate", 100, "--step", "--step-secs", 1,
                  "--step-factor", 2, "--step-p99", 250, "--max-rate", 400)
    steps = r["steps"]
    assert [s["rate"] for s in steps] == [100, 200, 400], steps
    assert all(s["good"] and s["received"] == s["sent"] > 0 for s in steps), steps
    assert sum(s["sent"] for s in steps) == r["total_sent"] == r["total_received"]
    assert r["server_relayed_bytes"] == r["total_sent"] * 250
    assert r["best_rate"] == 400


def test_handshake():
    r = run_floor("handshake", "--conns", 100, "--inflight", 8)
    assert_tls(r)
    assert r["ok"] == 100 and r["failed"] == 0 and r["unfinished"] == 0
    assert r["server_accepted"] == 100 and r["server_handshakes"] == 100
    assert r["server_cpu_ms_per_handshake"] > 0 and r["handshakes_per_s"] > 0
    assert 0 < r["lat_p50_ms"] <= r["lat_p99_ms"]


@pytest.mark.parametrize("plain", [False, True])
def test_idle(plain):
    r = run_floor("idle", *(["--plain"] if plain else []), "--clients", 200, "--duration", 0.5)
    if plain:
        assert r["tls"] is False and r["server_handshakes"] == 0
    else:
        assert_tls(r)
        assert r["server_handshakes"] == 200
    assert r["up"] == 200 and r["dropped"] == 0 and r["server_accepted"] == 200
    assert r["server_rss_after_kib"] >= r["server_rss_before_kib"] > 0
    assert r["rss_per_conn_kib"] >= 0


def test_bad_options():
    p = subprocess.run([FLOOR, "relay", "--clients", "3"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.returncode == 2 and "even" in p.stderr
    p = subprocess.run([FLOOR, "handshake", "--plain"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.returncode == 2
