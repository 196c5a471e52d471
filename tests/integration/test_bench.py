# SPDX-License-Identifier: MIT
"""yerba-bench against the real yerbad: every scenario with small numbers, STARTTLS
and direct TLS, the three SASL mechanisms, --procs 2, and a wrong password (non-zero
exit, failures counted). The figures themselves are not asserted (no test asserts a
time); the report must be sane: every login succeeded, every message sent at a low
rate arrived, latencies are positive, the JSON line parses.

Accounts: user1 is created with yerbactl (real SCRAM keys); user2..userN get copies
of user1's credential rows through sqlite3 while the server is down, which takes
milliseconds instead of ~35 ms per `yerbactl adduser` process.
"""
import json
import os
import sqlite3
import subprocess

import pytest

import harness

pytestmark = pytest.mark.bench

BENCH = os.environ.get("YERBA_BENCH", str(harness.YERBACTL.parent / "yerba-bench"))
PASSWORD = "bench-pw"
N_USERS = 200
BENCH_TIMEOUT = 120

LIMITS_OFF = ("limits:\n  max_connections_per_address: 0\n  connections_per_minute: 0\n"
              "  max_unauthenticated_streams: 0\n  stanzas_per_second: 0\n"
              "  bytes_per_second: 0\n")


class BenchServer(harness.Server):
    """A yerbad with the per-address connection and rate limits off (one address
    opens hundreds of connections here)."""

    def config_text(self, extra_hosts=()):
        return super().config_text(extra_hosts) + LIMITS_OFF


def make_users(server, prefix, n, password):
    """prefix1..prefixN on localhost; the server must be down."""
    server.ctl("adduser", "%s1@localhost" % prefix, password)
    db = sqlite3.connect(str(server.data_dir / "yerba.sqlite"))
    try:
        with db:
            for i in range(2, n + 1):
                name = "%s%d" % (prefix, i)
                db.execute("INSERT INTO accounts (host, user, created) SELECT host, ?, created"
                           " FROM accounts WHERE host = 'localhost' AND user = ?",
                           (name, prefix + "1"))
                db.execute("INSERT INTO credentials (host, user, mech, iterations, salt,"
                           " stored_key, server_key) SELECT host, ?, mech, iterations, salt,"
                           " stored_key, server_key FROM credentials"
                           " WHERE host = 'localhost' AND user = ?", (name, prefix + "1"))
    finally:
        db.close()


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory):
    s = BenchServer(tmp_path_factory.mktemp("bench"), log_level="info", ipv6=False,
                    c2s={"auth_fail_delay_ms": 50, "auth_fail_delay_max_ms": 200})
    make_users(s, "user", N_USERS, PASSWORD)
    s.start()
    yield s
    rc = s.stop()
    assert not s.sanitizer_reports()
    assert rc == 0, s.log_tail()


def run_bench(server, *args, kind="starttls", check_rc=0):
    host, port, direct = server.address(kind)
    cmd = [BENCH, "--host", host, "--port", str(port), "--domain", "localhost",
           "--password", PASSWORD, "--server-pid", str(server.proc.pid), "--json"]
    if direct:
        cmd.append("--direct-tls")
    cmd += [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    lines = p.stdout.strip().splitlines()
    assert lines, "no output; stderr:\n%s" % p.stderr
    report = json.loads(lines[-1])
    if check_rc is not None:
        assert p.returncode == check_rc, "exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    assert report["exit"] == p.returncode
    assert len(lines) > 3, "no human-readable block:\n" + p.stdout
    return report, p


def assert_logins_ok(r, n):
    assert r["clients"] == n
    assert r["logins_ok"] >= n and r["logins_failed"] == 0, r["first_failure"]
    assert r["online"] == n and r["dropped"] == 0
    assert r["logouts_ok"] == r["logins_ok"]
    assert 0 < r["login_p50_ms"] <= r["login_p99_ms"] <= r["login_max_ms"]
    assert r["logins_per_s"] > 0
    assert r["server_cpu_us_per_login"] > 0


def test_idle(bench_server):
    r, _ = run_bench(bench_server, "--scenario", "idle", "--clients", 100, "--duration", 2)
    assert_logins_ok(r, 100)
    assert r["scenario"] == "idle" and r["sasl"] == "SCRAM-SHA-1"
    assert r["server_rss_after_kib"] > 0 and r["server_rss_per_session_kib"] is not None
    assert r["measure_secs"] >= 2
    assert r["sent"] == 0 and r["steps"] == []


@pytest.mark.parametrize("sasl,kind", [("plain", "direct"), ("scram-sha-256", "starttls"),
                                       ("scram-sha-1", "direct")])
def test_login(bench_server, sasl, kind):
    r, _ = run_bench(bench_server, "--scenario", "login", "--clients", 60, "--inflight", 10,
                     "--sasl", sasl, kind=kind)
    assert_logins_ok(r, 60)
    assert r["tls"] == ("direct" if kind == "direct" else "starttls")


def test_chat(bench_server):
    r, _ = run_bench(bench_server, "--scenario", "chat", "--clients", 40, "--rate", 200,
                     "--duration", 3)
    assert_logins_ok(r, 40)
    # 200 msg/s for 3 s, give or take a pacing tick's worth at either end
    assert 560 <= r["sent"] <= 610
    assert r["received"] == r["sent"] and r["lost"] == 0 and r["foreign"] == 0
    assert 0 < r["lat_p50_ms"] <= r["lat_p99_ms"] <= r["lat_max_ms"]
    assert r["server_cpu_us_per_msg"] > 0


def test_chat_step(bench_server):
    r, p = run_bench(bench_server, "--scenario", "chat", "--clients", 20, "--rate", 100,
                     "--step", "--step-secs", 1, "--step-factor", 2, "--step-p99", 250,
                     "--max-rate", 400)
    assert_logins_ok(r, 20)
    steps = r["steps"]
    assert [s["rate"] for s in steps] == [100, 200, 400], p.stdout
    assert all(s["good"] and s["received"] == s["sent"] > 0 for s in steps), steps
    assert all(s["server_cpu_us_per_msg"] > 0 and s["p99_ms"] > 0 for s in steps), steps
    assert r["best_rate"] == 400
    assert "best       400 msg/s" in p.stdout


def test_churn(bench_server):
    r, _ = run_bench(bench_server, "--scenario", "churn", "--clients", 50, "--duration", 3,
                     "--churn", 0.2, "--sasl", "plain")
    assert r["logins_failed"] == 0 and r["dropped"] == 0, r["first_failure"]
    assert r["online"] == 50
    # 20 % of 50 sessions per second for 3 s: about 30 cycles
    assert 15 <= r["churn_cycles"] <= 40
    assert r["logins_ok"] == 50 + r["churn_cycles"]
    assert r["server_cpu_us_per_cycle"] > 0


def test_procs(bench_server):
    r, _ = run_bench(bench_server, "--scenario", "chat", "--clients", 200, "--rate", 400,
                     "--duration", 2, "--procs", 2, "--inflight", 40,
                     "--sources", "127.0.0.1,127.0.0.2")
    assert r["procs"] == 2
    assert_logins_ok(r, 200)
    assert r["received"] == r["sent"] > 700


def test_wrong_password(bench_server):
    host, port, _ = bench_server.address()
    cmd = [BENCH, "--host", host, "--port", str(port), "--password", "not-the-password",
           "--users", "user", "--offset", 150, "--clients", 5, "--scenario", "login",
           "--json"]
    p = subprocess.run([str(a) for a in cmd], capture_output=True, text=True,
                       timeout=BENCH_TIMEOUT)
    assert p.returncode == 1, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["logins_ok"] == 0 and r["logins_failed"] == 5
    assert r["fail_auth"] == 5, r
    assert "not-authorized" in r["first_failure"]
    assert "failed (auth 5)" in p.stdout


def test_no_server(tmp_path):
    port = harness.free_port()
    p = subprocess.run([BENCH, "--port", str(port), "--clients", "3", "--scenario", "login"],
                       capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    assert p.returncode != 0
    assert "connect 3" in p.stdout


def test_bad_option():
    p = subprocess.run([BENCH, "--scenario", "nope"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "usage" in p.stderr
