# SPDX-License-Identifier: MIT
"""XEP-0049 Private XML Storage: store and retrieve per namespace, the empty element
for a namespace never stored, own account only (forbidden otherwise), reserved
namespaces and a missing child refused with not-acceptable, mixed namespaces with
bad-request, the size limit, and persistence across a restart."""
from slixmpp.xmlstream import ElementBase

from rawxmpp import q
from slixclient import Client, connect

NS_PRIVATE = "jabber:iq:private"


class Prefs(ElementBase):
    name = "exodus"
    namespace = "exodus:prefs"
    plugin_attrib = "exodus"
    interfaces = {"defaultnick"}
    sub_interfaces = interfaces


def query(*children):
    return "<query xmlns='jabber:iq:private'>%s</query>" % "".join(children)


def stored(stanza, name, ns):
    qq = stanza.xml.find(q("query", NS_PRIVATE))
    assert qq is not None, stanza
    return qq.findall(q(name, ns))


async def test_store_and_retrieve_with_slixmpp_plugin(server):
    c = Client(server, server.new_account())
    c.register_plugin("xep_0049")
    c["xep_0049"].register(Prefs)
    await c.login()
    p = Prefs()
    p["defaultnick"] = "Hamlet"
    await c["xep_0049"].store(p)
    res = await c["xep_0049"].retrieve("exodus")
    assert res["type"] == "result"
    assert res["private"]["exodus"]["defaultnick"] == "Hamlet"


async def test_unknown_namespace_returns_empty_element(server):
    c = await connect(server, server.new_account())
    r = await c.iq(query("<prefs xmlns='urn:example:nothing'/>"))
    assert r.type == "result", r
    els = stored(r, "prefs", "urn:example:nothing")
    assert len(els) == 1 and len(els[0]) == 0 and not (els[0].text or "").strip()


async def test_overwrite_and_several_elements_of_one_namespace(server):
    c = await connect(server, server.new_account())
    ns = "storage:example"
    r = await c.iq(query("<a xmlns='%s'>1</a>" % ns), itype="set")
    assert r.type == "result", r
    r = await c.iq(query("<a xmlns='%s'>2</a><b xmlns='%s'><c>3</c></b>" % (ns, ns)), itype="set")
    assert r.type == "result", r
    r = await c.iq(query("<a xmlns='%s'/>" % ns), to=c.bare)
    assert [e.text for e in stored(r, "a", ns)] == ["2"]
    b = stored(r, "b", ns)
    assert len(b) == 1 and b[0].find(q("c", ns)).text == "3"
    # Other namespaces are separate keys.
    r = await c.iq(query("<a xmlns='storage:other'/>"))
    assert len(stored(r, "a", "storage:other")[0]) == 0


async def test_accounts_are_separate_and_others_forbidden(server):
    owner, other = server.new_account(), server.new_account()
    a = await connect(server, owner, "a")
    b = await connect(server, other, "b")
    secret = query("<notes xmlns='storage:rosternotes'><note jid='x@y'>secret</note></notes>")
    assert (await a.iq(secret, itype="set")).type == "result"
    r = await b.iq(query("<notes xmlns='storage:rosternotes'/>"))
    assert r.type == "result" and len(stored(r, "notes", "storage:rosternotes")[0]) == 0
    for itype, payload in (("get", query("<notes xmlns='storage:rosternotes'/>")),
                           ("set", secret.replace("secret", "forged"))):
        r = await b.iq(payload, itype=itype, to=owner.jid)
        assert r.type == "error" and r.error == "forbidden", r
    r = await a.iq(query("<notes xmlns='storage:rosternotes'/>"))
    note = stored(r, "notes", "storage:rosternotes")[0].find(q("note", "storage:rosternotes"))
    assert note.text == "secret"


async def test_reserved_namespaces_not_acceptable(server):
    c = await connect(server, server.new_account())
    for child in ("<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>",
                  "<query xmlns='jabber:iq:roster'/>",
                  "<x xmlns='jabber:x:data'/>",
                  "<query xmlns='http://jabber.org/protocol/disco#info'/>"):
        for itype in ("get", "set"):
            r = await c.iq(query(child), itype=itype)
            assert r.type == "error" and r.error == "not-acceptable", (child, itype, r)


async def test_missing_child_and_malformed_queries(server):
    c = await connect(server, server.new_account())
    for itype in ("get", "set"):
        r = await c.iq(query(), itype=itype)
        assert r.type == "error" and r.error == "not-acceptable", r
    # More than one namespace in one request.
    r = await c.iq(query("<a xmlns='urn:one'/><b xmlns='urn:two'/>"))
    assert r.type == "error" and r.error == "bad-request", r
    r = await c.iq(query("<a xmlns='urn:one'>1</a><b xmlns='urn:two'>2</b>"), itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    # Character data beside the element.
    r = await c.iq(query("junk<a xmlns='urn:one'/>"), itype="set")
    assert r.type == "error" and r.error == "bad-request", r
    # Nothing of the refused sets was stored.
    r = await c.iq(query("<a xmlns='urn:one'/>"))
    assert len(stored(r, "a", "urn:one")[0]) == 0 and not stored(r, "a", "urn:one")[0].text


async def test_size_limit(make_server):
    srv = make_server(hosts=[{"domain": "localhost", "vcard_max_size": 2048}])
    c = await connect(srv, srv.new_account())
    ns = "storage:big"
    assert (await c.iq(query("<d xmlns='%s'>%s</d>" % (ns, "x" * 1500)), itype="set")).type \
        == "result"
    r = await c.iq(query("<d xmlns='%s'>%s</d>" % (ns, "y" * 3000)), itype="set")
    assert r.type == "error" and r.error == "policy-violation", r
    r = await c.iq(query("<d xmlns='%s'/>" % ns))
    assert stored(r, "d", ns)[0].text == "x" * 1500


async def test_private_data_survives_restart(fresh_server):
    acc = fresh_server.new_account()
    c = await connect(fresh_server, acc)
    data = query("<storage xmlns='storage:bookmarks'><conference jid='room@muc.example' "
                 "autojoin='true' name='Room'><nick>me</nick></conference></storage>")
    assert (await c.iq(data, itype="set")).type == "result"
    await c.close()
    fresh_server.restart()
    c = await connect(fresh_server, acc, "again")
    r = await c.iq(query("<storage xmlns='storage:bookmarks'/>"))
    conf = stored(r, "storage", "storage:bookmarks")[0].find(q("conference", "storage:bookmarks"))
    assert conf.get("jid") == "room@muc.example" and conf.get("autojoin") == "true"
    assert conf.find(q("nick", "storage:bookmarks")).text == "me"
