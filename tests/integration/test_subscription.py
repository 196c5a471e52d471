# SPDX-License-Identifier: MIT
"""Presence subscriptions between two local accounts (RFC 6121 §3): request,
approve, deny, unsubscribe, cancel, roster remove, pending-in requests delivered
at the next login, and every state persisted across a server restart."""
import pytest

from slixclient import bare, connect, is_sub, make_friends

pytestmark = pytest.mark.subscription


def sub(state, ask=None):
    return lambda i: i["subscription"] == state and i["ask"] == ask


async def test_request_and_approve_one_way(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")

    a.send_presence_now(to=b.bare, ptype="subscribe")
    item = await a.push_for(b.bare)
    assert item["subscription"] == "none" and item["ask"] == "subscribe", item
    req = await b.presences.get(is_sub("subscribe", a.bare), what="subscription request")
    assert req.frm == a.bare, "request must come from the bare JID (RFC 6121 §3.1.2)"

    b.send_presence_now(to=a.bare, ptype="subscribed")
    assert (await b.push_for(a.bare))["subscription"] == "from"
    await a.presences.get(is_sub("subscribed", b.bare), what="subscribed from b")
    await a.push_for(b.bare, sub("to"))
    # §3.1.6: once approved, the user gets the contact's current presence.
    p = await a.presence_from(b.jid, "available")
    assert p.frm == b.jid

    assert (await a.roster_get())[b.bare]["subscription"] == "to"
    assert (await b.roster_get())[a.bare]["subscription"] == "from"

    # Direction matters: b's presence reaches a, a's does not reach b.
    a.presences.clear()
    b.presences.clear()
    b.send_presence_now(show="away", status="b away")
    p = await a.presence_from(b.jid, "available")
    assert p.show == "away" and p.status == "b away"
    a.send_presence_now(show="dnd", status="a busy")
    await b.presences.none(lambda s: bare(s.frm) == a.bare, what="presence from a (b is not subscribed)")


async def test_mutual_subscription(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    assert (await a.roster_get())[b.bare]["subscription"] == "both"
    assert (await b.roster_get())[a.bare]["subscription"] == "both"
    a.presences.clear()
    b.presences.clear()
    a.send_presence_now(status="hello b")
    assert (await b.presence_from(a.jid, "available")).status == "hello b"
    b.send_presence_now(status="hello a")
    assert (await a.presence_from(b.jid, "available")).status == "hello a"


async def test_denied_request(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    a.send_presence_now(to=b.bare, ptype="subscribe")
    await a.push_for(b.bare, sub("none", "subscribe"))
    await b.presences.get(is_sub("subscribe", a.bare))
    b.send_presence_now(to=a.bare, ptype="unsubscribed")
    await a.presences.get(is_sub("unsubscribed", b.bare), what="refusal")
    await a.push_for(b.bare, sub("none"))
    items = await a.roster_get()
    assert items[b.bare]["subscription"] == "none" and items[b.bare]["ask"] is None, items
    # The request is gone: b logging in again doesn't see it.
    b2 = await connect(server, b.account, "b2")
    await b2.presences.none(is_sub("subscribe", a.bare), what="refused request re-delivered")


async def test_unsubscribe_then_cancel(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    a.presences.clear()
    b.presences.clear()

    # a stops receiving b's presence.
    a.send_presence_now(to=b.bare, ptype="unsubscribe")
    await a.push_for(b.bare, sub("from"))
    await b.presences.get(is_sub("unsubscribe", a.bare), what="unsubscribe from a")
    await b.push_for(a.bare, sub("to"))
    a.presences.clear()
    b.send_presence_now(status="a no longer sees this")
    await a.presences.none(lambda s: s.frm == b.jid and s.type == "available")

    # a cancels b's subscription to a.
    a.send_presence_now(to=b.bare, ptype="unsubscribed")
    await a.push_for(b.bare, sub("none"))
    await b.presences.get(is_sub("unsubscribed", a.bare), what="unsubscribed from a")
    await b.push_for(a.bare, sub("none"))
    await b.presence_from(a.jid, "unavailable")   # RFC 6121 §3.2.3

    assert (await a.roster_get())[b.bare]["subscription"] == "none"
    assert (await b.roster_get())[a.bare]["subscription"] == "none"
    a.presences.clear()
    b.presences.clear()
    a.send_presence_now(status="nobody sees this")
    b.send_presence_now(status="nor this")
    await b.presences.none(lambda s: bare(s.frm) == a.bare)
    await a.presences.none(lambda s: bare(s.frm) == b.bare, wait=0.1)


async def test_contact_cancels_subscription(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    a.send_presence_now(to=b.bare, ptype="subscribe")
    await b.presences.get(is_sub("subscribe", a.bare))
    b.send_presence_now(to=a.bare, ptype="subscribed")
    await a.push_for(b.bare, sub("to"))
    await a.presence_from(b.jid, "available")

    b.send_presence_now(to=a.bare, ptype="unsubscribed")
    await b.push_for(a.bare, sub("none"))
    await a.presences.get(is_sub("unsubscribed", b.bare))
    await a.push_for(b.bare, sub("none"))
    await a.presence_from(b.jid, "unavailable")


async def test_pending_in_delivered_at_next_login(server):
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    a.send_presence_now(to=b_acct.jid, ptype="subscribe")
    await a.push_for(b_acct.jid, sub("none", "subscribe"))

    b = await connect(server, b_acct, "b1")
    await b.presences.get(is_sub("subscribe", a.bare), what="stored subscription request")
    await b.close()
    # Neither approved nor denied: still pending, delivered again.
    b = await connect(server, b_acct, "b2")
    await b.presences.get(is_sub("subscribe", a.bare), what="request re-delivered at 2nd login")
    b.send_presence_now(to=a.bare, ptype="subscribed")
    await a.presences.get(is_sub("subscribed", b.bare))
    await a.push_for(b.bare, sub("to"))


async def test_roster_remove_cancels_both_ways(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    a.presences.clear()
    b.presences.clear()
    res = await a.roster_set(b.bare, remove=True)
    assert res.type == "result", res
    await a.push_for(b.bare, lambda i: i["subscription"] == "remove")
    # RFC 6121 §2.5.2: the contact gets unsubscribe and unsubscribed.
    await b.presences.get(is_sub("unsubscribe", a.bare), what="unsubscribe after roster remove")
    await b.presences.get(is_sub("unsubscribed", a.bare), what="unsubscribed after roster remove")
    await b.push_for(a.bare, sub("none"))
    await b.presence_from(a.jid, "unavailable")
    assert b.bare not in await a.roster_get()
    items = await b.roster_get()
    assert a.bare not in items or items[a.bare]["subscription"] == "none", items
    b.presences.clear()
    a.send_presence_now(status="after remove")
    await b.presences.none(lambda s: bare(s.frm) == a.bare)


async def test_states_persist_across_restart(fresh_server):
    srv = fresh_server
    A, B, C, D = (srv.new_account(p) for p in "abcd")
    a = await connect(srv, A, "a")
    b = await connect(srv, B, "b")
    c = await connect(srv, C, "c")
    await make_friends(a, b)                       # a-b: both
    a.send_presence_now(to=C.jid, ptype="subscribe")
    await c.presences.get(is_sub("subscribe", A.jid))
    c.send_presence_now(to=A.jid, ptype="subscribed")
    await a.push_for(C.jid, sub("to"))             # a->c: to / from
    a.send_presence_now(to=D.jid, ptype="subscribe")
    await a.push_for(D.jid, sub("none", "subscribe"))  # a->d: pending, d offline
    for cl in (a, b, c):
        await cl.close()

    srv.restart()

    a = await connect(srv, A, "a")
    items = await a.roster_get()
    assert items[B.jid]["subscription"] == "both", items
    assert items[C.jid]["subscription"] == "to", items
    assert items[D.jid]["subscription"] == "none" and items[D.jid]["ask"] == "subscribe", items
    b = await connect(srv, B, "b")
    assert (await b.roster_get())[A.jid]["subscription"] == "both"
    # Presence flows again with the persisted subscription: b's initial presence
    # reaches a, and b got a's presence by probe.
    await a.presence_from(b.jid, "available")
    await b.presence_from(a.jid, "available")
    c = await connect(srv, C, "c")
    assert (await c.roster_get())[A.jid]["subscription"] == "from"
    await a.presence_from(c.jid, "available")
    d = await connect(srv, D, "d")
    await d.presences.get(is_sub("subscribe", A.jid), what="pending-in after restart")
