# SPDX-License-Identifier: MIT
"""XMPP Ping (XEP-0199): pings to the server, to bare JIDs and through to full
JIDs; and the server's keepalive pings (§4.1): a client that does not answer is
closed with connection-timeout, one that answers stays."""
import asyncio
import time

from rawxmpp import NS_CLIENT, q, stanza_error_condition
from slixclient import connect

NS_PING = "urn:xmpp:ping"
PING = "<ping xmlns='%s'/>" % NS_PING


def is_server_ping(el):
    return (el.tag == q("iq") and el.get("type") == "get"
            and el.find(q("ping", NS_PING)) is not None)


async def test_ping_server(server):
    c = await connect(server, server.new_account())
    r = await c.iq(PING, to="localhost")
    assert r.type == "result" and r.frm == "localhost", r
    assert len(r.xml) == 0, "the pong is an empty result (§4.2)"
    r = await c.iq(PING, to="example.net")
    assert r.type == "result" and r.frm == "example.net", r


async def test_ping_with_slixmpp_plugin(server):
    c = await connect(server, server.new_account())
    c.register_plugin("xep_0199")
    rtt = await c["xep_0199"].ping(jid="localhost", timeout=5)
    assert rtt is not None and rtt >= 0


async def test_ping_bare_jids(server):
    a = await connect(server, server.new_account(), "a")
    b_account = server.new_account()
    r = await a.iq(PING, to=a.bare)
    assert r.type == "result" and r.frm == a.bare, r
    r = await a.iq(PING)  # no 'to': the account itself
    assert r.type == "result", r
    # Another existing account, online or not: the server answers for it.
    r = await a.iq(PING, to=b_account.jid)
    assert r.type == "result" and r.frm == b_account.jid, r
    r = await a.iq(PING, to="nobody-at-all@localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


async def test_ping_full_jid_reaches_client(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    r = await a.iq(PING, to=b.jid)
    # The server does not answer for a full JID: the client does (here the test
    # client's default answer, an error), §4.4.
    assert r.frm == b.jid, r
    got = await b.iqs.get(lambda s: s.xml.find(q("ping", NS_PING)) is not None,
                          what="the ping at b")
    assert got.frm == a.jid


async def test_ping_set_is_refused(server):
    c = await connect(server, server.new_account())
    r = await c.iq(PING, itype="set", to="localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


# --- keepalive ----------------------------------------------------------------

def login_raw(server, account):
    raw = server.raw()
    raw.login(account.user, account.password)
    return raw


def test_silent_client_is_closed(make_server):
    s = make_server(c2s={"ping_interval": 1, "ping_timeout": 1})
    raw = login_raw(s, s.new_account())
    t0 = time.monotonic()
    el = raw.expect(is_server_ping, timeout=5, what="a ping from the server")
    assert el.get("from") == "localhost" and el.get("to") == raw.jid, el.attrib
    cond = raw.expect_stream_error(timeout=5)
    assert cond == "connection-timeout", cond
    assert time.monotonic() - t0 < 6
    assert raw.wait_closed(timeout=5)


def test_answering_client_stays(make_server):
    s = make_server(c2s={"ping_interval": 1, "ping_timeout": 1})
    raw = login_raw(s, s.new_account())
    answered = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            el = raw.next(timeout=max(0.1, deadline - time.monotonic()))
        except AssertionError:
            break
        assert el.tag != "{http://etherx.jabber.org/streams}error", "closed: %s" % el
        if is_server_ping(el):
            raw.send("<iq type='result' id='%s' to='%s'/>" % (el.get("id"), el.get("from")))
            answered += 1
    assert answered >= 2, "expected a ping about every second, got %d" % answered
    assert raw.roster_alive(timeout=5)


def test_error_reply_counts_as_answer(make_server):
    s = make_server(c2s={"ping_interval": 1, "ping_timeout": 2})
    raw = login_raw(s, s.new_account())
    el = raw.expect(is_server_ping, timeout=5, what="a ping from the server")
    # A client without XEP-0199 answers service-unavailable (§4.1): still alive.
    raw.send("<iq type='error' id='%s' to='%s'><ping xmlns='%s'/><error type='cancel'>"
             "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
             % (el.get("id"), el.get("from"), NS_PING))
    el2 = raw.expect(is_server_ping, timeout=5, what="the next ping")
    assert el2.get("id") != el.get("id")
    raw.send("<iq type='result' id='%s' to='%s'/>" % (el2.get("id"), el2.get("from")))
    assert raw.roster_alive(timeout=5)


async def test_slixmpp_client_answers_and_stays(make_server):
    s = make_server(c2s={"ping_interval": 1, "ping_timeout": 1})
    a = await connect(s, s.new_account(), "a")
    a.register_plugin("xep_0199")
    await asyncio.sleep(4)
    assert a.is_connected and not a.stream_errors, a.stream_errors
    r = await a.iq(PING, to="localhost")
    assert r.type == "result"


def test_no_keepalive_when_disabled(make_server):
    s = make_server(c2s={"ping_interval": 0})
    raw = login_raw(s, s.new_account())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            el = raw.next(timeout=max(0.1, deadline - time.monotonic()))
        except AssertionError:
            break
        assert not is_server_ping(el), "pinged although ping_interval is 0"
    assert raw.roster_alive(timeout=5)


def test_default_interval_does_not_ping_active_clients(server):
    raw = login_raw(server, server.new_account())
    for _ in range(3):
        assert raw.roster_alive(timeout=5)
    el = raw.iq(PING, to="localhost")
    assert el.get("type") == "result" and stanza_error_condition(el) is None
    assert el.tag == q("iq", NS_CLIENT)
