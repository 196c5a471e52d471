# SPDX-License-Identifier: MIT
"""Entity Time (XEP-0202), Software Version (XEP-0092, also hidden by config) and
Last Activity (XEP-0012: uptime, accounts' last logout and status for subscribed
contacts only, queries to full JIDs passed to the client)."""
import asyncio
import datetime
import re
import subprocess

import harness
from rawxmpp import q
from slixclient import connect, make_friends

NS_TIME = "urn:xmpp:time"
NS_VERSION = "jabber:iq:version"
NS_LAST = "jabber:iq:last"
LAST = "<query xmlns='%s'/>" % NS_LAST


def yerbad_version():
    out = subprocess.run([str(harness.YERBAD), "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    return out.split()[-1]


# --- XEP-0202 -------------------------------------------------------------------


async def test_entity_time(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<time xmlns='%s'/>" % NS_TIME, to="localhost")
    assert r.type == "result" and r.frm == "localhost", r
    t = r.xml.find(q("time", NS_TIME))
    tzo = t.find(q("tzo", NS_TIME)).text
    utc = t.find(q("utc", NS_TIME)).text
    assert re.fullmatch(r"[+-]\d\d:\d\d", tzo), tzo
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), utc
    when = datetime.datetime.strptime(utc[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 10


# Not slixmpp's xep_0202 plugin: 1.8.3's EntityTime.get_utc() appends a second "Z"
# to the XEP-0202 <utc/> value (which ends in Z) and then fails to parse it.


async def test_time_set_is_refused(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<time xmlns='%s'/>" % NS_TIME, itype="set", to="localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


# --- XEP-0092 -------------------------------------------------------------------


async def test_software_version(server):
    c = await connect(server, server.new_account())
    c.register_plugin("xep_0092")
    r = await c["xep_0092"].get_version("localhost")
    sv = r["software_version"]
    assert sv["name"] == "Yerba"
    assert sv["version"] == yerbad_version()
    raw = await c.iq("<query xmlns='%s'/>" % NS_VERSION, to="localhost")
    assert raw.xml.find(q("query", NS_VERSION)).find(q("os", NS_VERSION)) is None


async def test_hidden_version(make_server):
    s = make_server(start=False)
    s.config.write_text(s.config_text().replace("\nc2s:\n", "\nhide_version: true\nc2s:\n", 1))
    s.start()
    c = await connect(s, s.new_account())
    r = await c.iq("<query xmlns='%s'/>" % NS_VERSION, to="localhost")
    assert r.type == "result", r
    query = r.xml.find(q("query", NS_VERSION))
    assert query.find(q("name", NS_VERSION)).text == "Yerba"
    v = query.find(q("version", NS_VERSION))
    assert v is not None and not v.text, "the version must be hidden"
    assert yerbad_version() not in r.xml.__repr__()
    assert query.find(q("os", NS_VERSION)) is None


# --- XEP-0012 -------------------------------------------------------------------


def seconds(r):
    return int(r.xml.find(q("query", NS_LAST)).get("seconds"))


def status_text(r):
    return r.xml.find(q("query", NS_LAST)).text


async def test_uptime(server):
    c = await connect(server, server.new_account())
    r = await c.iq(LAST, to="localhost")
    assert r.type == "result" and r.frm == "localhost", r
    assert 0 <= seconds(r) < 600
    assert not status_text(r)


async def test_uptime_with_slixmpp_plugin(server):
    c = await connect(server, server.new_account())
    c.register_plugin("xep_0012")
    r = await c["xep_0012"].get_last_activity("localhost")
    assert r["last_activity"]["seconds"] >= 0


async def test_last_activity_of_contact(fresh_server):
    server = fresh_server
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    # Online: 0 (§3).
    r = await a.iq(LAST, to=b.bare)
    assert r.type == "result" and seconds(r) == 0 and r.frm == b.bare, r
    b.send_presence_now(ptype="unavailable", status="Heading Home")
    await a.presence_from(b.jid, "unavailable")
    await b.close()
    await asyncio.sleep(1.2)
    r = await a.iq(LAST, to=b.bare)
    assert r.type == "result", r
    assert 1 <= seconds(r) < 30
    assert status_text(r) == "Heading Home"
    # Kept across a restart.
    server.restart()
    a = await connect(server, a.account, "a2")
    r = await a.iq(LAST, to=b.account.jid)
    assert r.type == "result" and status_text(r) == "Heading Home", r
    # Back online: 0 again.
    b = await connect(server, b.account, "b2")
    r = await a.iq(LAST, to=b.bare)
    assert seconds(r) == 0


async def test_last_activity_self_and_no_status(server):
    a = await connect(server, server.new_account(), "a")
    a2 = await connect(server, a.account, "a2", presence=False)
    await a.close()  # no unavailable status sent: just a disconnect
    await asyncio.sleep(0.3)
    r = await a2.iq(LAST, to=a2.bare)
    assert r.type == "result", r
    assert seconds(r) >= 0 and not status_text(r)


async def test_last_activity_forbidden_without_subscription(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    r = await a.iq(LAST, to=b.bare)
    assert r.type == "error" and r.error == "forbidden", r
    # One-way subscription: b is subscribed to a's presence, not a to b's.
    b.send_presence_now(to=a.bare, ptype="subscribe")
    await a.presences.get(lambda s: s.type == "subscribe")
    a.send_presence_now(to=b.bare, ptype="subscribed")
    await b.push_for(a.bare, lambda i: i["subscription"] == "to")
    r = await b.iq(LAST, to=a.bare)
    assert r.type == "result" and seconds(r) == 0, r
    r = await a.iq(LAST, to=b.bare)
    assert r.error == "forbidden", r


async def test_last_activity_unknown_account(server):
    a = await connect(server, server.new_account(), "a")
    r = await a.iq(LAST, to="nobody-ever@localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


async def test_last_activity_full_jid_goes_to_client(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    r = await a.iq(LAST, to=b.jid)
    assert r.frm == b.jid, "answered by the client, not the server (§4): %r" % r
    got = await b.iqs.get(lambda s: s.xml.find(q("query", NS_LAST)) is not None,
                          what="the last-activity query at b")
    assert got.frm == a.jid
