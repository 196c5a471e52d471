# SPDX-License-Identifier: MIT
"""The private Prosody and ejabberd peers of tests/integration/peers.py work.

Proves what the federation tests (issue 4) and bench/compare (issue 5) rely on:
slixmpp logs in to each over STARTTLS with a verified EC P-256 certificate; the
private dnsmasq serves the test domains' SRV and A records; Prosody and ejabberd
federate with each other through it (dialback with untrusted self-signed
certificates, SASL EXTERNAL with trusted ones, and with the DNS server given to them
as a private /etc/resolv.conf); bulk account creation works; stop leaves nothing
behind. Needs no yerbad.
"""
import os
import threading
import time

import pytest

import peers
import slixclient

P, E = "prosody.example", "ejabberd.example"
FED_WAIT = 15.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("peercerts")
    c = {P: peers.make_cert(d, P), E: peers.make_cert(d, E)}
    c["trust"] = d / "trust.pem"
    c["trust"].write_text(c[P][0].read_text() + c[E][0].read_text())
    return c


def session_members(sid):
    """PIDs of live processes whose session id is sid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(name))
    return out


def _catch(fn):
    try:
        fn()
    except Exception as e:
        return e
    return None


class Pair:
    """dnsmasq + a Prosody on prosody.example + an ejabberd on ejabberd.example."""

    def __init__(self, workdir, certs, mode="dialback", trust=False, via="config"):
        self.dns = peers.DnsServer(workdir / "dns", port=53 if via == "mount" else None)
        kw = dict(dns=self.dns, s2s_mode=mode, resolv_via=via,
                  trust_cafile=certs["trust"] if trust else None)
        self.prosody = peers.Prosody(workdir / "prosody", P, cert=certs[P][0], key=certs[P][1],
                                     **kw)
        self.ejabberd = peers.Ejabberd(workdir / "ejabberd", E, cert=certs[E][0],
                                       key=certs[E][1], **kw)
        for peer in (self.prosody, self.ejabberd):
            self.dns.add_xmpp(peer.domain, peer.s2s_port)

    def start(self):
        self.dns.start()
        # ejabberd takes a few seconds: start Prosody meanwhile.
        err = []
        t = threading.Thread(target=lambda: err.append(_catch(self.ejabberd.start)))
        t.start()
        try:
            self.prosody.start()
        finally:
            t.join(peers.START_TIMEOUT + 10)
        if err and err[0]:
            raise err[0]
        return self

    def stop(self):
        rcs = {}
        for peer in (self.prosody, self.ejabberd):
            if peer.proc is not None:
                sid = peer.pid
                rcs[peer.kind] = peer.stop()
                assert not session_members(sid), "%s left processes behind" % peer.kind
        self.dns.stop()
        assert rcs == {"prosody": 0, "ejabberd": 0}, "exit codes on SIGTERM: %r" % rcs


@pytest.fixture(scope="module")
def pair(tmp_path_factory, certs):
    p = Pair(tmp_path_factory.mktemp("pair"), certs)
    try:
        p.start()
        yield p
    finally:
        p.stop()


@pytest.fixture
def make_pair(tmp_path, certs):
    pairs = []

    def factory(**kw):
        p = Pair(tmp_path / ("pair%d" % len(pairs)), certs, **kw)
        pairs.append(p)
        return p.start()
    yield factory
    for p in pairs:
        p.stop()


async def chat_both_ways(pair, tag):
    a = pair.prosody.adduser("alice_" + tag, "pa-" + tag)
    b = pair.ejabberd.adduser("bob_" + tag, "pb-" + tag)
    ca = await slixclient.connect(pair.prosody, a)
    cb = await slixclient.connect(pair.ejabberd, b)
    ca.msg(cb.bare, "%s: prosody to ejabberd" % tag)
    m = await cb.message_with("%s: prosody to ejabberd" % tag, timeout=FED_WAIT)
    assert slixclient.bare(m.frm) == a.jid
    cb.msg(ca.bare, "%s: ejabberd to prosody" % tag)
    m = await ca.message_with("%s: ejabberd to prosody" % tag, timeout=FED_WAIT)
    assert slixclient.bare(m.frm) == b.jid
    await ca.close()
    await cb.close()


def assert_resolved_through(pair):
    # Each server asked our DNS server for the other's SRV record.
    for d in (P, E):
        assert pair.dns.queries_for("_xmpp-server._tcp.%s" % d) >= 1, \
            "nobody asked dnsmasq for %s (log %s)" % (d, pair.dns.log_path)


def wait_log_lines(path, lines, timeout=15):
    # Both peers write their logs through buffered handlers (ejabberd's logger
    # flushes on its own schedule), so a line may land a moment after the stanza
    # it describes has been delivered.
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path.exists() else ""
        missing = [line for line in lines if line not in log]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, "log %s lacks %r" % (path, missing)


def assert_s2s_auth(pair, method):
    wait_log_lines(pair.ejabberd.log_path,
                   ["Accepted inbound s2s %s authentication %s -> %s" % (method, P, E),
                    "Accepted outbound s2s %s authentication %s -> %s" % (method, E, P)])


# --- c2s ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
async def test_slixmpp_login_starttls(pair, kind):
    peer = getattr(pair, kind)
    acct = peer.adduser("login_" + kind, "secret-1")
    c = await slixclient.connect(peer, acct)
    assert c.bare == acct.jid
    await c.close()
    with pytest.raises(slixclient.LoginFailed):
        await slixclient.connect(peer, peer.account("login_" + kind, "wrong"), "bad")


def test_dns_records(pair):
    dns = pair.dns
    assert dns.query("_xmpp-server._tcp.%s" % P) == (0, [(0, 0, pair.prosody.s2s_port, P)])
    assert dns.query("_xmpp-server._tcp.%s" % E) == (0, [(0, 0, pair.ejabberd.s2s_port, E)])
    assert dns.query(P, "A") == (0, ["127.0.0.1"])
    # Unknown names in the test zone are NXDOMAIN (rcode 3), not REFUSED.
    assert dns.query("_xmpps-server._tcp.%s" % P)[0] == 3
    assert dns.query("nowhere.example", "A")[0] == 3


# --- federation ----------------------------------------------------------------

async def test_federation_dialback(pair):
    # Neither side trusts the other's self-signed certificate: only dialback can
    # authenticate these links.
    await chat_both_ways(pair, "db")
    assert_resolved_through(pair)
    # (Each side tries SASL EXTERNAL first; the other refuses the self-signed
    # certificate and it falls back to dialback.) ejabberd logs the outcome of both
    # directions at info.
    assert_s2s_auth(pair, "dialback")
    assert "Accepting SASL EXTERNAL" not in pair.prosody.log_path.read_text()


async def test_federation_sasl_external(make_pair):
    # Dialback disabled on both sides; each trusts the other's certificate.
    pair = make_pair(mode="external", trust=True)
    await chat_both_ways(pair, "ext")
    assert_resolved_through(pair)
    assert_s2s_auth(pair, "EXTERNAL")
    wait_log_lines(pair.prosody.log_path, ["Accepting SASL EXTERNAL identity from %s" % E])


async def test_federation_private_resolv_conf(make_pair):
    # dnsmasq on port 53 of a loopback address; both servers find it through a
    # /etc/resolv.conf of their own (mount namespace), not through config.
    pair = make_pair(via="mount")
    with open("/etc/resolv.conf") as f:
        assert pair.dns.address not in f.read()     # the machine's file is untouched
    await chat_both_ways(pair, "mnt")
    assert_resolved_through(pair)


# --- accounts and lifecycle ------------------------------------------------------

def test_create_accounts(pair):
    n = 300
    for peer in (pair.prosody, pair.ejabberd):
        seconds = peer.create_accounts(n, "bench-pw", prefix="bulk_")
        assert seconds < 20, "%s: %d accounts took %.1fs" % (peer.kind, n, seconds)
        for user in ("bulk_1", "bulk_%d" % n):
            assert peer.login_ok(peer.account(user, "bench-pw")).startswith(
                "%s@%s/" % (user, peer.domain))
        with pytest.raises(AssertionError):
            peer.login_ok(peer.account("bulk_%d" % (n + 1), "bench-pw"))


def test_start_stop_is_quick_and_clean(tmp_path, certs):
    for cls, d in ((peers.Prosody, P), (peers.Ejabberd, E)):
        peer = cls(tmp_path / cls.kind, d, cert=certs[d][0], key=certs[d][1])
        peer.start(timeout=20)
        pid = peer.pid
        # A few seconds on an idle machine (Prosody ~0.3 s, ejabberd ~2.5 s);
        # bounds leave room for a loaded one.
        assert peer.start_seconds < 15
        t0 = time.monotonic()
        assert peer.stop() == 0
        assert time.monotonic() - t0 < 8
        assert not os.path.exists("/proc/%d" % pid)
        assert not session_members(pid)     # nor any helper it spawned (no epmd)
