# SPDX-License-Identifier: MIT
"""Presence (RFC 6121 §4): initial presence broadcast and probes, updates,
unavailable when a session ends for any reason (clean close, explicit
unavailable, TCP dropped), the user's own resources, and directed presence."""
import pytest

from slixclient import bare, connect, make_friends

pytestmark = pytest.mark.presence


async def friends(server):
    a = await connect(server, server.new_account("pa"), "a")
    b = await connect(server, server.new_account("pb"), "b")
    await make_friends(a, b)
    a.presences.clear()
    b.presences.clear()
    return a, b


async def test_initial_presence_broadcast_and_probe(server):
    a, b = await friends(server)
    await b.close()
    await a.presence_from(b.jid, "unavailable")
    b2 = await connect(server, b.account, "b2", priority=3, status="back")
    p = await a.presence_from(b2.jid, "available")
    assert p.status == "back" and p.priority == 3
    # The probe sent on b2's behalf brings a's current presence.
    await b2.presence_from(a.jid, "available")


async def test_presence_update_broadcast(server):
    a, b = await friends(server)
    a.send_presence_now(show="xa", status="gone fishing", priority=7)
    p = await b.presence_from(a.jid, "available")
    assert (p.show, p.status, p.priority) == ("xa", "gone fishing", 7)


async def test_unavailable_on_clean_close(server):
    a, b = await friends(server)
    await b.close()
    p = await a.presence_from(b.jid, "unavailable")
    assert p.frm == b.jid


async def test_explicit_unavailable_then_available(server):
    a, b = await friends(server)
    b.send_presence_now(ptype="unavailable", status="brb")
    await a.presence_from(b.jid, "unavailable")
    b.send_presence_now(status="back again")
    assert (await a.presence_from(b.jid, "available")).status == "back again"


@pytest.mark.parametrize("how", ["fin", "rst", "slixmpp-abort"])
async def test_unavailable_on_abrupt_disconnect(server, how):
    a, b = await friends(server)
    await b.close()
    await a.presence_from(b.jid, "unavailable")
    if how == "slixmpp-abort":
        c = await connect(server, b.account, "abrupt")
        jid = c.jid
        await a.presence_from(jid, "available")
        c.drop()
    else:
        raw = server.raw()
        jid = raw.login(b.account.user, b.account.password, resource="abrupt", presence=True)
        await a.presence_from(jid, "available")
        if how == "fin":
            raw.sock.close()        # no </stream:stream>, no TLS close_notify
            raw.closed = True
        else:
            raw.close(clean=False)  # RST
    await a.presence_from(jid, "unavailable")


async def test_own_resources_see_each_other(server):
    me = server.new_account()
    r1 = await connect(server, me, "r1")
    r2 = await connect(server, me, "r2")
    await r1.presence_from(r2.jid, "available")
    await r2.presence_from(r1.jid, "available")
    await r2.close()
    await r1.presence_from(r2.jid, "unavailable")


async def test_directed_presence_and_its_unavailable(server):
    a = await connect(server, server.new_account(), "a")
    c = await connect(server, server.new_account(), "c")
    a.send_presence_now(to=c.jid, status="just for you")
    p = await c.presence_from(a.jid, "available")
    assert p.status == "just for you"
    # Not a subscription: nothing in anyone's roster.
    assert c.bare not in await a.roster_get()
    await a.close()
    # RFC 6121 §4.6.3: the entity that got directed presence learns we left.
    await c.presence_from(a.jid, "unavailable")


async def test_directed_presence_unavailable_on_drop(server):
    a = await connect(server, server.new_account(), "a")
    c = await connect(server, server.new_account(), "c")
    a.send_presence_now(to=c.jid)
    await c.presence_from(a.jid, "available")
    a.drop()
    await c.presence_from(a.jid, "unavailable")


async def test_no_presence_leak_to_strangers(server):
    a = await connect(server, server.new_account(), "a")
    stranger = await connect(server, server.new_account(), "s")
    a.send_presence_now(status="private")
    await a.close()
    await stranger.presences.none(lambda s: bare(s.frm) == a.bare)
