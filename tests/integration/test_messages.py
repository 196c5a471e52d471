# SPDX-License-Identifier: MIT
"""Message and iq routing (RFC 6121 §8.5, RFC 6120 §8): bare JID with resources
of different priorities, full JID, a full JID whose resource is gone, accounts
that don't exist, message types, and iqs the server answers on an account's
behalf."""
import asyncio

import pytest

from slixclient import connect

pytestmark = pytest.mark.messages


async def two_resources(server, prio_hi, prio_lo):
    me = server.new_account("rcpt")
    hi = await connect(server, me, "hi", priority=prio_hi)
    lo = await connect(server, me, "lo", priority=prio_lo)
    # Both initial presences must be processed before we route to the bare JID.
    await hi.presence_from(lo.jid, "available")
    sender = await connect(server, server.new_account("sender"), "s")
    return me, hi, lo, sender


async def test_bare_jid_goes_to_highest_priority_only(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    for mtype in ("chat", "normal"):
        body = "to bare (%s)" % mtype
        s.msg(me.jid, body, mtype)
        m = await hi.message_with(body)
        assert m.frm == s.jid and m.type == mtype
        await lo.messages.none(lambda x: x.body == body)


async def test_bare_jid_follows_priority_changes(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    lo.send_presence_now(priority=10)
    await hi.presence_from(lo.jid, "available")
    s.msg(me.jid, "now lo wins")
    await lo.message_with("now lo wins")
    await hi.messages.none(lambda x: x.body == "now lo wins")


async def test_bare_jid_equal_priority_reaches_all(server):
    """RFC 6121 §8.5.2.1.1 lets the server pick one or all of the highest
    priority; Yerba delivers to all of them."""
    me, r1, r2, s = await two_resources(server, 2, 2)
    s.msg(me.jid, "to both")
    await r1.message_with("to both")
    await r2.message_with("to both")


async def test_negative_priority_never_gets_bare_messages(server):
    me = server.new_account("neg")
    pos = await connect(server, me, "pos", priority=0)
    neg = await connect(server, me, "neg", priority=-1)
    await pos.presence_from(neg.jid, "available")
    s = await connect(server, server.new_account(), "s")
    s.msg(me.jid, "not for negative")
    await pos.message_with("not for negative")
    await neg.messages.none(lambda x: x.body == "not for negative")
    # Full JID still reaches it.
    s.msg(neg.jid, "direct to negative")
    await neg.message_with("direct to negative")


async def test_full_jid_goes_to_that_resource_only(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    s.msg(lo.jid, "for lo only")
    m = await lo.message_with("for lo only")
    assert m.to == lo.jid
    await hi.messages.none(lambda x: x.body == "for lo only")


async def test_unknown_resource_treated_as_bare(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    s.msg(me.jid + "/no-such-resource", "resource gone")
    await hi.message_with("resource gone")
    await lo.messages.none(lambda x: x.body == "resource gone")


async def test_headline_to_bare_reaches_all_non_negative(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    s.msg(me.jid, "news", "headline")
    await hi.message_with("news")
    await lo.message_with("news")


async def test_groupchat_to_bare_jid_is_an_error(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    s.msg(me.jid, "not a room", "groupchat")
    err = await s.messages.get(lambda x: x.type == "error", what="error for groupchat to a bare JID")
    assert err.error == "service-unavailable", err
    await hi.messages.none(lambda x: x.body == "not a room", wait=0.3)
    await lo.messages.none(lambda x: x.body == "not a room", wait=0.1)


@pytest.mark.parametrize("target", ["nosuchuser@localhost", "nosuchuser@localhost/res"])
async def test_message_to_nonexistent_account_is_service_unavailable(server, target):
    s = await connect(server, server.new_account(), "s")
    s.msg(target, "anyone there?")
    err = await s.messages.get(lambda x: x.type == "error", what="error for unknown account")
    assert err.error == "service-unavailable", err
    assert err.frm in (target, target.split("/")[0]), err


async def test_iq_to_nonexistent_account_is_service_unavailable(server):
    s = await connect(server, server.new_account(), "s")
    r = await s.iq("<query xmlns='jabber:iq:version'/>", to="nosuchuser@localhost/x")
    assert r.type == "error" and r.error == "service-unavailable", r


async def test_iq_unknown_namespace_to_server_is_service_unavailable(server):
    s = await connect(server, server.new_account(), "s")
    for itype in ("get", "set"):
        r = await s.iq("<query xmlns='urn:example:no-such-thing'/>", itype=itype, to="localhost")
        assert r.type == "error" and r.error == "service-unavailable", r
        # Without a 'to' the stanza is for the account itself (handled by the server).
        r = await s.iq("<query xmlns='urn:example:no-such-thing'/>", itype=itype)
        assert r.type == "error" and r.error == "service-unavailable", r


async def test_iq_to_contacts_bare_jid_answered_by_server(server):
    """RFC 6120 §10.5.4: an iq to an account's bare JID is handled by the server
    on the account's behalf; the account's resources never see it."""
    me, hi, lo, s = await two_resources(server, 5, 1)
    r = await s.iq("<query xmlns='urn:example:no-such-thing'/>", to=me.jid)
    assert r.type == "error" and r.error == "service-unavailable", r
    probe = "{urn:example:no-such-thing}query"
    await hi.iqs.none(lambda x: x.xml.find(probe) is not None, wait=0.3)
    await lo.iqs.none(lambda x: x.xml.find(probe) is not None, wait=0.1)


async def test_iq_to_full_jid_is_routed_and_answered(server):
    me, hi, lo, s = await two_resources(server, 5, 1)
    # slixmpp answers an iq it doesn't know with an error; what matters is that
    # the answer comes from the target resource, i.e. the iq was routed there.
    r = await s.iq("<query xmlns='urn:example:ask-the-client'/>", to=lo.jid)
    assert r.frm == lo.jid, r
    assert r.type == "error", r


async def test_spoofed_from_is_not_delivered(server):
    """RFC 6120 §8.1.2.1: the server stamps the sender's full JID (or answers a
    forged 'from' with an <invalid-from/> stream error); never delivers it."""
    me, hi, lo, s = await two_resources(server, 5, 1)
    s.send_raw("<message to='%s' from='mallory@localhost/evil' type='chat'>"
               "<body>spoof</body></message>" % hi.jid)
    await asyncio.sleep(1.0)
    got = [m for m in hi.messages.items if m.body == "spoof"]
    assert all(m.frm == s.jid for m in got), "forged 'from' delivered: %r" % got
    assert got or "invalid-from" in s.stream_errors, \
        "neither delivered with the real 'from' nor answered with <invalid-from/>"


async def test_message_to_self_bare_and_other_resource(server):
    me = server.new_account()
    r1 = await connect(server, me, "r1", priority=1)
    r2 = await connect(server, me, "r2", priority=0)
    await r1.presence_from(r2.jid, "available")
    r2.msg(r1.jid, "note to other device")
    m = await r1.message_with("note to other device")
    assert m.frm == r2.jid


async def test_large_message_under_limit_delivered(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    body = "x" * 60000   # under max_stanza_size 65536 with the envelope
    a.msg(b.jid, body)
    m = await b.messages.get(lambda x: x.body and len(x.body) == 60000, what="60 kB message")
    assert m.body == body


async def test_message_without_to_goes_to_own_bare(server):
    """RFC 6120 §10.3.1: no 'to' means the account's bare JID."""
    me = server.new_account()
    r1 = await connect(server, me, "r1", priority=5)
    r2 = await connect(server, me, "r2", priority=1)
    await r1.presence_from(r2.jid, "available")
    r2.send_raw("<message type='chat'><body>no to</body></message>")
    m = await r1.message_with("no to")
    assert m.frm == r2.jid
