# SPDX-License-Identifier: MIT
"""External components (XEP-0114) and gateway traffic through them (XEP-0100).

A real component library (slixmpp's ComponentXMPP) connects to yerbad's component
listener; raw sockets play the components that misbehave (wrong secret, unknown
domain, a second connection, a spoofed 'from'). Users are ordinary slixmpp clients.
"""
import asyncio
import copy
import hashlib
import subprocess
import time

import pytest
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import harness
import rawxmpp
from rawxmpp import StreamClosed, stanza_error_condition, stream_error_condition
from slixclient import Inbox, Stanza, bare, connect

NS_COMP = "jabber:component:accept"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NS_GATEWAY = "jabber:iq:gateway"
NS_REGISTER = "jabber:iq:register"

GW = "gw.localhost"          # connected by most tests
OFF = "off.localhost"        # configured, never connected
SPARE = "spare.localhost"    # used by raw-socket tests, so GW's state is untouched
SECRETS = {GW: "gw-secret", OFF: "off-secret", SPARE: "spare secret & <ok>"}


class ComponentServer(harness.Server):
    """harness.Server plus a component listener on a free loopback port and the
    components: section."""

    def __init__(self, workdir, **kw):
        self.component_port = harness.free_port()
        super().__init__(workdir, **kw)

    def config_text(self, extra_hosts=()):
        text = super().config_text(extra_hosts)
        text = text.replace("listeners:\n", "listeners:\n  - {type: component, port: %d}\n"
                            % self.component_port, 1)
        text += "components:\n"
        for d, s in SECRETS.items():
            text += "  - domain: %s\n    secret: %s\n" % (d, harness._yaml_scalar(s))
        return text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ComponentServer(tmp_path_factory.mktemp("component"))
    s.start()
    yield s
    from conftest import _finish
    _finish(s)


def as_client(xml):
    """A copy of a stanza the component received, with jabber:component:accept read
    as jabber:client, so slixclient.Stanza's helpers (body, status, ...) apply."""
    xml = copy.deepcopy(xml)
    for el in xml.iter():
        if el.tag.startswith("{%s}" % NS_COMP):
            el.tag = "{jabber:client}" + el.tag.split("}", 1)[1]
    return Stanza(xml)


_live_components = []


def wait_state(server, domain, state, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        row = ctl_components(server)[domain]
        if row[1] == state:
            return row
        assert time.monotonic() < deadline, "%s still %s after %.0fs" % (domain, row[1], timeout)
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _components_gone(server):
    """Each test starts with no component connected, whatever the last one left."""
    yield
    for c in _live_components:
        if c.transport is not None:
            c.abort()
    _live_components.clear()
    rawxmpp.close_all()
    for d in SECRETS:
        wait_state(server, d, "disconnected")


class Component(slixmpp.ComponentXMPP):
    """A slixmpp component recording what it receives."""

    def __init__(self, server, domain=GW, secret=None):
        super().__init__(domain, SECRETS[domain] if secret is None else secret,
                         "127.0.0.1", server.component_port)
        _live_components.append(self)
        self.messages = Inbox("%s messages" % domain)
        self.presences = Inbox("%s presences" % domain)
        self.iqs = Inbox("%s iqs" % domain)
        self.stream_errors = []
        self.started = asyncio.get_running_loop().create_future()
        self.gone = asyncio.Event()
        for kind, box in (("message", self.messages), ("presence", self.presences)):
            self.register_handler(Callback("t-" + kind, MatchXPath("{%s}%s" % (NS_COMP, kind)),
                                           lambda s, box=box: box.put(as_client(s.xml))))
        self.register_handler(Callback("t-iq", MatchXPath("{%s}iq" % NS_COMP), self._on_iq))
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("stream_error", lambda s: self.stream_errors.append(s["condition"]))
        self.add_event_handler("disconnected", lambda _: self.gone.set())

    def _on_iq(self, s):
        if s.xml.get("type") in ("get", "set"):
            self.iqs.put(as_client(s.xml))

    def _on_start(self, _):
        if not self.started.done():
            self.started.set_result(True)

    async def get_dns_records(self, domain, port=None):
        return [(domain, "127.0.0.1", self.server_port)]

    async def start(self, timeout=10):
        self.connect()
        await asyncio.wait_for(self.started, timeout)
        return self

    def send_xml(self, text):
        self.send_raw(text)

    async def stop(self):
        self.disconnect()
        await asyncio.wait_for(self.gone.wait(), 5)


def raw_component(server, domain, timeout=5):
    """A raw jabber:component:accept stream to `domain`; returns (conn, header)."""
    c = rawxmpp.RawXMPP("127.0.0.1", server.component_port, timeout=timeout)
    c.send(rawxmpp.stream_header(to=domain, version=None, xmlns=NS_COMP))
    return c, c.read_header()


def handshake(stream_id, secret):
    return "<handshake>%s</handshake>" % hashlib.sha1((stream_id + secret).encode()).hexdigest()


def read_stream_error(c):
    """The condition of the stream error that ends c's stream."""
    try:
        while True:
            el = c.next()
            cond = stream_error_condition(el)
            if cond:
                break
    except StreamClosed:
        raise AssertionError("stream closed without a stream error")
    with pytest.raises(StreamClosed):
        c.next(3)
    return cond


def ctl_components(server):
    rows = {}
    for line in server.ctl("components").stdout.splitlines():
        f = line.split("\t")
        assert len(f) == 5, line
        rows[f[0]] = f
    return rows


# --- the handshake ----------------------------------------------------------


def test_handshake_protocol(server):
    c, hdr = raw_component(server, SPARE)
    assert hdr.get("from") == SPARE
    assert hdr.get("id")
    assert c.stream_tag == "{%s}stream" % rawxmpp.NS_STREAM
    c.send(handshake(hdr["id"], SECRETS[SPARE]))
    el = c.next()
    assert el.tag == "{%s}handshake" % NS_COMP and not (el.text or "").strip() and len(el) == 0
    assert ctl_components(server)[SPARE][1] == "connected"
    c.send("</stream:stream>")
    with pytest.raises(StreamClosed):
        c.next()
    wait_state(server, SPARE, "disconnected")


def test_wrong_secret_not_authorized(server):
    c, hdr = raw_component(server, SPARE)
    c.send(handshake(hdr["id"], "not the secret"))
    assert read_stream_error(c) == "not-authorized"
    # A digest of the right secret but another stream's id is no better.
    c2, hdr2 = raw_component(server, SPARE)
    c2.send(handshake(hdr["id"], SECRETS[SPARE]))
    assert read_stream_error(c2) == "not-authorized"


def test_stanza_before_handshake_not_authorized(server):
    c, hdr = raw_component(server, SPARE)
    c.send("<message from='x@%s' to='admin@localhost'><body>early</body></message>" % SPARE)
    assert read_stream_error(c) == "not-authorized"


@pytest.mark.parametrize("domain", ["nope.localhost", "localhost"])
def test_unknown_domain_host_unknown(server, domain):
    c, hdr = raw_component(server, domain)
    assert read_stream_error(c) == "host-unknown"


def test_client_namespace_refused(server):
    c = rawxmpp.RawXMPP("127.0.0.1", server.component_port, timeout=5)
    c.send(rawxmpp.stream_header(to=SPARE, version="1.0"))
    c.read_header()
    assert read_stream_error(c) == "invalid-namespace"


async def test_second_connection_conflict(server):
    comp = await Component(server).start()
    c, hdr = raw_component(server, GW)
    c.send(handshake(hdr["id"], SECRETS[GW]))
    assert read_stream_error(c) == "conflict"
    # The first connection keeps the domain.
    user = await connect(server, server.new_account())
    user.msg("bot@" + GW, "still mine")
    m = await comp.messages.get(lambda s: s.body == "still mine")
    assert m.frm == user.jid
    await comp.stop()


# --- routing ----------------------------------------------------------------


async def test_messages_both_ways(server):
    comp = await Component(server).start()
    user = await connect(server, server.new_account())
    user.msg("bot@" + GW, "hello gateway")
    m = await comp.messages.get(lambda s: s.body == "hello gateway")
    assert m.frm == user.jid and m.to == "bot@" + GW
    comp.send_xml("<message from='bot@%s/r' to='%s' type='chat'><body>hello user</body>"
                  "</message>" % (GW, user.jid))
    got = await user.message_with("hello user")
    assert got.frm == "bot@%s/r" % GW
    # To the bare JID of the user, as a gateway contact would send it.
    comp.send_xml("<message from='%s' to='%s' type='chat'><body>to bare</body></message>"
                  % (GW, user.bare))
    got = await user.message_with("to bare")
    assert got.frm == GW
    await comp.stop()


async def test_iq_to_component_and_reply(server):
    comp = await Component(server).start()
    user = await connect(server, server.new_account())
    task = asyncio.ensure_future(user.iq("<query xmlns='urn:example:echo'/>", to=GW))
    req = await comp.iqs.get(lambda s: s.xml.find("{%s}query" % "urn:example:echo") is not None)
    assert req.frm == user.jid and req.type == "get"
    comp.send_xml("<iq type='result' id='%s' from='%s' to='%s'><query xmlns='urn:example:echo'>"
                  "<answer>42</answer></query></iq>" % (req.id, GW, req.frm))
    resp = await task
    assert resp.type == "result" and resp.frm == GW
    assert resp.xml.find("{urn:example:echo}query/{urn:example:echo}answer").text == "42"
    await comp.stop()


async def test_component_asks_server_and_user(server):
    """The component's own iqs reach the server (disco of the host) and are answered."""
    comp = await Component(server).start()
    comp.send_xml("<iq type='get' id='d1' from='%s' to='localhost'>"
                  "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" % GW)
    fut = asyncio.get_running_loop().create_future()
    comp.register_handler(Callback("t-d1", MatchXPath("{%s}iq" % NS_COMP),
                                   lambda s: s["id"] == "d1" and not fut.done()
                                   and fut.set_result(as_client(s.xml))))
    r = await asyncio.wait_for(fut, 5)
    assert r.type == "result" and r.frm == "localhost" and r.to == GW
    await comp.stop()


async def test_xep0100_gateway_and_register(server):
    comp = await Component(server).start()
    user = await connect(server, server.new_account())
    # jabber:iq:gateway (XEP-0100 §6.3): get the prompt, then translate an address.
    t = asyncio.ensure_future(user.iq("<query xmlns='%s'/>" % NS_GATEWAY, to=GW))
    req = await comp.iqs.get(lambda s: s.xml.find("{%s}query" % NS_GATEWAY) is not None)
    comp.send_xml("<iq type='result' id='%s' from='%s' to='%s'><query xmlns='%s'>"
                  "<desc>Enter the nick</desc><prompt>Nick</prompt></query></iq>"
                  % (req.id, GW, req.frm, NS_GATEWAY))
    r = await t
    assert r.type == "result"
    assert r.xml.find("{%s}query/{%s}prompt" % (NS_GATEWAY, NS_GATEWAY)).text == "Nick"
    t = asyncio.ensure_future(user.iq("<query xmlns='%s'><prompt>alice</prompt></query>"
                                      % NS_GATEWAY, itype="set", to=GW))
    req = await comp.iqs.get(lambda s: s.xml.find("{%s}query" % NS_GATEWAY) is not None)
    assert req.type == "set"
    assert req.xml.find("{%s}query/{%s}prompt" % (NS_GATEWAY, NS_GATEWAY)).text == "alice"
    comp.send_xml("<iq type='result' id='%s' from='%s' to='%s'><query xmlns='%s'>"
                  "<jid>alice@%s</jid></query></iq>" % (req.id, GW, req.frm, NS_GATEWAY, GW))
    r = await t
    assert r.xml.find("{%s}query/{%s}jid" % (NS_GATEWAY, NS_GATEWAY)).text == "alice@" + GW
    # Registration with the gateway (XEP-0100 §4.1, XEP-0077): form, then submit.
    t = asyncio.ensure_future(user.iq("<query xmlns='%s'/>" % NS_REGISTER, to=GW))
    req = await comp.iqs.get(lambda s: s.xml.find("{%s}query" % NS_REGISTER) is not None)
    comp.send_xml("<iq type='result' id='%s' from='%s' to='%s'><query xmlns='%s'>"
                  "<instructions>Your legacy account</instructions><username/><password/>"
                  "</query></iq>" % (req.id, GW, req.frm, NS_REGISTER))
    r = await t
    assert r.xml.find("{%s}query/{%s}username" % (NS_REGISTER, NS_REGISTER)) is not None
    t = asyncio.ensure_future(user.iq("<query xmlns='%s'><username>legacy</username>"
                                      "<password>pw</password></query>" % NS_REGISTER,
                                      itype="set", to=GW))
    req = await comp.iqs.get(lambda s: s.xml.find("{%s}query" % NS_REGISTER) is not None)
    assert req.type == "set" and req.frm == user.jid
    assert req.xml.find("{%s}query/{%s}username" % (NS_REGISTER, NS_REGISTER)).text == "legacy"
    comp.send_xml("<iq type='result' id='%s' from='%s' to='%s'/>" % (req.id, GW, req.frm))
    assert (await t).type == "result"
    # The gateway then asks to subscribe to the user (XEP-0100 §4.1.1 step 7).
    comp.send_xml("<presence type='subscribe' from='%s' to='%s'/>" % (GW, user.bare))
    await user.presences.get(lambda s: s.type == "subscribe" and s.frm == GW)
    await comp.stop()


async def test_presence_subscription_with_gateway(server):
    comp = await Component(server).start()
    user = await connect(server, server.new_account())
    user.send_presence_now(to=GW, ptype="subscribe")
    sub = await comp.presences.get(lambda s: s.type == "subscribe")
    assert bare(sub.frm) == user.bare and sub.to == GW
    await user.push_for(GW, lambda i: i.get("ask") == "subscribe")
    comp.send_xml("<presence type='subscribed' from='%s' to='%s'/>" % (GW, user.bare))
    await user.push_for(GW, lambda i: i["subscription"] == "to")
    comp.send_xml("<presence from='%s' to='%s'><status>online</status></presence>"
                  % (GW, user.bare))
    p = await user.presence_from(GW, "available")
    assert p.status == "online"
    # Directed presence from the user reaches the component too.
    user.send_presence_now(to="bot@" + GW, status="directed")
    d = await comp.presences.get(lambda s: s.to == "bot@" + GW)
    assert d.frm == user.jid and d.status == "directed"
    await comp.stop()


async def test_invalid_from_refused(server):
    user = await connect(server, server.new_account())
    c, hdr = raw_component(server, SPARE)
    c.send(handshake(hdr["id"], SECRETS[SPARE]))
    assert c.next().tag == "{%s}handshake" % NS_COMP
    c.send("<message from='admin@localhost' to='%s' type='chat'><body>spoofed</body></message>"
           % user.jid)
    assert read_stream_error(c) == "invalid-from"
    wait_state(server, SPARE, "disconnected")
    # A subdomain of the component's domain is not its domain either.
    c, hdr = raw_component(server, SPARE)
    c.send(handshake(hdr["id"], SECRETS[SPARE]))
    assert c.next().tag == "{%s}handshake" % NS_COMP
    c.send("<message from='x.%s' to='%s' type='chat'><body>sub</body></message>"
           % (SPARE, user.jid))
    assert read_stream_error(c) == "invalid-from"
    wait_state(server, SPARE, "disconnected")
    c, hdr = raw_component(server, SPARE)
    c.send(handshake(hdr["id"], SECRETS[SPARE]))
    assert c.next().tag == "{%s}handshake" % NS_COMP
    c.send("<message to='%s' type='chat'><body>nofrom</body></message>" % user.jid)
    assert read_stream_error(c) == "improper-addressing"
    await user.messages.none(lambda s: s.body in ("spoofed", "sub", "nofrom"))


async def test_offline_component_service_unavailable(server):
    user = await connect(server, server.new_account())
    user.msg("someone@" + OFF, "anyone there?")
    err = await user.messages.get(lambda s: s.type == "error")
    assert err.frm == "someone@" + OFF
    assert stanza_error_condition(err.xml) == "service-unavailable"
    r = await user.iq("<query xmlns='%s'/>" % NS_GATEWAY, to=OFF)
    assert r.type == "error" and stanza_error_condition(r.xml) == "service-unavailable"
    # (s2s would have answered remote-server-not-found or -timeout.)


async def test_disco_items_list_components(server):
    user = await connect(server, server.new_account())
    r = await user.iq("<query xmlns='%s'/>" % NS_ITEMS, to="localhost")
    assert r.type == "result"
    jids = {i.get("jid") for i in r.xml.find("{%s}query" % NS_ITEMS)}
    assert {GW, OFF, SPARE} <= jids
    # Not under example.net, so not listed there.
    r = await user.iq("<query xmlns='%s'/>" % NS_ITEMS, to="example.net")
    jids = {i.get("jid") for i in r.xml.find("{%s}query" % NS_ITEMS)}
    assert GW not in jids


async def test_yerbactl_components_and_stats(server):
    comp = await Component(server).start()
    user = await connect(server, server.new_account())
    before = ctl_components(server)[GW]
    user.msg("bot@" + GW, "count me")
    await comp.messages.get(lambda s: s.body == "count me")
    comp.send_xml("<message from='%s' to='%s'><body>and me</body></message>" % (GW, user.jid))
    await user.message_with("and me")
    rows = ctl_components(server)
    assert rows[GW][1] == "connected"
    assert rows[GW][2].startswith("[127.0.0.1]:")
    assert int(rows[GW][3]) >= int(before[3]) + 1   # in: from the component
    assert int(rows[GW][4]) >= int(before[4]) + 1   # out: to the component
    assert rows[OFF][1:] == ["disconnected", "-", "0", "0"]
    stats = server.ctl("stats").stdout
    assert "components_connected: 1\n" in stats
    await comp.stop()
    wait_state(server, GW, "disconnected")
    assert "components_connected: 0\n" in server.ctl("stats").stdout


async def test_reconnect_after_disconnect(server):
    user = await connect(server, server.new_account())
    comp = await Component(server).start()
    comp.abort()  # abrupt: no stream close
    await asyncio.wait_for(comp.gone.wait(), 5)
    wait_state(server, GW, "disconnected")
    user.msg("bot@" + GW, "while down")
    err = await user.messages.get(lambda s: s.type == "error")
    assert stanza_error_condition(err.xml) == "service-unavailable"
    comp2 = await Component(server).start()
    user.msg("bot@" + GW, "back up")
    m = await comp2.messages.get(lambda s: s.body == "back up")
    assert m.frm == user.jid
    await comp2.stop()


# --- configuration ------------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    ("components:\n  - {domain: localhost, secret: x}\n", "component 'localhost' is also a host"),
    ("components:\n  - {domain: gw.localhost}\n", "secret"),
    ("components:\n  - {domain: gw.localhost, secret: ''}\n", "secret"),
    ("components:\n  - {domain: a.localhost, secret: x}\n  - {domain: A.localhost, secret: y}\n",
     "duplicate component 'a.localhost'"),
    ("listeners:\n  - {type: component, tls: direct}\n", "component listener"),
])
def test_config_refused(tmp_path, body, message):
    cfg = tmp_path / "y.yaml"
    cfg.write_text("hosts:\n  - domain: localhost\n" + body)
    p = subprocess.run([str(harness.YERBAD), "--check-config", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert message in p.stderr + p.stdout, p.stderr + p.stdout
