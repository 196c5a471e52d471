# SPDX-License-Identifier: MIT
"""yerbad federating with real servers: Debian's Prosody 0.12 and ejabberd 23.01
(issue 4). yerbad serves yerba.example; the peers serve prosody.example and
ejabberd.example (tests/integration/peers.py). Everything is on loopback.

Every name is found through one private dnsmasq: the peers resolve yerba.example
through it (SRV to yerbad's s2s listener), and yerbad resolves them through it too
(`s2s.dns_servers`), so no static address is involved.

For each peer, both authentication methods, chosen by configuration and asserted on
both sides (yerbactl s2s, and the peer's own log):
- external: the peer runs without dialback and demands SASL EXTERNAL
  (XEP-0178); each side trusts the other's certificate (yerbad by s2s.ca_file and
  trust: ca, the peer by its CA file).
- dialback: nobody trusts anybody's self-signed certificate; yerbad's remote entry
  says trust: dialback, so each direction is proven by a real XEP-0220 round trip
  (the receiving server calls the authoritative one back with db:verify).
In each, a user on yerba and one on the peer subscribe to each other, exchange
presence and messages both ways, and an iq crosses the link.

A peer whose certificate names another domain is refused by yerbad (trust: ca and
trust: self-signed), in both directions. A Prosody that shuts down (ending its
streams with system-shutdown) and comes back, and links closed when idle, are
followed by new links in both directions.
"""
import asyncio
import shutil
import threading

import pytest

import harness
import peers
import slixclient
from slixclient import bare, connect, make_friends

pytestmark = pytest.mark.s2s

Y, P, E = "yerba.example", "prosody.example", "ejabberd.example"
LIAR = "liar.example"       # a peer serving this domain with a certificate for another
Y2 = "yerba2.example"       # yerbad's domain in the tests beside the module-scoped pairs
R = "restart.example"       # a Prosody that goes away and comes back
FED_WAIT = 15.0             # first stanza over a new link: DNS, TLS, auth (and dialback)


# --- the world: certificates, DNS, fixed s2s ports --------------------------------

class World:
    def __init__(self, d):
        self.dir = d
        certs = d / "certs"
        self.certs = {n: peers.make_cert(certs, n) for n in (Y, Y2, P, E, LIAR, R)}
        self.wrong = peers.make_cert(d / "wrong", "other.example")
        # What each side trusts in the "external" mode.
        self.trust_peers = d / "peers.pem"
        self.trust_peers.write_text(self.certs[P][0].read_text() + self.certs[E][0].read_text()
                                    + self.wrong[0].read_text())
        self.trust_yerba = d / "yerba.pem"
        self.trust_yerba.write_text(self.certs[Y][0].read_text() + self.certs[Y2][0].read_text())
        self.port = {n: peers.free_port() for n in (Y, Y2, P, E, LIAR, R)}
        while len(set(self.port.values())) < len(self.port):
            self.port = {n: peers.free_port() for n in (Y, Y2, P, E, LIAR, R)}
        self.dns = peers.DnsServer(d / "dns")
        for n, port in self.port.items():
            self.dns.add_xmpp(n, port)
        self.dns.start()
        self.n = 0

    def yerbad(self, remotes, ca_file=None, domain=Y, **s2s):
        """A started yerbad for `domain` on its fixed s2s port, with the pre-made
        certificate (so the peers can trust it before it exists)."""
        self.n += 1
        s = harness.Server(self.dir / ("yerbad%d" % self.n),
                           hosts=[{"domain": domain, "offline_quota": 100}], s2s=True)
        # The fixed port is not held by anything: the harness may have picked it
        # for another listener.
        for k in list(s.ports):
            while s.ports[k] in self.port.values():
                s.ports[k] = harness.free_port("::1" if k == "v6" else "127.0.0.1")
        s.ports["s2s"] = self.port[domain]
        certs = s.data_dir / "certs"
        certs.mkdir(parents=True)
        shutil.copy(self.certs[domain][0], certs / ("%s.crt" % domain))
        shutil.copy(self.certs[domain][1], certs / ("%s.key" % domain))
        text = "s2s:\n  dns_servers: \"%s:%d\"\n" % (self.dns.address, self.dns.port)
        text += "  connect_timeout: 15\n"
        if ca_file:
            text += "  ca_file: %s\n" % ca_file
        for k, v in s2s.items():
            text += "  %s: %s\n" % (k, v)
        text += "  remotes:\n"
        for name, settings in remotes.items():
            text += "    - {domain: %s%s}\n" % (name, "".join(
                ", %s: %s" % kv for kv in settings.items()))
        s.extra = text
        s.write_config()
        s.start()
        return s


async def wait_log(server, text, timeout=5.0):
    """yerbad's log reaches the file through a reader thread: wait for a line."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in server.log_text():
        assert loop.time() < deadline, "%s lacks %r" % (server.log_path, text)
        await asyncio.sleep(0.1)


async def wait_file(path, text, timeout=15.0):
    """A peer's log (ejabberd's logger writes in the background): wait for a line."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in path.read_text(errors="replace"):
        assert loop.time() < deadline, "%s lacks %r" % (path, text)
        await asyncio.sleep(0.1)


def finish(server):
    """Stops yerbad; it must exit 0 and its log hold no sanitizer report."""
    if server is None or server.proc is None:
        return
    rc = server.stop()
    assert not server.sanitizer_reports(), server.log_path
    assert rc == 0, "yerbad exited %s (log %s)" % (rc, server.log_path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("fed"))
    yield w
    w.dns.stop()


class LiarEjabberd(peers.Ejabberd):
    """ejabberd whose only certificate names another domain (other.example). ejabberd
    gathers every certificate it is given into one store and picks by name, so the
    c2s listener cannot keep a right one: the readiness login checks the wrong one,
    and its users are driven with ejabberdctl (mod_admin_extra) instead of slixmpp."""

    def config_text(self):
        text = super().config_text()
        good = "certfiles: [%s]" % peers._yq(self.pem_path)
        assert good in text
        return text.replace(good, "certfiles: [%s]" % peers._yq(self.wrong_pem))

    def write_config(self):
        self.wrong_pem = self.config_dir / "wrong.pem"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.wrong_pem.write_text(self.wrong[0].read_text() + self.wrong[1].read_text())
        super().write_config()

    def login_ok(self, account, timeout=5.0):
        import rawxmpp
        c = rawxmpp.RawXMPP(peers.LOOPBACK, self.c2s_port, server_name="other.example",
                            cafile=str(self.wrong[0]), timeout=timeout)
        try:
            return c.login(account.user, account.password, self.domain,
                           mechanism="SCRAM-SHA-1")
        finally:
            c.close()


def start_peer(world, kind, mode, domain=None, cert=None, extra_cfg="", liar=False):
    domain = domain or {"prosody": P, "ejabberd": E}[kind]
    cls = {"prosody": peers.Prosody, "ejabberd": peers.Ejabberd}[kind]
    if domain not in (P, E):
        cert = cert or world.certs.get(domain)
    if liar and kind == "ejabberd":
        cls = LiarEjabberd
    elif liar:
        extra_cfg += 's2s_ssl = { certificate = "%s"; key = "%s" }' % world.wrong
    cert = cert or world.certs[domain]
    world.n += 1
    peer = cls(world.dir / ("%s-%s-%s-%d" % (kind, mode, domain, world.n)), domain,
               s2s_port=world.port[domain], cert=cert[0], key=cert[1], dns=world.dns,
               s2s_mode="external" if mode == "external" else "dialback",
               trust_cafile=world.trust_yerba if mode == "external" else None,
               extra_cfg=extra_cfg, log_level="debug" if kind == "prosody" else "info",
               modules=["mod_admin_extra"] if cls is LiarEjabberd else [])
    peer.wrong = world.wrong
    return peer.start()


class Fed:
    """One peer and one yerbad federating in one mode."""

    def __init__(self, world, kind, mode):
        self.kind, self.mode = kind, mode
        self.peer = self.yerbad = None
        # ejabberd takes seconds to start: start yerbad meanwhile.
        err = []

        def run():
            try:
                self.peer = start_peer(world, kind, mode)
            except Exception as e:  # reported below
                err.append(e)
        t = threading.Thread(target=run)
        t.start()
        try:
            if mode == "external":
                self.yerbad = world.yerbad({self.domain: {"trust": "ca"}},
                                           ca_file=world.trust_peers)
            else:
                self.yerbad = world.yerbad({self.domain: {"trust": "dialback"}})
        finally:
            t.join(peers.START_TIMEOUT + 10)
            if err or self.yerbad is None:
                try:
                    finish(self.yerbad)
                finally:
                    if self.peer is not None:
                        self.peer.stop()
        if err:
            raise err[0]

    @property
    def domain(self):
        return {"prosody": P, "ejabberd": E}[self.kind]

    def stop(self):
        try:
            finish(self.yerbad)
        finally:
            if self.peer is not None:
                assert self.peer.stop() == 0


COMBOS = [("prosody", "external"), ("prosody", "dialback"),
          ("ejabberd", "external"), ("ejabberd", "dialback")]


@pytest.fixture(scope="module", params=COMBOS, ids=["-".join(c) for c in COMBOS])
def fed(world, request):
    f = Fed(world, *request.param)
    yield f
    f.stop()


def links(server):
    """yerbactl s2s as a list of dicts."""
    out = server.ctl("s2s").stdout
    keys = ("dir", "local", "remote", "state", "auth", "tls", "peer", "stanzas", "queued")
    return [dict(zip(keys, line.split("\t"))) for line in out.splitlines() if line.strip()]


def peer_log(peer):
    return peer.log_path.read_text(errors="replace")


def assert_peer_auth(fed):
    """The peer's own log says which method authenticated each direction."""
    log = peer_log(fed.peer)
    d = fed.domain
    if fed.kind == "ejabberd":
        method = "EXTERNAL" if fed.mode == "external" else "dialback"
        for line in ("Accepted inbound s2s %s authentication %s -> %s" % (method, Y, d),
                     "Accepted outbound s2s %s authentication %s -> %s" % (method, d, Y)):
            assert line in log, "ejabberd log %s lacks %r" % (fed.peer.log_path, line)
    elif fed.mode == "external":
        # Prosody logs its side at debug (our peers run Prosody at debug level).
        assert "Accepting SASL EXTERNAL identity from %s" % Y in log, fed.peer.log_path
        assert "SASL EXTERNAL with %s succeeded" % Y in log, fed.peer.log_path
        assert "dialback key" not in log
    else:
        assert "Accepting SASL EXTERNAL identity" not in log, fed.peer.log_path
        # Prosody, authoritative, confirmed the key yerbad asked it about...
        assert "verified dialback key... it is valid" in log, fed.peer.log_path
        # ...and, receiving, got yerbad's answer for the key yerbad sent it.
        assert any("Received[s2sout]: <verify" in l and "from='%s'" % Y in l
                   and "type='valid'" in l for l in log.splitlines()), fed.peer.log_path


def assert_yerbad_auth(fed):
    ls = links(fed.yerbad)
    out = [l for l in ls if l["dir"] == "out" and l["remote"] == fed.domain]
    inc = [l for l in ls if l["dir"] == "in" and l["remote"] == fed.domain
           and l["state"] == "authenticated"]
    assert len(out) == 1 and out[0]["state"] == "ready", ls
    assert inc, ls
    want = "EXTERNAL" if fed.mode == "external" else "dialback"
    assert out[0]["auth"] == want, ls
    # dialback: a real round trip, not XEP-0344's shortcut on a trusted certificate.
    assert want in [l["auth"] for l in inc], ls
    assert all(l["tls"].startswith("TLSv1.") for l in out + inc), ls
    log = fed.yerbad.log_text()
    if fed.mode == "dialback":
        # yerbad, authoritative, confirmed the key the peer checked with it...
        assert "dialback key for %s -> %s checked: valid" % (Y, fed.domain) in log
        # ...and, receiving, asked the peer to confirm the one it got.
        assert "%s authenticated for %s with dialback" % (fed.domain, Y) in log
    else:
        assert "%s authenticated with SASL EXTERNAL" % fed.domain in log
        assert "checked: valid" not in log


async def test_subscribe_presence_messages(fed, world):
    peer, y = fed.peer, fed.yerbad
    ua = y.new_account(domain=Y)
    ub = peer.adduser("bob_%s" % fed.mode, "pw-b-" + fed.mode)
    ca = await connect(y, ua, "y")
    cb = await connect(peer, ub, "p")

    # First stanza over each new link: DNS, TLS, authentication.
    ca.msg(cb.bare, "yerba to %s" % fed.kind)
    m = await cb.message_with("yerba to %s" % fed.kind, timeout=FED_WAIT)
    assert bare(m.frm) == ua.jid and m.frm == ca.jid
    cb.msg(ca.bare, "%s to yerba" % fed.kind)
    m = await ca.message_with("%s to yerba" % fed.kind, timeout=FED_WAIT)
    assert bare(m.frm) == ub.jid and m.frm == cb.jid

    # RFC 6121 across the domains: mutual subscription, then presence broadcast.
    await make_friends(ca, cb)
    assert (await ca.roster_get())[cb.bare]["subscription"] == "both"
    assert (await cb.roster_get())[ca.bare]["subscription"] == "both"
    ca.presences.clear()
    cb.presences.clear()
    cb.send_presence_now(status="on %s" % fed.kind, show="away")
    p = await ca.presence_from(cb.jid, "available", timeout=FED_WAIT)
    assert p.status == "on %s" % fed.kind and p.show == "away"
    ca.send_presence_now(status="on yerba", show="dnd")
    p = await cb.presence_from(ca.jid, "available", timeout=FED_WAIT)
    assert p.status == "on yerba" and p.show == "dnd"

    # A new login on yerba probes its contacts: the peer answers over s2s.
    ca2 = await connect(y, ua, "y2")
    p = await ca2.presence_from(cb.jid, "available", timeout=FED_WAIT)
    assert p.status == "on %s" % fed.kind

    # Messages both ways on the established links, in order.
    for i in range(5):
        ca.msg(cb.jid, "y->p %d" % i)
        cb.msg(ca.jid, "p->y %d" % i)
    for i in range(5):
        assert (await cb.messages.get(lambda s: (s.body or "").startswith("y->p"))).body \
            == "y->p %d" % i
        assert (await ca.messages.get(lambda s: (s.body or "").startswith("p->y"))).body \
            == "p->y %d" % i

    # An iq to the peer's domain and one back to ours.
    r = await ca.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=fed.domain)
    assert r.type == "result", r
    r = await cb.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=Y)
    assert r.type == "result", r

    # Going offline reaches the contact.
    await cb.close()
    p = await ca.presence_from(cb.jid, "unavailable", timeout=FED_WAIT)

    # The peer found yerba.example, and yerbad found the peer, through our DNS.
    assert world.dns.queries_for("_xmpp-server._tcp.%s" % Y) >= 1
    assert world.dns.queries_for("_xmpp-server._tcp.%s" % fed.domain) >= 1
    assert_yerbad_auth(fed)
    # ejabberd's logger writes in the background: give it a moment under load.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        try:
            assert_peer_auth(fed)
            break
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


# --- a peer with a certificate for another name --------------------------------------

# (ejabberd with trust: ca only: the self-signed case runs the same code in yerbad,
# and an ejabberd costs seconds to start.)
@pytest.mark.parametrize("kind,trust", [("prosody", "ca"), ("prosody", "self-signed"),
                                        ("ejabberd", "ca")])
async def test_wrong_certificate_is_refused(world, kind, trust):
    # The peer serves liar.example, but its s2s certificate names other.example
    # (c2s keeps the right one). yerbad trusts that certificate's issuer (ca_file)
    # and so can only refuse it for the name, in both directions.
    peer = start_peer(world, kind, "dialback", domain=LIAR, liar=True)
    y = None
    try:
        y = world.yerbad({LIAR: {"trust": trust}}, ca_file=world.trust_peers, domain=Y2)
        ca = await connect(y, y.new_account(domain=Y2), "y")
        # (ejabberd's user needs no account: it only sends, with ejabberdctl.)
        bob = peer.adduser("bob", "pw-liar") if kind == "prosody" else peer.account("bob", "")
        cb = await connect(peer, bob, "p") if kind == "prosody" else None

        # yerbad -> liar: yerbad checks the certificate on its outgoing link.
        ca.msg(bob.jid, "to the liar")
        err = await ca.messages.get(lambda s: s.type == "error", timeout=FED_WAIT,
                                    what="bounce from yerbad")
        assert err.error == "remote-server-not-found", err
        assert bare(err.frm) == bob.jid
        await wait_log(y, "link %s -> %s failed: certificate does not name %s"
                       % (Y2, LIAR, LIAR))

        # liar -> yerbad: no SASL EXTERNAL is offered for that certificate, and its
        # dialback claim is refused too (trust ca/self-signed demands a certificate).
        if cb is not None:
            cb.msg(ca.bare, "from the liar")
        else:
            peer.ctl("send_message", "chat", bob.jid, ca.bare, "", "from the liar")
        await wait_log(y, "dialback for %s refused: certificate does not name %s"
                       % (LIAR, LIAR), timeout=FED_WAIT)
        await ca.messages.none(lambda s: s.body == "from the liar", wait=0.5,
                               what="a message over a refused link")
        log = y.log_text()
        assert "authenticated" not in "\n".join(
            l for l in log.splitlines() if LIAR in l and "s2s-in" in l)
        assert not [l for l in links(y) if l["remote"] == LIAR and l["dir"] == "in"
                    and l["state"] == "authenticated"], links(y)
        # The peer's side of it: its dialback attempt failed.
        await wait_file(peer.log_path, {
            "prosody": "Outgoing s2s stream %s->%s closed: dialback authentication failed",
            "ejabberd": "Failed outbound s2s dialback authentication %s -> %s",
        }[kind] % (LIAR, Y2))
        plog = peer_log(peer)
        assert "Accepting SASL EXTERNAL" not in plog
        assert "Accepted inbound s2s" not in plog and "Accepted outbound s2s" not in plog
    finally:
        await slixclient.close_all()    # before yerbad's shutdown: no grace period
        try:
            finish(y)
        finally:
            assert peer.stop() == 0


# --- the peer goes away and comes back --------------------------------------------------

async def test_peer_restart(world):
    peer = start_peer(world, "prosody", "dialback", domain=R)
    y = None
    try:
        y = world.yerbad({R: {"trust": "dialback"}}, domain=Y2)
        ua, ub = y.new_account(domain=Y2), peer.adduser("bob", "pw-r")
        ca = await connect(y, ua, "y")
        cb = await connect(peer, ub, "p")
        ca.msg(cb.jid, "before")
        await cb.message_with("before", timeout=FED_WAIT)
        cb.msg(ca.jid, "before, back")
        await ca.message_with("before, back", timeout=FED_WAIT)
        assert len([l for l in links(y) if l["remote"] == R]) == 2, links(y)

        # Prosody shuts down: it ends both streams with a system-shutdown stream
        # error. yerbad closes its side quietly (no stream error of its own in
        # reply, RFC 6120 §4.9.1) and forgets both links.
        await cb.close()
        assert peer.stop() == 0
        await wait_log(y, "stream error from %s: system-shutdown" % R)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while [l for l in links(y) if l["remote"] == R] and loop.time() < deadline:
            await asyncio.sleep(0.2)
        assert not [l for l in links(y) if l["remote"] == R], links(y)
        sent = [l for l in y.log_text().splitlines() if "s2s-in#" in l and "stream error " in l
                and "stream error from" not in l]
        assert not sent, sent

        # While it is down, a stanza for it bounces (connection refused).
        ca.msg(ub.jid, "while down")
        err = await ca.messages.get(lambda s: s.type == "error", timeout=FED_WAIT,
                                    what="bounce while the peer is down")
        assert err.error == "remote-server-not-found", err

        # Back up: new links in both directions.
        peer.start()
        cb = await connect(peer, ub, "p2")
        ca.msg(cb.jid, "after")
        await cb.message_with("after", timeout=FED_WAIT)
        cb.msg(ca.jid, "after, back")
        await ca.message_with("after, back", timeout=FED_WAIT)
        out = [l for l in links(y) if l["remote"] == R and l["dir"] == "out"]
        assert out and out[0]["state"] == "ready" and out[0]["auth"] == "dialback", links(y)
    finally:
        await slixclient.close_all()
        try:
            finish(y)
        finally:
            assert peer.stop() in (0, None)


async def test_idle_links_close_and_come_back(world):
    # yerbad closes idle links (both its outgoing one and the peer's incoming one)
    # after s2s.idle_timeout; the next stanza either way sets up new ones.
    peer = start_peer(world, "prosody", "dialback", domain=R)
    y = None
    try:
        y = world.yerbad({R: {"trust": "dialback"}}, domain=Y2, idle_timeout=5)
        ua, ub = y.new_account(domain=Y2), peer.adduser("bob", "pw-i")
        ca = await connect(y, ua, "y")
        cb = await connect(peer, ub, "p")
        for round_ in ("first", "second"):
            ca.msg(cb.jid, "%s y->p" % round_)
            await cb.message_with("%s y->p" % round_, timeout=FED_WAIT)
            cb.msg(ca.jid, "%s p->y" % round_)
            await ca.message_with("%s p->y" % round_, timeout=FED_WAIT)
            assert {l["dir"] for l in links(y) if l["remote"] == R} == {"in", "out"}, links(y)
            if round_ == "first":
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 12
                while [l for l in links(y) if l["remote"] == R] and loop.time() < deadline:
                    await asyncio.sleep(0.5)
                assert not [l for l in links(y) if l["remote"] == R], links(y)
        await wait_log(y, "link %s -> %s idle: closing" % (Y2, R))
        assert len([l for l in y.log_text().splitlines()
                    if "link %s -> %s up (dialback" % (Y2, R) in l]) == 2
    finally:
        await slixclient.close_all()
        try:
            finish(y)
        finally:
            assert peer.stop() == 0
