# SPDX-License-Identifier: MIT
"""XEP-0054 vcard-temp: an account sets and reads its own vCard, others read it at
the bare JID; nobody sets another's; the size limit (vcard_max_size); malformed
payloads; no vCard / no account; persistence across a restart."""
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from rawxmpp import NS_STANZA_ERR, q
from slixclient import Client, connect

NS_VCARD = "vcard-temp"


def vcard_xml(fn="Juliet Capulet", nick="jc", extra=""):
    return ("<vCard xmlns='vcard-temp'><FN>%s</FN><NICKNAME>%s</NICKNAME>%s</vCard>"
            % (fn, nick, extra))


def vcard_of(stanza):
    return stanza.xml.find(q("vCard", NS_VCARD))


def field(stanza, name):
    card = vcard_of(stanza)
    assert card is not None, stanza
    el = card.find(q(name, NS_VCARD))
    return el.text if el is not None else None


async def test_publish_and_read_with_slixmpp_plugin(server):
    acc = server.new_account()
    c = Client(server, acc)
    c.register_plugin("xep_0054")
    await c.login()
    card = c["xep_0054"].make_vcard()
    card["FN"] = "Romeo Montague"
    card["NICKNAME"] = "romeo"
    await c["xep_0054"].publish_vcard(card)
    # To the bare JID: a real query to the server, not slixmpp's local cache.
    res = await c["xep_0054"].get_vcard(c.bare, cached=False)
    assert res["type"] == "result"
    assert res["vcard_temp"]["FN"] == "Romeo Montague"
    assert res["vcard_temp"]["NICKNAME"] in ("romeo", ["romeo"])


async def test_own_vcard_without_to_and_empty_before_set(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<vCard xmlns='vcard-temp'/>")
    assert r.type == "result", r
    card = vcard_of(r)
    assert card is not None and len(card) == 0, r
    r = await c.iq(vcard_xml("Juliet"), itype="set")
    assert r.type == "result", r
    r = await c.iq("<vCard xmlns='vcard-temp'/>")
    assert field(r, "FN") == "Juliet"
    # Setting again replaces the whole vCard (XEP-0054 §3.2: no partial updates).
    r = await c.iq("<vCard xmlns='vcard-temp'><NICKNAME>j2</NICKNAME></vCard>", itype="set")
    assert r.type == "result", r
    r = await c.iq("<vCard xmlns='vcard-temp'/>", to=c.bare)
    assert field(r, "NICKNAME") == "j2" and field(r, "FN") is None


async def test_others_read_at_bare_jid(server):
    owner, reader = server.new_account(), server.new_account()
    a = await connect(server, owner, "a")
    b = await connect(server, reader, "b")
    body = "<PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO>"
    assert (await a.iq(vcard_xml("Owner <&> Name", extra=body).replace("<&>", "&lt;&amp;&gt;"),
                       itype="set")).type == "result"
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to=owner.jid)
    assert r.type == "result", r
    assert r.frm == owner.jid
    assert field(r, "FN") == "Owner <&> Name"
    photo = vcard_of(r).find(q("PHOTO", NS_VCARD))
    assert photo.find(q("BINVAL", NS_VCARD)).text == "aGVsbG8="
    # Answered by the server: the owner's client never sees the query.
    await a.iqs.none(lambda s: vcard_of(s) is not None)


async def test_other_without_vcard_and_unknown_account(server):
    b = await connect(server, server.new_account())
    nobody = server.new_account()
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to=nobody.jid)
    assert r.type == "error" and r.error == "item-not-found", r
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to="no-such-user@localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


async def test_set_on_another_account_is_forbidden(server):
    owner, other = server.new_account(), server.new_account()
    a = await connect(server, owner, "a")
    b = await connect(server, other, "b")
    assert (await a.iq(vcard_xml("Real"), itype="set")).type == "result"
    r = await b.iq(vcard_xml("Forged"), itype="set", to=owner.jid)
    assert r.type == "error" and r.error == "forbidden", r
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to=owner.jid)
    assert field(r, "FN") == "Real"


async def test_empty_vcard_deletes(server):
    owner, reader = server.new_account(), server.new_account()
    a = await connect(server, owner, "a")
    b = await connect(server, reader, "b")
    assert (await a.iq(vcard_xml("Gone soon"), itype="set")).type == "result"
    assert (await b.iq("<vCard xmlns='vcard-temp'/>", to=owner.jid)).type == "result"
    assert (await a.iq("<vCard xmlns='vcard-temp'/>", itype="set")).type == "result"
    r = await b.iq("<vCard xmlns='vcard-temp'/>", to=owner.jid)
    assert r.error == "item-not-found", r
    r = await a.iq("<vCard xmlns='vcard-temp'/>")
    assert r.type == "result" and len(vcard_of(r)) == 0, r


async def test_malformed_payloads(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<vCard xmlns='vcard-temp'>just text<FN>x</FN></vCard>", itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    # Still no vCard stored.
    r = await c.iq("<vCard xmlns='vcard-temp'/>")
    assert r.type == "result" and len(vcard_of(r)) == 0, r
    # Two payloads in one iq (RFC 6120 §8.2.3).
    iq = c.Iq()
    iq["type"] = "set"
    iq.append(ET.fromstring(vcard_xml("one")))
    iq.append(ET.fromstring(vcard_xml("two")))
    try:
        await iq.send(timeout=5)
        raise AssertionError("two payloads accepted")
    except IqError as e:
        assert e.iq["error"]["condition"] == "bad-request"


async def test_size_limit(make_server):
    srv = make_server(hosts=[{"domain": "localhost", "vcard_max_size": 2048}])
    c = await connect(srv, srv.new_account())
    small = vcard_xml("Small", extra="<DESC>%s</DESC>" % ("x" * 1500))
    assert (await c.iq(small, itype="set")).type == "result"
    big = vcard_xml("Big", extra="<DESC>%s</DESC>" % ("x" * 3000))
    r = await c.iq(big, itype="set")
    assert r.type == "error" and r.error == "policy-violation", r
    err = r.xml.find(q("error"))
    assert err.get("type") == "modify"
    assert "2048" in (err.findtext(q("text", NS_STANZA_ERR)) or "")
    # The old vCard stays.
    assert field(await c.iq("<vCard xmlns='vcard-temp'/>"), "FN") == "Small"


async def test_vcard_survives_restart(fresh_server):
    acc = fresh_server.new_account()
    c = await connect(fresh_server, acc)
    assert (await c.iq(vcard_xml("Persistent"), itype="set")).type == "result"
    await c.close()
    fresh_server.restart()
    reader = await connect(fresh_server, fresh_server.new_account())
    r = await reader.iq("<vCard xmlns='vcard-temp'/>", to=acc.jid)
    assert field(r, "FN") == "Persistent"


async def test_disco_feature(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to="localhost")
    assert r.type == "result", r
    feats = {f.get("var") for f in r.xml.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert NS_VCARD in feats
