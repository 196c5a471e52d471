# SPDX-License-Identifier: MIT
"""Roster management (RFC 6121 §2): get, set, update, remove, pushes to every
interested resource, versioning (§2.6), and the error cases of §2.3.3."""
import pytest

from rawxmpp import NS_ROSTER, NS_ROSTERVER, q
from slixclient import Client, connect, parse_roster

pytestmark = pytest.mark.roster


async def test_new_account_has_empty_roster(server):
    c = await connect(server, server.new_account(), roster=False)
    assert await c.roster_get() == {}


async def test_set_update_remove_with_pushes_to_all_resources(server):
    me = server.new_account()
    contact = server.new_account().jid
    r1 = await connect(server, me, "r1")
    r2 = await connect(server, me, "r2")

    res = await r1.roster_set(contact, name="Alice", groups=["Friends", "Work"])
    assert res.type == "result", res
    for c in (r1, r2):
        item = await c.push_for(contact)
        assert item["name"] == "Alice"
        assert item["groups"] == ["Friends", "Work"]
        assert item["subscription"] == "none"
        assert item["ask"] is None
    items = await r2.roster_get()
    assert items[contact]["name"] == "Alice"
    assert items[contact]["groups"] == ["Friends", "Work"]

    res = await r2.roster_set(contact, name="Alice B.", groups=["Work"])
    assert res.type == "result", res
    for c in (r1, r2):
        item = await c.push_for(contact, lambda i: i["name"] == "Alice B.")
        assert item["groups"] == ["Work"]
    assert (await r1.roster_get())[contact]["groups"] == ["Work"]

    res = await r1.roster_set(contact, remove=True)
    assert res.type == "result", res
    for c in (r1, r2):
        item = await c.push_for(contact, lambda i: i["subscription"] == "remove")
    assert contact not in await r1.roster_get()
    assert contact not in await r2.roster_get()


async def test_roster_survives_reconnect(server):
    me = server.new_account()
    contact = server.new_account().jid
    c = await connect(server, me)
    assert (await c.roster_set(contact, name="Keep", groups=["G"])).type == "result"
    await c.close()
    c2 = await connect(server, me, "again")
    items = await c2.roster_get()
    assert items[contact]["name"] == "Keep" and items[contact]["groups"] == ["G"]


async def test_removing_unknown_item_is_item_not_found(server):
    c = await connect(server, server.new_account())
    res = await c.roster_set("nobody-here@localhost", remove=True)
    assert res.type == "error" and res.error == "item-not-found", res


async def test_roster_set_with_two_items_is_bad_request(server):
    c = await connect(server, server.new_account())
    res = await c.iq("<query xmlns='%s'><item jid='a@localhost'/><item jid='b@localhost'/></query>"
                     % NS_ROSTER, itype="set")
    assert res.type == "error" and res.error == "bad-request", res


async def test_roster_set_ignores_client_supplied_subscription(server):
    """RFC 6121 §2.1.2.5: a client can't grant itself a subscription."""
    me = server.new_account()
    contact = server.new_account().jid
    c = await connect(server, me)
    res = await c.iq("<query xmlns='%s'><item jid='%s' subscription='both'/></query>"
                     % (NS_ROSTER, contact), itype="set")
    if res.type == "result":
        assert (await c.roster_get())[contact]["subscription"] == "none"
    else:
        assert res.error == "bad-request", res


async def test_roster_versioning(server):
    me = server.new_account()
    contact1 = server.new_account().jid
    contact2 = server.new_account().jid
    c = Client(server, me, "ver")
    await c.login(roster=False, presence=False)
    assert "rosterver" in c.features, "server does not advertise roster versioning"

    r = await c.iq("<query xmlns='%s' ver=''/>" % NS_ROSTER)
    assert r.type == "result"
    query = r.xml.find(q("query", NS_ROSTER))
    assert query is not None and query.get("ver") is not None, "no ver in roster result: %r" % r
    v0 = query.get("ver")

    assert (await c.roster_set(contact1, name="One")).type == "result"
    push = await c.pushes.get(lambda s: contact1 in s.roster_items())
    v1 = push.xml.find(q("query", NS_ROSTER)).get("ver")
    assert v1 and v1 != v0, "roster push without a new ver (RFC 6121 §2.6.3)"

    # Up to date: an empty result (or the same items) — never a stale roster.
    r = await c.iq("<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v1))
    assert r.type == "result"
    query = r.xml.find(q("query", NS_ROSTER))
    if query is not None:
        assert set(parse_roster(query)) <= {contact1}, "stale roster for an up-to-date ver"

    # Stale version: the client must learn about contact2, either as a full
    # roster in the result or as pushes that follow it.
    assert (await c.roster_set(contact2, name="Two")).type == "result"
    await c.pushes.get(lambda s: contact2 in s.roster_items())
    c.pushes.clear()
    r = await c.iq("<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v1))
    assert r.type == "result"
    query = r.xml.find(q("query", NS_ROSTER))
    if query is not None and query.findall(q("item", NS_ROSTER)):
        assert contact2 in parse_roster(query)
    else:
        await c.push_for(contact2)


async def test_roster_features_advertised(server):
    c = server.raw()
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    me = server.new_account()
    assert c.auth_plain(me.user, me.password).ok
    c.open_stream()
    feats = c.read_features()
    assert feats.find(q("ver", NS_ROSTERVER)) is not None, "no <ver xmlns='%s'/>" % NS_ROSTERVER


async def test_roster_push_not_sent_to_other_accounts(server):
    me = server.new_account()
    other = server.new_account()
    c = await connect(server, me)
    o = await connect(server, other)
    assert (await c.roster_set("third@localhost", name="T")).type == "result"
    await c.push_for("third@localhost")
    await o.pushes.none(wait=0.5, what="roster push meant for someone else")


async def test_roster_get_for_another_account_forbidden(server):
    """RFC 6121 §2.1.5/§2.3.3: a roster query addressed to someone else's bare JID
    must not reveal or change their roster."""
    victim = server.new_account()
    v = await connect(server, victim)
    assert (await v.roster_set("secret@localhost", name="S")).type == "result"
    c = await connect(server, server.new_account())
    r = await c.iq("<query xmlns='%s'/>" % NS_ROSTER, to=victim.jid)
    assert r.type == "error", "roster of %s returned to a stranger: %r" % (victim.jid, r)
    assert r.error in ("forbidden", "service-unavailable", "not-allowed"), r
    r = await c.iq("<query xmlns='%s'><item jid='evil@localhost'/></query>" % NS_ROSTER,
                   itype="set", to=victim.jid)
    assert r.type == "error", r
    assert "evil@localhost" not in await v.roster_get()
