# SPDX-License-Identifier: MIT
"""XEP-0191 Blocking Command: the blocklist, block and unblock (one, several, all)
with pushes to the resources that asked for the list, enforcement (messages and
iqs from a blocked JID get service-unavailable, its presence is dropped, the
user's own stanzas to it get not-acceptable with <blocked/>, presence hidden both
ways and restored on unblock), JID matching (bare, full, domain), the error cases,
and persistence across a restart."""
from rawxmpp import q
from slixclient import Client, bare, connect, make_friends

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"


def items_xml(*jids):
    return "".join("<item jid='%s'/>" % j for j in jids)


async def block(c, *jids):
    r = await c.iq("<block xmlns='%s'>%s</block>" % (NS_BLOCKING, items_xml(*jids)), itype="set")
    assert r.type == "result", r
    return r


async def unblock(c, *jids):
    r = await c.iq("<unblock xmlns='%s'>%s</unblock>" % (NS_BLOCKING, items_xml(*jids)),
                   itype="set")
    assert r.type == "result", r
    return r


async def blocklist(c):
    r = await c.iq("<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.type == "result", r
    bl = r.xml.find(q("blocklist", NS_BLOCKING))
    assert bl is not None, r
    return sorted(i.get("jid") for i in bl.findall(q("item", NS_BLOCKING)))


def push_pred(kind, jids):
    def match(s):
        el = s.xml.find(q(kind, NS_BLOCKING))
        return (s.type == "set" and el is not None and
                sorted(i.get("jid") for i in el.findall(q("item", NS_BLOCKING))) == sorted(jids))
    return match


def is_blocked_error(s):
    err = s.xml.find(q("error"))
    return (s.type == "error" and s.error == "not-acceptable" and err is not None and
            err.find(q("blocked", NS_BLOCKING_ERRORS)) is not None)


async def test_blocklist_with_slixmpp_plugin(server):
    me, x, y = server.new_account(), server.new_account(), server.new_account()
    c = Client(server, me)
    c.register_plugin("xep_0191")
    await c.login()
    res = await c["xep_0191"].get_blocked()
    assert res["blocklist"]["items"] == set()
    await c["xep_0191"].block([x.jid, y.jid])
    res = await c["xep_0191"].get_blocked()
    assert {str(j) for j in res["blocklist"]["items"]} == {x.jid, y.jid}
    await c["xep_0191"].unblock(x.jid)
    res = await c["xep_0191"].get_blocked()
    assert {str(j) for j in res["blocklist"]["items"]} == {y.jid}


async def test_pushes_go_to_resources_that_asked(server):
    me, foe1, foe2 = server.new_account(), server.new_account(), server.new_account()
    r1 = await connect(server, me, "r1")
    r2 = await connect(server, me, "r2")
    r3 = await connect(server, me, "r3")  # never asks for the blocklist
    assert await blocklist(r1) == []
    assert await blocklist(r2) == []
    await block(r1, foe1.jid, foe2.jid)
    for c in (r1, r2):
        p = await c.iqs.get(push_pred("block", [foe1.jid, foe2.jid]), what="block push")
        assert p.frm in ("", me.jid), p
    await unblock(r2, foe1.jid)
    for c in (r1, r2):
        await c.iqs.get(push_pred("unblock", [foe1.jid]), what="unblock push")
    await r3.iqs.none(lambda s: s.xml.find(q("block", NS_BLOCKING)) is not None or
                      s.xml.find(q("unblock", NS_BLOCKING)) is not None)
    assert await blocklist(r3) == [foe2.jid]


async def test_messages_both_ways(server):
    me, foe = server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    b = await connect(server, foe, "b")
    await block(a, foe.jid)
    # From the blocked JID: service-unavailable, nothing delivered (§3.3).
    b.msg(me.jid, "let me in")
    err = await b.messages.get(lambda s: s.type == "error", what="error")
    assert err.error == "service-unavailable" and bare(err.frm) == me.jid, err
    b.msg(a.jid, "to the full JID")
    err = await b.messages.get(lambda s: s.type == "error", what="error")
    assert err.error == "service-unavailable", err
    # To the blocked JID: not-acceptable with <blocked/>, not routed.
    a.msg(foe.jid, "can you hear me")
    err = await a.messages.get(lambda s: s.type == "error", what="blocked error")
    assert is_blocked_error(err), err
    assert err.frm == foe.jid
    r = await a.iq("<vCard xmlns='vcard-temp'/>", to=foe.jid)
    assert is_blocked_error(r), r
    await a.messages.none(lambda s: s.body in ("let me in", "to the full JID"))
    await b.messages.none(lambda s: s.body == "can you hear me")
    # Unblocked: both ways again.
    await unblock(a, foe.jid)
    b.msg(me.jid, "hello again")
    await a.message_with("hello again")
    a.msg(foe.jid, "welcome back")
    await b.message_with("welcome back")


async def test_iq_from_blocked_jid(server):
    me, foe = server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    b = await connect(server, foe, "b")
    assert (await a.iq("<vCard xmlns='vcard-temp'><FN>Me</FN></vCard>", itype="set")).type \
        == "result"
    assert (await b.iq("<vCard xmlns='vcard-temp'/>", to=me.jid)).type == "result"
    await block(a, foe.jid)
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to=me.jid)
    assert r.type == "error" and r.error == "service-unavailable", r
    r = await b.iq("<query xmlns='jabber:iq:version'/>", to=a.jid)
    assert r.type == "error" and r.error == "service-unavailable", r
    await a.iqs.none(lambda s: s.frm.startswith(foe.jid))


async def test_presence_hidden_both_ways_and_restored(server):
    me, friend = server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    b = await connect(server, friend, "b")
    await make_friends(a, b)
    a.send_presence_now(status="here")
    await b.presences.get(lambda s: s.frm == a.jid and s.status == "here")
    b.send_presence_now(status="there")
    await a.presences.get(lambda s: s.frm == b.jid and s.status == "there")
    a.presences.clear()
    b.presences.clear()

    await block(a, friend.jid)
    # §3.3: the blocked contact sees the user go offline, and the user's resources
    # see the blocked contact go offline.
    await b.presence_from(a.jid, "unavailable")
    await a.presence_from(b.jid, "unavailable")
    a.send_presence_now(status="still here")
    b.send_presence_now(status="still there")
    await b.presences.none(lambda s: bare(s.frm) == me.jid)
    await a.presences.none(lambda s: bare(s.frm) == friend.jid)
    # Subscription requests and probes from the blocked contact are dropped silently.
    b.send_presence_now(to=me.jid, ptype="subscribe")
    await a.presences.none(lambda s: bare(s.frm) == friend.jid)
    await b.presences.none(lambda s: s.type == "error")

    await unblock(a, friend.jid)
    p = await b.presence_from(a.jid)
    assert p.type == "available" and p.status == "still here", p
    p = await a.presence_from(b.jid)
    assert p.type == "available" and p.status == "still there", p


async def test_new_session_of_blocked_contact_sees_user_offline(server):
    me, friend = server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    b = await connect(server, friend, "b")
    await make_friends(a, b)
    await block(a, friend.jid)
    b2 = await connect(server, friend, "b2")
    await b2.presences.none(lambda s: bare(s.frm) == me.jid and s.type == "available")
    a2 = await connect(server, me, "a2")
    await a2.presences.none(lambda s: bare(s.frm) == friend.jid and s.type == "available")


async def test_unblock_all(server):
    me, x, y = server.new_account(), server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    bx = await connect(server, x, "x")
    await blocklist(a)
    await block(a, x.jid, y.jid, "example.org")
    await a.iqs.get(push_pred("block", [x.jid, y.jid, "example.org"]))
    await unblock(a)
    p = await a.iqs.get(push_pred("unblock", []), what="unblock-all push")
    assert len(p.xml.find(q("unblock", NS_BLOCKING))) == 0
    assert await blocklist(a) == []
    bx.msg(me.jid, "free again")
    await a.message_with("free again")


async def test_matching_full_jid_and_domain(server):
    me, foe = server.new_account(), server.new_account()
    remote = server.new_account(domain="example.net")
    a = await connect(server, me, "a")
    f1 = await connect(server, foe, "one")
    f2 = await connect(server, foe, "two")
    r = await connect(server, remote, "r")
    await block(a, f1.jid, "example.net")
    assert await blocklist(a) == sorted([f1.jid, "example.net"])
    f1.msg(me.jid, "from one")
    err = await f1.messages.get(lambda s: s.type == "error", what="error")
    assert err.error == "service-unavailable", err
    f2.msg(me.jid, "from two")
    await a.message_with("from two")
    r.msg(me.jid, "from the blocked domain")
    err = await r.messages.get(lambda s: s.type == "error", what="error")
    assert err.error == "service-unavailable", err
    a.msg(remote.jid, "to the blocked domain")
    err = await a.messages.get(lambda s: s.type == "error", what="blocked error")
    assert is_blocked_error(err), err
    await a.messages.none(lambda s: s.body in ("from one", "from the blocked domain"))


async def test_own_resources_never_blocked(server):
    me = server.new_account()
    a = await connect(server, me, "a")
    a2 = await connect(server, me, "a2")
    await block(a, me.jid, "localhost")
    a.msg(a2.jid, "to myself")
    await a2.message_with("to myself")
    await unblock(a)


async def test_errors(server):
    me, other = server.new_account(), server.new_account()
    a = await connect(server, me, "a")
    b = await connect(server, other, "b")
    r = await a.iq("<block xmlns='%s'/>" % NS_BLOCKING, itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    r = await a.iq("<block xmlns='%s'><item/></block>" % NS_BLOCKING, itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    r = await a.iq("<block xmlns='%s'><thing jid='x@localhost'/></block>" % NS_BLOCKING,
                   itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    r = await a.iq("<block xmlns='%s'><item jid='nobody@'/></block>" % NS_BLOCKING, itype="set")
    assert r.type == "error" and r.error == "jid-malformed", r
    r = await a.iq("<unblock xmlns='%s'><item jid='@x'/></unblock>" % NS_BLOCKING, itype="set")
    assert r.type == "error" and r.error == "jid-malformed", r
    assert await blocklist(a) == []
    # Someone else's blocklist.
    r = await b.iq("<blocklist xmlns='%s'/>" % NS_BLOCKING, to=me.jid)
    assert r.type == "error" and r.error == "forbidden", r
    r = await b.iq("<block xmlns='%s'>%s</block>" % (NS_BLOCKING, items_xml(other.jid)),
                   itype="set", to=me.jid)
    assert r.type == "error" and r.error == "forbidden", r
    # Wrong type.
    r = await a.iq("<blocklist xmlns='%s'/>" % NS_BLOCKING, itype="set")
    assert r.type == "error" and r.error in ("service-unavailable", "bad-request"), r
    assert await blocklist(a) == []


async def test_blocklist_survives_restart(fresh_server):
    srv = fresh_server
    me, foe = srv.new_account(), srv.new_account()
    a = await connect(srv, me, "a")
    await block(a, foe.jid)
    await a.close()
    srv.restart()
    # The blocker is offline and not loaded: the block still holds and the message
    # is refused, not stored offline.
    b = await connect(srv, foe, "b")
    b.msg(me.jid, "while you were away")
    err = await b.messages.get(lambda s: s.type == "error", what="error")
    assert err.error == "service-unavailable", err
    a = await connect(srv, me, "a2")
    assert await blocklist(a) == [foe.jid]
    await a.messages.none(lambda s: s.body == "while you were away")
    a.msg(foe.jid, "hi")
    err = await a.messages.get(lambda s: s.type == "error", what="blocked error")
    assert is_blocked_error(err), err


async def test_disco_feature(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to="localhost")
    feats = {f.get("var") for f in r.xml.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert NS_BLOCKING in feats
