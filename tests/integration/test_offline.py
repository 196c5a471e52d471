# SPDX-License-Identifier: MIT
"""Offline messages (RFC 6121 §8.5.2.2, XEP-0160, XEP-0203): stored when the
account has no available resource, delivered in order at the next initial
presence with a <delay/> stamp, once; kept across a restart and a kill -9; a
per-account quota answered with service-unavailable."""
import asyncio
import datetime

import pytest

from rawxmpp import NS_DELAY, NS_ROSTER
from slixclient import connect

pytestmark = pytest.mark.offline


def parse_stamp(stamp):
    assert stamp and stamp.endswith("Z"), "delay stamp not in UTC 'Z' form: %r" % stamp
    s = stamp[:-1]
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def check_delay(m, sent_after, sent_before, domain="localhost"):
    d = m.delay
    assert d is not None, "offline message without <delay xmlns='%s'/>: %r" % (NS_DELAY, m)
    assert d.get("from") in (domain, None), "delay from=%r" % d.get("from")
    t = parse_stamp(d.get("stamp"))
    slack = datetime.timedelta(seconds=2)
    assert sent_after - slack <= t <= sent_before + slack, \
        "delay stamp %s not within the sending window [%s, %s]" % (t, sent_after, sent_before)


async def send_and_settle(sender, to, bodies, mtype="chat"):
    """Sends messages, then a round trip so the server has processed them."""
    t0 = now()
    for b in bodies:
        sender.msg(to, b, mtype)
    r = await sender.iq("<query xmlns='%s'/>" % NS_ROSTER)
    assert r.type == "result"
    return t0, now()


async def test_delivered_at_initial_presence_in_order(server):
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    bodies = ["offline %d" % i for i in range(3)]
    t0, t1 = await send_and_settle(a, b_acct.jid, bodies)
    a.msg(b_acct.jid, "offline normal", "normal")
    t1 = now()

    b = await connect(server, b_acct, "b", presence=False)
    await b.messages.none(wait=1.0, what="offline message before initial presence")
    b.send_presence_now()
    got = [await b.message_with(body) for body in bodies]
    for m in got:
        assert m.frm == a.jid, m
        check_delay(m, t0, t1)
    normal = await b.message_with("offline normal")
    assert normal.type == "normal"
    await b.close()

    # Delivered once: a second login gets nothing old.
    b2 = await connect(server, b_acct, "b2")
    await b2.messages.none(wait=1.0, what="offline message delivered twice")


async def test_order_preserved(server):
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    bodies = ["seq %02d" % i for i in range(20)]
    await send_and_settle(a, b_acct.jid, bodies)
    b = await connect(server, b_acct, "b")
    await b.messages.get(lambda m: m.body == bodies[-1], what="last offline message")
    order = [m.body for m in b.messages.items if m.body in bodies] + [bodies[-1]]
    assert order == bodies, "offline messages lost or out of order: %r" % order


async def test_full_jid_of_offline_account_is_stored(server):
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    await send_and_settle(a, b_acct.jid + "/phone", ["to a gone resource"])
    b = await connect(server, b_acct, "laptop")
    await b.message_with("to a gone resource")


async def test_headline_and_bodyless_not_stored(server):
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    await send_and_settle(a, b_acct.jid, ["headline news"], "headline")
    a.send_raw("<message to='%s' type='chat'><thread>t1</thread></message>" % b_acct.jid)
    await send_and_settle(a, b_acct.jid, ["marker"])
    b = await connect(server, b_acct, "b")
    await b.message_with("marker")
    await b.messages.none(lambda m: m.body == "headline news", wait=0.5, what="stored headline")


async def test_only_negative_priority_counts_as_offline(server):
    """RFC 6121 §8.5.2.1.1: only negative-priority resources = no available
    resource, so a message to the bare JID is stored."""
    a = await connect(server, server.new_account(), "a")
    b_acct = server.new_account()
    neg = await connect(server, b_acct, "neg", priority=-5)
    await send_and_settle(a, b_acct.jid, ["while negative"])
    await neg.messages.none(lambda m: m.body == "while negative", wait=0.5)
    pos = await connect(server, b_acct, "pos", priority=1)
    await pos.message_with("while negative")


@pytest.mark.slow
async def test_survives_restart(fresh_server):
    srv = fresh_server
    a_acct, b_acct = srv.new_account(), srv.new_account()
    a = await connect(srv, a_acct, "a")
    t0, t1 = await send_and_settle(a, b_acct.jid, ["across restart 1", "across restart 2"])
    await a.close()
    await asyncio.to_thread(srv.restart)
    b = await connect(srv, b_acct, "b")
    for body in ("across restart 1", "across restart 2"):
        m = await b.message_with(body)
        assert m.frm == a_acct.jid + "/a"
        check_delay(m, t0, t1)


@pytest.mark.slow
async def test_survives_kill_9(fresh_server):
    srv = fresh_server
    a_acct, b_acct = srv.new_account(), srv.new_account()
    a = await connect(srv, a_acct, "a")
    t0, t1 = await send_and_settle(a, b_acct.jid, ["across kill -9"])
    # The server acknowledges nothing for a message; give the storage worker a
    # moment (it must not wait for shutdown to commit).
    await asyncio.sleep(1.0)
    srv.kill9()
    a.drop()
    await asyncio.to_thread(srv.start)
    b = await connect(srv, b_acct, "b")
    m = await b.message_with("across kill -9")
    check_delay(m, t0, t1)


async def test_quota_then_service_unavailable(make_server):
    srv = make_server("quota", hosts=[
        {"domain": "localhost", "offline_quota": 3},
        {"domain": "example.net"},
    ])
    a = await connect(srv, srv.new_account(), "a")
    b_acct = srv.new_account()
    await send_and_settle(a, b_acct.jid, ["q1", "q2", "q3"])
    await a.messages.none(lambda m: m.type == "error", wait=0.3, what="error under quota")
    a.msg(b_acct.jid, "q4 over quota")
    err = await a.messages.get(lambda m: m.type == "error", what="error over quota")
    assert err.error == "service-unavailable", err
    b = await connect(srv, b_acct, "b")
    for body in ("q1", "q2", "q3"):
        await b.message_with(body)
    await b.messages.none(lambda m: m.body == "q4 over quota", wait=0.5)
    # Delivery emptied the store: there is room again.
    await b.close()
    a.msg(b_acct.jid, "q5 after drain")
    await a.messages.none(lambda m: m.type == "error", wait=0.5, what="error after drain")
