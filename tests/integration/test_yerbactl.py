# SPDX-License-Identifier: MIT
"""yerbactl and the yerbad command line: accounts with the server up (admin
socket) and down (straight on the database), sessions, kick, stats, reload,
stop; the admin socket's permissions; --version and --check-config."""
import asyncio
import os
import re
import stat
import subprocess

import pytest

import harness
from slixclient import Client, LoginFailed, connect, exchange_works

pytestmark = pytest.mark.yerbactl


async def can_login(server, acct, password=None):
    c = Client(server, acct, "probe", password=password, mech="SCRAM-SHA-256")
    try:
        await c.login(timeout=15, presence=False)
    except LoginFailed:
        return False
    await c.close()
    return True


def session_line(out, jid):
    """The `yerbactl sessions` line for exactly this full JID, or None."""
    for line in out.splitlines():
        if re.search(r"(^|[\s,])%s($|[\s,])" % re.escape(jid), line):
            return line
    return None


def users(server, *host):
    return set(server.ctl("users", *host).stdout.split())


# --- server up -------------------------------------------------------------

def test_admin_socket_is_private(server):
    sock = server.data_dir / "yerbad.sock"
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode), "%s is not a socket" % sock
    assert stat.S_IMODE(st.st_mode) == 0o600, "admin socket mode %o" % stat.S_IMODE(st.st_mode)


async def test_adduser_users_login(server):
    p = server.ctl("adduser", "newbie@localhost", "s3cret!")
    assert p.returncode == 0
    assert "newbie@localhost" in users(server)
    assert await can_login(server, harness.Account("newbie@localhost", "s3cret!"))


def test_adduser_existing_fails(server):
    acct = server.new_account()
    p = server.ctl("adduser", acct.jid, "other", check=False)
    assert p.returncode != 0
    assert p.stderr.strip(), "no message on stderr"


@pytest.mark.parametrize("jid", ["nohost", "user@unknown.example", "@localhost"])
def test_adduser_bad_jid_fails(server, jid):
    p = server.ctl("adduser", jid, "pw", check=False)
    assert p.returncode != 0, "adduser %s accepted" % jid
    assert p.stderr.strip()


def test_users_per_host(server):
    lh = server.new_account("perhost")
    en = server.new_account("perhost", domain="example.net")
    assert lh.jid in users(server, "localhost") and en.jid not in users(server, "localhost")
    assert en.jid in users(server, "example.net") and lh.jid not in users(server, "example.net")
    assert {lh.jid, en.jid} <= users(server)


async def test_passwd(server):
    acct = server.new_account()
    server.ctl("passwd", acct.jid, "brand-new")
    assert not await can_login(server, acct), "old password still works"
    assert await can_login(server, acct, "brand-new")


async def test_deluser(server):
    acct = server.new_account()
    assert await can_login(server, acct)
    server.ctl("deluser", acct.jid)
    assert acct.jid not in users(server)
    assert not await can_login(server, acct), "deleted account still logs in"
    p = server.ctl("deluser", acct.jid, check=False)
    assert p.returncode != 0 and p.stderr.strip()


async def test_sessions(server):
    acct = server.new_account()
    c = await connect(server, acct, "listed")
    out = server.ctl("sessions").stdout
    line = session_line(out, c.jid)
    assert line, "session %s not listed:\n%s" % (c.jid, out)
    assert "127.0.0.1" in line, line
    assert re.search(r"TLSv?1\.[23]", line), "no TLS version in %r" % line
    await c.close()
    await asyncio.sleep(0.5)
    assert session_line(server.ctl("sessions").stdout, c.jid) is None


async def test_kick(server):
    acct = server.new_account()
    c = await connect(server, acct, "kicked")
    server.ctl("kick", c.jid)
    await c.wait_disconnected()
    assert session_line(server.ctl("sessions").stdout, c.jid) is None
    p = server.ctl("kick", acct.jid + "/nobody", check=False)
    assert p.returncode != 0 and p.stderr.strip()


def parse_stats(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


async def test_stats(server):
    s0 = parse_stats(server.ctl("stats").stdout)
    for key in ("sessions", "stanzas_routed", "uptime_seconds"):
        assert key in s0, "stats lacks %s:\n%s" % (key, s0)
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    for i in range(5):
        a.msg(b.jid, "count %d" % i)
    for i in range(5):
        await b.message_with("count %d" % i)
    s1 = parse_stats(server.ctl("stats").stdout)
    assert int(s1["sessions"]) >= int(s0["sessions"]) + 2
    assert int(s1["sessions"]) == len([l for l in server.ctl("sessions").stdout.splitlines() if l.strip()])
    assert int(s1["stanzas_routed"]) >= int(s0["stanzas_routed"]) + 5
    assert int(s1["uptime_seconds"]) >= int(s0["uptime_seconds"])


async def test_reload_keeps_sessions(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    server.ctl("reload")
    await exchange_works(a, b, tag="after reload")


async def test_reload_adds_virtual_host(make_server):
    srv = make_server("reload")
    a = await connect(srv, srv.new_account(), "a")
    srv.write_config(extra_hosts=[{"domain": "added.example"}])
    srv.ctl("reload")
    assert srv.running
    acct = srv.adduser("late@added.example", "pw-late")
    # The new host has a certificate generated for it and accepts logins.
    c = await connect(srv, acct, "x")
    await exchange_works(a, c, tag="new vhost")


async def test_stop(make_server):
    srv = make_server("stop")
    c = await connect(srv, srv.new_account(), "a")
    p = srv.ctl("stop")
    assert p.returncode == 0
    rc = await asyncio.to_thread(srv.wait_exit, 10)
    assert rc == 0, "yerbad exit code after 'yerbactl stop': %r" % rc
    await c.wait_disconnected()


def test_sigterm_exit_code(make_server):
    srv = make_server("term")
    assert srv.stop() == 0


# --- server down -----------------------------------------------------------

async def test_account_commands_with_server_down(make_server):
    srv = make_server("down", start=False)
    srv.ctl("adduser", "offline1@localhost", "pw1")
    srv.ctl("adduser", "offline2@localhost", "pw2")
    srv.ctl("adduser", "offline3@example.net", "pw3")
    assert {"offline1@localhost", "offline2@localhost", "offline3@example.net"} <= users(srv)
    assert users(srv, "example.net") == {"offline3@example.net"}
    srv.ctl("passwd", "offline1@localhost", "pw1-new")
    srv.ctl("deluser", "offline2@localhost")
    assert "offline2@localhost" not in users(srv)
    srv.start()
    assert await can_login(srv, harness.Account("offline1@localhost", "pw1-new"))
    assert not await can_login(srv, harness.Account("offline1@localhost", "pw1"))
    assert not await can_login(srv, harness.Account("offline2@localhost", "pw2"))
    assert await can_login(srv, harness.Account("offline3@example.net", "pw3"))
    # Accounts made while it runs survive it stopping and are seen offline.
    srv.ctl("adduser", "online@localhost", "pw4")
    assert srv.stop() == 0
    assert "online@localhost" in users(srv)


@pytest.mark.parametrize("cmd", [["sessions"], ["stats"], ["reload"], ["stop"],
                                 ["kick", "a@localhost/b"]])
def test_live_commands_with_server_down_fail_clearly(make_server, cmd):
    srv = make_server("down2", start=False)
    p = srv.ctl(*cmd, check=False)
    assert p.returncode != 0
    assert p.stderr.strip(), "no explanation on stderr"


# --- yerbad command line ---------------------------------------------------

def test_version():
    p = subprocess.run([str(harness.YERBAD), "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", p.stdout + p.stderr), p.stdout + p.stderr


def test_check_config_valid(make_server):
    srv = make_server("cfg", start=False)
    p = subprocess.run([str(harness.YERBAD), "--check-config", "-c", str(srv.config)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("mutation", ["unknown-key", "bad-port", "bad-type"])
def test_check_config_invalid(make_server, mutation):
    srv = make_server("cfg", start=False)
    lines = srv.config.read_text().splitlines()
    if mutation == "unknown-key":
        lines.insert(3, "no_such_option: 1")
        bad_line = 4
    else:
        idx = next(i for i, l in enumerate(lines) if "tls: direct" in l)
        if mutation == "bad-port":
            lines[idx] = lines[idx].replace("port: %d" % srv.ports["direct"], "port: 99999")
        else:
            lines[idx] = lines[idx].replace("type: c2s", "type: carrier-pigeon")
        bad_line = idx + 1
    srv.config.write_text("\n".join(lines) + "\n")
    p = subprocess.run([str(harness.YERBAD), "--check-config", "-c", str(srv.config)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "%s:%d:" % (srv.config, bad_line) in p.stderr or \
        "%s:%d:" % (srv.config.name, bad_line) in p.stderr, \
        "expected file:%d: in %r" % (bad_line, p.stderr)
    # And yerbad refuses to start with it.
    with pytest.raises(RuntimeError):
        srv.start(timeout=10)
    srv.proc = None   # it was expected to fail; nothing to stop


def test_first_run_creates_data_dir_and_certificates(make_server):
    srv = make_server("first")
    for domain in ("localhost", "example.net"):
        assert srv.cert(domain).is_file()
        key = srv.data_dir / "certs" / ("%s.key" % domain)
        assert key.is_file()
        assert stat.S_IMODE(os.stat(key).st_mode) & 0o077 == 0, "private key readable by others"


def test_port_in_use_fails_cleanly(make_server):
    """A listener that cannot bind is a startup error (exit 1 and a message),
    not a crash."""
    import socket
    srv = make_server("busy", start=False)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", srv.ports["direct"]))
    blocker.listen(1)
    try:
        with pytest.raises(RuntimeError):
            srv.start(timeout=10)
    finally:
        blocker.close()
    rc = srv.proc.returncode
    srv.proc = None   # it was expected to fail; nothing to stop
    assert rc == 1, "exit status %r (negative = killed by a signal), log:\n%s" % (rc, srv.log_tail())
    assert "%d" % srv.ports["direct"] in srv.log_text()
