# SPDX-License-Identifier: MIT
"""How yerbad finds a remote server through real DNS (RFC 6120 §3.2, XEP-0368):
a private dnsmasq on loopback serves the records, and `s2s.dns_servers` points
yerbad's resolver (c-ares, src/net/resolve.c) at it. No static host or port is
configured for any remote domain here: every link is found through DNS.

Two yerbad instances: "a" serves a.example and sends; "b" serves one domain per
case (prio.example, weight.example, direct.example, fallback.example), each with its
own records:
- SRV priorities: the first target is a dead port, the second one answers;
- SRV weights: within one priority, weight 65535 beats weight 0;
- `_xmpps-server` ahead of `_xmpp-server`: direct TLS with ALPN xmpp-server;
- no SRV record at all: the domain's A record on port 5269 (b also listens on
  127.0.0.77:5269, the address fallback.example's A record names);
- a `.` target (the domain offers no XMPP service), an unknown domain, and a
  DNS server that does not answer: bounced with the right condition, in bounded
  time, while the other links carry on;
- and a real Prosody 0.12 with a direct TLS port: both servers reach each other
  through `_xmpps-server` records.
"""
import asyncio
import time

import pytest

import harness
import peers
import slixclient
from slixclient import connect

pytestmark = pytest.mark.s2s

A = "a.example"
PRIO, DIRECT, FALLBACK = "prio.example", "direct.example", "fallback.example"
WEIGHT = "weight.example"
NOPE, GHOST = "nope.example", "ghost.example"
PD = "pdirect.example"          # a Prosody reached (and reaching a.example) by direct TLS
FALLBACK_ADDR = "127.0.0.77"    # fallback.example's A record; b listens there on 5269
WAIT = 10.0


class Server(harness.Server):
    """harness.Server with extra listener lines."""
    extra_listeners = ()

    def config_text(self, extra_hosts=()):
        text = super().config_text(extra_hosts)
        lines = "".join("  - %s\n" % l for l in self.extra_listeners)
        return text.replace("listeners:\n", "listeners:\n" + lines, 1)


class DirectTlsProsody(peers.Prosody):
    """peers.Prosody with an s2s direct TLS (XEP-0368) port."""
    direct_tls_port = None

    def config_text(self):
        text = super().config_text()
        assert "s2s_direct_tls_ports = { }" in text
        return text.replace("s2s_direct_tls_ports = { }",
                            "s2s_direct_tls_ports = { %d }" % self.direct_tls_port)


class Dns(peers.DnsServer):
    """peers.DnsServer plus SRV records with the target '.' (RFC 6120 §3.2.1: the
    service is decidedly not available)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.unavailable = []

    def config_text(self):
        # dnsmasq answers an srv-host without a target with the root name.
        return super().config_text() + "".join(
            "srv-host=%s\n" % name for name in self.unavailable)


def s2s_section(dns, remotes, **settings):
    text = "s2s:\n  dns_servers: \"%s:%d\"\n" % (dns.address, dns.port)
    for k, v in settings.items():
        text += "  %s: %s\n" % (k, v)
    text += "  remotes:\n"
    text += "".join("    - {domain: %s, trust: self-signed}\n" % d for d in remotes)
    return text


class World:
    def __init__(self, d):
        self.dir = d
        assert peers.port_free(FALLBACK_ADDR, 5269), "%s:5269 is taken" % FALLBACK_ADDR
        self.a = Server(d / "a", hosts=[{"domain": A}], s2s=True)
        self.b = Server(d / "b", hosts=[{"domain": h} for h in (PRIO, DIRECT, FALLBACK, WEIGHT)],
                        s2s=True)
        self.b.extra_listeners = ['{type: s2s, address: "%s", port: 5269}' % FALLBACK_ADDR]
        self.dead = harness.free_port()
        while self.dead in list(self.a.ports.values()) + list(self.b.ports.values()):
            self.dead = harness.free_port()
        b_s2s, b_tls = self.b.ports["s2s"], self.b.ports["s2s-tls"]
        dns = self.dns = Dns(d / "dns")
        dns.add_xmpp(A, self.a.ports["s2s"])
        # a.example offers XEP-0368 too: the Prosody peer prefers it.
        dns.records += [("SRV", "_xmpps-server._tcp." + A, A, self.a.ports["s2s-tls"], 0, 0)]
        self.pd_s2s, self.pd_tls = peers.free_port(), peers.free_port()
        dns.records += [("SRV", "_xmpps-server._tcp." + PD, PD, self.pd_tls, 5, 0),
                        ("SRV", "_xmpp-server._tcp." + PD, PD, self.pd_s2s, 10, 0),
                        ("A", PD, "127.0.0.1")]
        # prio.example: a dead target first (priority 10), the live one second (20).
        dns.records += [("SRV", "_xmpp-server._tcp." + PRIO, "dead." + PRIO, self.dead, 10, 0),
                        ("SRV", "_xmpp-server._tcp." + PRIO, PRIO, b_s2s, 20, 0),
                        ("A", "dead." + PRIO, "127.0.0.1"), ("A", PRIO, "127.0.0.1")]
        # weight.example: one priority, the dead target with weight 0, the live one
        # with 65535: RFC 2782 picks the dead one first 1 time in 65536. dnsmasq
        # answers in the reverse order of its config: the dead one comes first, so
        # taking the answer's order would fail.
        dns.records += [("SRV", "_xmpp-server._tcp." + WEIGHT, WEIGHT, b_s2s, 10, 65535),
                        ("SRV", "_xmpp-server._tcp." + WEIGHT, "dead." + WEIGHT, self.dead,
                         10, 0),
                        ("A", "dead." + WEIGHT, "127.0.0.1"), ("A", WEIGHT, "127.0.0.1")]
        # direct.example: XEP-0368 record preferred (priority 5) to the STARTTLS one.
        dns.records += [("SRV", "_xmpps-server._tcp." + DIRECT, DIRECT, b_tls, 5, 0),
                        ("SRV", "_xmpp-server._tcp." + DIRECT, DIRECT, b_s2s, 10, 0),
                        ("A", DIRECT, "127.0.0.1")]
        # fallback.example: no SRV at all, only an address.
        dns.records += [("A", FALLBACK, FALLBACK_ADDR)]
        dns.unavailable.append("_xmpp-server._tcp." + NOPE)
        dns.records += [("A", NOPE, "127.0.0.1")]   # must not be used
        dns.start()
        self.a.extra = s2s_section(dns, [PRIO, DIRECT, FALLBACK, WEIGHT, NOPE, GHOST],
                                   connect_timeout=6)
        self.a.extra += "    - {domain: %s, trust: dialback}\n" % PD
        self.b.extra = s2s_section(dns, [A])
        for s in (self.a, self.b):
            s.write_config()
            s.start()

    def stop(self):
        try:
            for s in (self.a, self.b):
                rc = s.stop()
                assert not s.sanitizer_reports(), s.log_path
                assert rc == 0, "yerbad exited %s (log %s)" % (rc, s.log_path)
        finally:
            self.dns.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("s2sdns"))
    yield w
    w.stop()


def links(server):
    out = server.ctl("s2s").stdout
    keys = ("dir", "local", "remote", "state", "auth", "tls", "peer", "stanzas", "queued")
    return [dict(zip(keys, line.split("\t"))) for line in out.splitlines() if line.strip()]


def out_link(server, remote):
    ls = [l for l in links(server) if l["dir"] == "out" and l["remote"] == remote]
    assert len(ls) == 1, links(server)
    return ls[0]


async def wait_log(server, text, timeout=5.0):
    """yerbad's log reaches the file through a reader thread: wait for a line."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in server.log_text():
        assert loop.time() < deadline, "%s lacks %r" % (server.log_path, text)
        await asyncio.sleep(0.1)


async def exchange(world, domain, tag):
    """A user on a.example and one on `domain` (served by b) talk both ways."""
    ca = await connect(world.a, world.a.new_account(domain=A), "a")
    cb = await connect(world.b, world.b.new_account(domain=domain), "b")
    ca.msg(cb.jid, "%s: a to b" % tag)
    m = await cb.message_with("%s: a to b" % tag, timeout=WAIT)
    assert m.frm == ca.jid
    cb.msg(ca.jid, "%s: b to a" % tag)
    await ca.message_with("%s: b to a" % tag, timeout=WAIT)
    return ca, cb


def log_lines(server, needle):
    return [l for l in server.log_text().splitlines() if needle in l]


async def test_srv_priority_dead_first_target(world):
    await exchange(world, PRIO, "prio")
    assert world.dns.queries_for("_xmpp-server._tcp." + PRIO) >= 1
    tries = log_lines(world.a, "connecting to %s (" % PRIO)
    # RFC 2782 order: the priority 10 target first, and it is dead; then 20.
    assert len(tries) == 2, tries
    assert "port %d)" % world.dead in tries[0], tries
    assert "port %d)" % world.b.ports["s2s"] in tries[1], tries
    assert log_lines(world.a, "connection to %s failed (connect)" % PRIO)
    link = out_link(world.a, PRIO)
    assert link["state"] == "ready" and link["auth"] == "EXTERNAL", link
    assert link["peer"] == "[127.0.0.1]:%d" % world.b.ports["s2s"], link


async def test_srv_weight(world):
    assert world.dns.query("_xmpp-server._tcp." + WEIGHT)[1][0][1] == 0   # dead first
    await exchange(world, WEIGHT, "weight")
    tries = log_lines(world.a, "connecting to %s (" % WEIGHT)
    assert len(tries) == 1 and "port %d)" % world.b.ports["s2s"] in tries[0], tries


async def test_xmpps_server_record_gives_direct_tls(world):
    await exchange(world, DIRECT, "direct")
    assert world.dns.queries_for("_xmpps-server._tcp." + DIRECT) >= 1
    tries = log_lines(world.a, "connecting to %s (" % DIRECT)
    assert len(tries) == 1 and "port %d, direct TLS)" % world.b.ports["s2s-tls"] in tries[0], \
        tries
    link = out_link(world.a, DIRECT)
    assert link["peer"] == "[127.0.0.1]:%d" % world.b.ports["s2s-tls"], link
    assert link["tls"].startswith("TLSv1."), link
    # b saw it arrive on its direct TLS listener, with ALPN xmpp-server (XEP-0368).
    assert any("on s2s-tls" in l for l in log_lines(world.b, "s2s-in#")), world.b.log_path
    assert any("alpn=xmpp-server" in l for l in log_lines(world.b, "TLS up")), world.b.log_path


async def test_no_srv_falls_back_to_a_record_on_5269(world):
    await exchange(world, FALLBACK, "fallback")
    # Both SRV names were asked (and answered NXDOMAIN), then the address.
    assert world.dns.queries_for("_xmpp-server._tcp." + FALLBACK) >= 1
    assert world.dns.queries_for("_xmpps-server._tcp." + FALLBACK) >= 1
    assert world.dns.queries_for(FALLBACK) >= 1
    tries = log_lines(world.a, "connecting to %s (" % FALLBACK)
    assert len(tries) == 1 and "(%s port 5269)" % FALLBACK_ADDR in tries[0], tries
    link = out_link(world.a, FALLBACK)
    assert link["peer"] == "[%s]:5269" % FALLBACK_ADDR and link["state"] == "ready", link


@pytest.mark.parametrize("domain,why", [
    (NOPE, "DNS: the domain offers no XMPP service"),
    (GHOST, "DNS: no such domain"),
])
async def test_no_service_bounces_at_once(world, domain, why):
    ca = await connect(world.a, world.a.new_account(domain=A), "a")
    t0 = time.monotonic()
    ca.msg("someone@%s" % domain, "nobody home")
    err = await ca.messages.get(lambda s: s.type == "error", what="bounce", timeout=WAIT)
    took = time.monotonic() - t0
    assert err.error == "remote-server-not-found", err
    assert err.frm == "someone@%s" % domain
    assert took < 3.0, "bounce took %.1fs" % took
    await wait_log(world.a, why)
    # Nothing was tried: nope.example's A record is not a fallback after a '.'.
    assert not log_lines(world.a, "connecting to %s" % domain)
    # The server carries on: a link found by DNS still works.
    r = await ca.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=PRIO)
    assert r.type == "result", r


async def test_dns_server_silent(tmp_path):
    # A resolver pointed at a DNS server that never answers (a UDP socket we hold
    # and never read): the stanza bounces with remote-server-timeout within the
    # configured bound, and the server stays responsive meanwhile.
    import socket
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    try:
        s = harness.Server(tmp_path / "silent", hosts=[{"domain": A}], s2s=True)
        s.extra = ("s2s:\n  dns_servers: \"127.0.0.1:%d\"\n  connect_timeout: 4\n"
                   % hole.getsockname()[1])
        s.write_config()
        s.start()
        try:
            ca = await connect(s, s.new_account(domain=A), "a")
            t0 = time.monotonic()
            ca.msg("someone@" + PRIO, "into the silence")
            r = await ca.iq("<ping xmlns='urn:xmpp:ping'/>", to=A)
            assert r.type == "result" and time.monotonic() - t0 < 2.0
            err = await ca.messages.get(lambda m: m.type == "error", what="bounce",
                                        timeout=WAIT)
            took = time.monotonic() - t0
            assert err.error == "remote-server-timeout", err
            assert 1.0 < took < 7.0, took
            await slixclient.close_all()
        finally:
            rc = s.stop()
            assert rc == 0 and not s.sanitizer_reports(), s.log_path
    finally:
        hole.close()


async def test_direct_tls_both_ways_with_prosody(world, tmp_path):
    # Prosody 0.12 with an s2s direct TLS port: both servers find each other's
    # _xmpps-server record first and connect with TLS from the first byte.
    peer = DirectTlsProsody(tmp_path / "prosody", PD, s2s_port=world.pd_s2s, dns=world.dns,
                            log_level="debug")
    peer.direct_tls_port = world.pd_tls
    peer.start()
    try:
        ca = await connect(world.a, world.a.new_account(domain=A), "a")
        cb = await connect(peer, peer.adduser("bob", "pw-pd"), "p")
        ca.msg(cb.jid, "direct to prosody")
        await cb.message_with("direct to prosody", timeout=WAIT)
        cb.msg(ca.jid, "direct from prosody")
        await ca.message_with("direct from prosody", timeout=WAIT)
        tries = log_lines(world.a, "connecting to %s (" % PD)
        assert len(tries) == 1 and "port %d, direct TLS)" % world.pd_tls in tries[0], tries
        link = out_link(world.a, PD)
        assert link["state"] == "ready" and link["auth"] == "dialback", link
        # Prosody came in on a's direct TLS listener.
        ins = [l for l in log_lines(world.a, "connection from") if "on s2s-tls" in l]
        assert ins, world.a.log_path
        assert world.dns.queries_for("_xmpps-server._tcp." + A) >= 1
        await slixclient.close_all()
    finally:
        assert peer.stop() == 0
