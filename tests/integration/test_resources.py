# SPDX-License-Identifier: MIT
"""Resource binding (RFC 6120 §7): client-chosen and server-generated resources,
conflicts (replace the old session by default; refuse when configured), the
legacy <session/> request, and invalid resources."""
import pytest

from rawxmpp import NS_SESSION, stanza_error_condition, tostr
from slixclient import connect, exchange_works

pytestmark = pytest.mark.resources


async def test_conflict_replaces_old_session(server):
    me = server.new_account()
    old = await connect(server, me, "same")
    peer = await connect(server, server.new_account(), "peer")
    new = await connect(server, me, "same")
    await old.wait_disconnected()
    assert "conflict" in old.stream_errors, \
        "old session got %r instead of a <conflict/> stream error" % old.stream_errors
    assert new.jid == me.jid + "/same"
    await exchange_works(new, peer)


def test_server_generated_resource(server):
    me = server.new_account()
    jids = []
    for _ in range(2):
        c = server.raw()
        c.login(me.user, me.password, bind=False)
        jid, err = c.bind(None)
        assert jid, tostr(err)
        assert jid.startswith(me.jid + "/") and len(jid) > len(me.jid) + 1, jid
        jids.append(jid)
    assert jids[0] != jids[1], "two sessions got the same generated resource"


def test_legacy_session_request_answered(server):
    me = server.new_account()
    c = server.raw()
    c.login(me.user, me.password, resource="legacy")
    r = c.iq("<session xmlns='%s'/>" % NS_SESSION, type_="set")
    assert r.get("type") == "result", tostr(r)


def test_overlong_resource_rejected(server):
    me = server.new_account()
    c = server.raw()
    c.login(me.user, me.password, bind=False)
    jid, err = c.bind("r" * 1100)
    assert jid is None, "a 1100-byte resource was accepted (limit is 1023)"
    assert stanza_error_condition(err) in ("bad-request", "not-allowed"), tostr(err)
    # The stream is still usable: bind again properly.
    jid, err = c.bind("ok")
    assert jid == me.jid + "/ok", tostr(err) if err is not None else jid


async def test_conflict_refused_when_configured(make_server):
    srv = make_server("refuse", hosts=[
        {"domain": "localhost", "resource_conflict": "refuse"},
        {"domain": "example.net"},
    ])
    me = srv.new_account()
    old = await connect(srv, me, "same")
    peer = await connect(srv, srv.new_account(), "peer")

    c = srv.raw()
    c.login(me.user, me.password, bind=False)
    jid, err = c.bind("same")
    assert jid is None, "second bind of the same resource succeeded with 'refuse'"
    assert stanza_error_condition(err) == "conflict", tostr(err)
    jid, err = c.bind("other")
    assert jid == me.jid + "/other", "bind after a refused conflict failed: %r" % (err,)

    assert not old.stream_errors
    await exchange_works(old, peer)


async def test_stanzas_pipelined_behind_bind(server):
    # A client may send its next stanzas (the legacy session iq, initial presence, a
    # roster get) right behind the bind request, before the bind result is back.
    acct = server.new_account()
    c = server.raw()
    c.login(acct.user, acct.password, bind=False)
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>piped</resource></bind></iq>"
           "<iq type='set' id='s1'><session xmlns='%s'/></iq>"
           "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
           "<presence/>" % NS_SESSION)
    got = {}
    for _ in range(3):
        el = c.expect(lambda e: e.get("id") in ("b1", "s1", "r1"), what="pipelined answers")
        got[el.get("id")] = el.get("type")
    assert got == {"b1": "result", "s1": "result", "r1": "result"}, got
    assert c.roster_alive()
