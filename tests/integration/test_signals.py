# SPDX-License-Identifier: MIT
"""Signals and reload on a real yerbad (issue 6, "Faults").

SIGTERM (and SIGINT): every stream gets <system-shutdown/>, output queued for a
client is delivered before it, offline messages accepted just before the signal
are in the database after a restart, and the process exits 0 within the core's
grace period even when a client stops reading.

SIGHUP and `yerbactl reload`: host settings, virtual hosts and certificates change
without dropping sessions; a broken configuration or certificate is refused with
its error and the old one stays in force.

test_yerbactl.py already covers: `yerbactl reload` with an unchanged file keeps
sessions, `yerbactl reload` adding a virtual host, `yerbactl stop`, and the exit
code of SIGTERM on an idle server. This file does not repeat those.
"""
import signal
import subprocess
import time

import pytest

import rawxmpp
from rawxmpp import StreamClosed, XMPPTimeout, q, stream_error_condition, tostr

GRACE_S = 5.0   # SHUTDOWN_GRACE_MS in src/server/server.c


# --- helpers ---------------------------------------------------------------

def login(srv, acct, resource="raw", kind="starttls", presence=False, **kw):
    c = srv.raw(kind, domain=acct.domain, **kw)
    c.login(acct.user, acct.password, host=acct.domain, resource=resource,
            starttls=kind != "direct", presence=presence)
    return c


def read_until_stream_error(c, timeout=10):
    """Reads everything up to the stream error; returns (condition, elements before
    it). Fails if the stream ends without one."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            el = c.next(max(deadline - time.monotonic(), 0.01))
        except StreamClosed as e:
            raise AssertionError("stream closed (%s) without a stream error after %d elements"
                                 % (e, len(seen)))
        except XMPPTimeout:
            raise AssertionError("no stream error within %ss; got %d elements, last %s"
                                 % (timeout, len(seen), [tostr(x)[:120] for x in seen[-3:]]))
        cond = stream_error_condition(el)
        if cond:
            return cond, seen
        seen.append(el)


def answer_close(c):
    """What a client does after a stream error: the server has closed its stream
    and waits for ours (RFC 6120 §4.4); then it closes the connection."""
    c.send("</stream:stream>")
    assert c.wait_closed(5), "server did not close the connection after the error"
    c.close(clean=False)


def messages(elements):
    return [e for e in elements if e.tag == q("message")]


def body(el):
    b = el.find(q("body"))
    return b.text if b is not None else None


def log_count(srv, text):
    return srv.log_text().count(text)


def wait_log(srv, text, count, timeout=10):
    """Waits until `text` has appeared `count` times in the server log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_count(srv, text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("%r not logged %d times within %ss:\n%s"
                         % (text, count, timeout, srv.log_tail()))


RELOADED = "configuration reloaded"
REFUSED = "reload refused"


def reload(srv, how):
    """Reloads through SIGHUP or yerbactl and waits until it has happened.
    Returns the yerbactl process (None for SIGHUP)."""
    if how == "sighup":
        n = log_count(srv, RELOADED)
        srv.signal(signal.SIGHUP)
        wait_log(srv, RELOADED, n + 1)
        return None
    return srv.ctl("reload")


def reload_refused(srv, how):
    """Reloads a broken configuration; returns the error text the operator sees
    (yerbactl's output, or the log lines of the refusal)."""
    if how == "sighup":
        n = log_count(srv, REFUSED)
        before = len(srv.log_text())
        srv.signal(signal.SIGHUP)
        wait_log(srv, REFUSED, n + 1)
        time.sleep(0.2)   # the rest of a multi-line message
        assert srv.running
        return srv.log_text()[before:]
    p = srv.ctl("reload", check=False)
    assert p.returncode != 0, "broken config accepted by yerbactl reload: %s" % p.stdout
    assert srv.running
    return p.stdout + p.stderr


def roundtrip(c):
    """An iq round trip: everything c sent before has been processed."""
    assert c.roster_alive(), "session no longer answers"


def new_cert(dirpath, name, cn="localhost"):
    crt, key = dirpath / (name + ".crt"), dirpath / (name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:%s,DNS:*.%s" % (cn, cn),
                    "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=30)
    return crt, key


def pem_to_der(path):
    return subprocess.run(["openssl", "x509", "-in", str(path), "-outform", "DER"],
                          check=True, capture_output=True, timeout=10).stdout


def stop_timed(srv, sig=signal.SIGTERM, bound=GRACE_S + 3):
    t0 = time.monotonic()
    srv.signal(sig)
    rc = srv.wait_exit(bound)
    elapsed = time.monotonic() - t0
    if rc is None:
        srv.kill9()
        raise AssertionError("yerbad still running %.1fs after signal %d:\n%s"
                             % (bound, sig, srv.log_tail()))
    return rc, elapsed


# --- SIGTERM / SIGINT --------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_sends_system_shutdown_to_every_stream(make_server, sig):
    srv = make_server("shutdown")
    accts = [srv.new_account("s"), srv.new_account("s"), srv.new_account("s", "example.net")]
    streams = [login(srv, accts[0], kind="starttls"),
               login(srv, accts[1], kind="direct"),
               login(srv, accts[2], kind="v6")]
    # Streams that never authenticated get it too: one after STARTTLS, one plain.
    pre = srv.raw("starttls")
    pre.open_stream()
    pre.read_features()
    pre.starttls()
    pre.open_stream()
    pre.read_features()
    plain = srv.raw("starttls")
    plain.open_stream()
    plain.read_features()
    streams += [pre, plain]
    for c in streams[:3]:
        roundtrip(c)

    t0 = time.monotonic()
    srv.signal(sig)
    for c in streams:
        cond, _ = read_until_stream_error(c)
        assert cond == "system-shutdown", cond
        answer_close(c)
    rc = srv.wait_exit(GRACE_S + 3)
    assert rc == 0, "exit code %r:\n%s" % (rc, srv.log_tail())
    # Every client closed promptly, so the grace period was not needed.
    assert time.monotonic() - t0 < GRACE_S, "exit took %.1fs" % (time.monotonic() - t0)
    assert "still open after the grace period" not in srv.log_text()


def test_shutdown_flushes_pending_output(make_server):
    """Stanzas already routed to a slow reader are all delivered, in order, before
    the system-shutdown error."""
    srv = make_server("flush")
    a_acct, b_acct = srv.new_account("a"), srv.new_account("b")
    b = login(srv, b_acct, resource="slow", rcvbuf=4096)
    a = login(srv, a_acct)
    n, pad = 180, "x" * 900   # about 190 KB: under max_output_size (256 KiB)
    for i in range(n):
        a.send("<message to='%s' type='chat' id='m%d'><body>%d %s</body></message>"
               % (b.jid, i, i, pad))
    roundtrip(a)   # all n are routed to b's output by now
    srv.signal(signal.SIGTERM)
    cond, els = read_until_stream_error(b, timeout=20)
    assert cond == "system-shutdown"
    got = [body(m).split(" ", 1)[0] for m in messages(els)]
    assert got == [str(i) for i in range(n)], \
        "received %d of %d messages before the stream error (first missing %s)" % (
            len(got), n, next((i for i in range(n) if i >= len(got) or got[i] != str(i)), None))
    answer_close(b)
    rc = srv.wait_exit(GRACE_S + 3)
    assert rc == 0, "exit code %r:\n%s" % (rc, srv.log_tail())


def test_shutdown_commits_offline_messages(make_server):
    """Messages to offline accounts accepted just before SIGTERM are stored: after
    the restart each arrives exactly once."""
    srv = make_server("commit")
    sender = srv.new_account("sender")
    rcpts = [srv.new_account("off"), srv.new_account("off"), srv.new_account("off", "example.net")]
    a = login(srv, sender)
    per = 25
    for i in range(per):
        for r in rcpts:
            a.send("<message to='%s' type='chat' id='%s-%d'><body>%s #%d</body></message>"
                   % (r.jid, r.user, i, r.user, i))
    # The server has read and routed every message; their storage writes may still
    # be queued or running when the signal arrives.
    roundtrip(a)
    srv.signal(signal.SIGTERM)
    cond, els = read_until_stream_error(a)
    assert cond == "system-shutdown"
    errors = [tostr(e)[:200] for e in els if e.get("type") == "error"]
    assert not errors, "sender got errors: %s" % errors
    answer_close(a)
    rc = srv.wait_exit(GRACE_S + 3)
    assert rc == 0, "exit code %r:\n%s" % (rc, srv.log_tail())

    srv.start()
    for r in rcpts:
        c = login(srv, r, presence=True)
        got = []
        while True:
            try:
                el = c.next(2 if len(got) >= per else 10)
            except XMPPTimeout:
                break
            if el.tag == q("message") and body(el):
                got.append(body(el))
        assert sorted(got) == sorted("%s #%d" % (r.user, i) for i in range(per)), \
            "%s got %d messages (expected %d once each): %s" % (r.jid, len(got), per, got[:5])


@pytest.mark.slow
def test_shutdown_bounded_with_stuck_clients(make_server):
    """A client that stops reading (its output cannot be flushed) and a TCP
    connection that never speaks do not keep the server up past the grace period."""
    srv = make_server("stuck")
    a_acct, b_acct = srv.new_account("a"), srv.new_account("b")
    b = login(srv, b_acct, resource="stuck", rcvbuf=4096)
    a = login(srv, a_acct)
    pad = "y" * 900
    for i in range(200):
        a.send("<message to='%s' type='chat'><body>%d %s</body></message>" % (b.jid, i, pad))
    roundtrip(a)
    silent = rawxmpp.RawXMPP("127.0.0.1", srv.ports["starttls"])   # connects, sends nothing
    rc, elapsed = stop_timed(srv)
    assert rc == 0, "exit code %r:\n%s" % (rc, srv.log_tail())
    assert elapsed <= GRACE_S + 2.5, "exit took %.1fs" % elapsed
    # The well-behaved client still got its error.
    cond, _ = read_until_stream_error(a, timeout=2)
    assert cond == "system-shutdown"
    silent.close(clean=False)
    b.close(clean=False)


# --- SIGHUP / yerbactl reload ------------------------------------------------

HOW = ["sighup", "yerbactl"]


def offline_msg(a, to, mid):
    a.send("<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, mid, mid))


def expect_error_for(a, mid, timeout=10):
    el = a.expect(lambda e: e.tag == q("message") and e.get("id") == mid,
                  timeout=timeout, what="error for message %s" % mid)
    assert el.get("type") == "error", tostr(el)
    return el


@pytest.mark.parametrize("how", HOW)
def test_reload_applies_host_setting_keeping_sessions(make_server, how):
    srv = make_server("quota", hosts=[{"domain": "localhost", "offline_quota": 2},
                                      {"domain": "example.net"}])
    a = login(srv, srv.new_account("a"))
    b = login(srv, srv.new_account("b"), kind="direct")
    off = srv.new_account("off")
    for mid in ("q1", "q2", "q3"):
        offline_msg(a, off.jid, mid)
    # The third is over the quota of 2; the first two stored without an error.
    expect_error_for(a, "q3")

    srv.hosts[0]["offline_quota"] = 4
    srv.write_config()
    reload(srv, how)

    # Both sessions are still there and still route.
    a.send("<message to='%s' type='chat' id='hello'><body>after reload</body></message>" % b.jid)
    el = b.expect(lambda e: e.tag == q("message") and e.get("id") == "hello", what="message")
    assert body(el) == "after reload"
    roundtrip(b)
    # The new quota applies: two more fit, the fifth does not.
    for mid in ("q4", "q5", "q6"):
        offline_msg(a, off.jid, mid)
    expect_error_for(a, "q6")
    c = login(srv, off, presence=True)
    got = []
    while True:
        try:
            el = c.next(2)
        except XMPPTimeout:
            break
        if el.tag == q("message") and body(el):
            got.append(body(el))
    assert got == ["q1", "q2", "q4", "q5"], got


def test_sighup_adds_and_removes_virtual_hosts(make_server):
    srv = make_server("vhosts")
    lh = login(srv, srv.new_account("lh"))
    en = login(srv, srv.new_account("en", "example.net"))
    srv.hosts = [h for h in srv.hosts if h["domain"] != "example.net"]
    srv.write_config(extra_hosts=[{"domain": "added.example"}])
    reload(srv, "sighup")

    # The added host works at once (with a certificate generated for it).
    added = login(srv, srv.adduser("late@added.example", "pw-late"))
    roundtrip(added)
    # The removed host's session stays until it ends...
    en.send("<message to='%s' type='chat' id='e1'><body>still here</body></message>" % lh.jid)
    el = lh.expect(lambda e: e.tag == q("message") and e.get("id") == "e1", what="message")
    assert body(el) == "still here"
    roundtrip(en)
    # ...but the host takes no new streams.
    c = srv.raw("starttls")
    c.send(rawxmpp.stream_header(to="example.net"))
    assert c.expect_stream_error() == "host-unknown"


@pytest.mark.parametrize("how", HOW)
def test_reload_replaces_certificates(make_server, tmp_path, how):
    srv = make_server("certs")
    acct = srv.new_account("c")
    old_der = pem_to_der(srv.cert("localhost"))
    old_starttls = login(srv, acct, resource="old1")
    old_direct = login(srv, acct, resource="old2", kind="direct")
    assert old_starttls.tls.peer_cert_der() == old_der

    crt, key = new_cert(tmp_path, "replacement")
    # Replace the generated files in place, as a renewal script would.
    srv.cert("localhost").write_bytes(crt.read_bytes())
    (srv.data_dir / "certs" / "localhost.key").write_bytes(key.read_bytes())
    new_der = pem_to_der(crt)
    assert new_der != old_der
    reload(srv, how)

    for kind in ("starttls", "direct"):
        c = srv.raw(kind, cafile=crt)
        if kind == "starttls":
            c.open_stream()
            c.read_features()
            c.starttls()
        assert c.tls.peer_cert_der() == new_der, "%s listener still serves the old certificate" % kind
    fresh = login(srv, acct, resource="new", cafile=crt)
    roundtrip(fresh)
    # The sessions made with the old certificate stay and work.
    for old in (old_starttls, old_direct):
        assert old.tls.peer_cert_der() == old_der
        roundtrip(old)
    old_starttls.send("<message to='%s' type='chat' id='x1'><body>old to new</body></message>"
                      % fresh.jid)
    el = fresh.expect(lambda e: e.tag == q("message") and e.get("id") == "x1", what="message")
    assert body(el) == "old to new"


@pytest.mark.parametrize("how", HOW)
def test_reload_refuses_broken_config(make_server, how):
    srv = make_server("broken", hosts=[{"domain": "localhost", "offline_quota": 1},
                                       {"domain": "example.net"}])
    a = login(srv, srv.new_account("a"))
    off = srv.new_account("off")
    good = srv.config.read_text()
    # A new host, a new quota, and one unknown key on the last line.
    lines = srv.config_text(extra_hosts=[{"domain": "never.example"}]) \
        .replace("offline_quota: 1", "offline_quota: 100").splitlines()
    lines.append("no_such_option: 1")
    srv.config.write_text("\n".join(lines) + "\n")
    text = reload_refused(srv, how)
    expect = "%s:%d:" % (srv.config.name, len(lines))
    assert expect in text and "no_such_option" in text, \
        "error %r not reported; got:\n%s" % (expect, text)

    # The old configuration is still in force, sessions included. (yerbactl reads
    # the file too, to find the server: give it the good one back, unloaded.)
    srv.config.write_text(good)
    roundtrip(a)
    p = srv.ctl("adduser", "x@never.example", "pw", check=False)
    assert p.returncode != 0, "host of the refused config is served"
    offline_msg(a, off.jid, "k1")
    offline_msg(a, off.jid, "k2")
    expect_error_for(a, "k2")   # the old quota of 1, not 100
    roundtrip(login(srv, srv.new_account("new")))

    # Fixed, it loads.
    srv.config.write_text(good.replace("offline_quota: 1", "offline_quota: 3"))
    reload(srv, how)
    offline_msg(a, off.jid, "k3")
    offline_msg(a, off.jid, "k4")
    offline_msg(a, off.jid, "k5")
    expect_error_for(a, "k5")


@pytest.mark.parametrize("how", HOW)
def test_reload_refuses_broken_certificate(make_server, tmp_path, how):
    """A certificate that does not load refuses the whole reload: the server keeps
    serving the certificate it had, even though the file on disk is now broken."""
    srv = make_server("badcert")
    acct = srv.new_account("c")
    old = login(srv, acct, resource="old")
    old_der = pem_to_der(srv.cert("localhost"))
    saved = srv.cert("localhost").read_bytes()
    (tmp_path / "old.crt").write_bytes(saved)
    srv.cert("localhost").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                     "-----END CERTIFICATE-----\n")
    text = reload_refused(srv, how)
    assert "certificate" in text.lower(), text

    roundtrip(old)
    for kind in ("starttls", "direct"):
        c = login(srv, acct, resource="new-" + kind, kind=kind, cafile=tmp_path / "old.crt")
        assert c.tls.peer_cert_der() == old_der, "%s: certificate changed" % kind
        roundtrip(c)
    # A host whose configured certificate file is missing is refused the same way.
    srv.cert("localhost").write_bytes(saved)
    srv.write_config(extra_hosts=[{"domain": "cert.example",
                                   "certificate": str(tmp_path / "missing.crt"),
                                   "key": str(tmp_path / "missing.key")}])
    text = reload_refused(srv, how)
    assert "missing.crt" in text, text
    srv.write_config()
    p = srv.ctl("adduser", "x@cert.example", "pw", check=False)
    assert p.returncode != 0, "host with a missing certificate is served"
    roundtrip(old)
