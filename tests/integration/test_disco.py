# SPDX-License-Identifier: MIT
"""Service discovery (XEP-0030) for hosts and accounts, contact addresses
(XEP-0128/XEP-0157), the server's entity capabilities in stream features
(XEP-0115, recomputed here), and docs/xeps.md: current with `yerbad --list-xeps`
and matching what disco#info announces."""
import base64
import hashlib
import re
import subprocess

import pytest

import harness
from rawxmpp import q, stanza_error_condition
from slixclient import connect, make_friends


NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_XDATA = "jabber:x:data"
CAPS_NODE = "https://yerba.example/caps"
DOCS = harness.REPO / "docs" / "xeps.md"

# Features a server implementing the XEP must announce in disco#info.
XEP_FEATURES = {
    9: {"jabber:iq:rpc"},
    12: {"jabber:iq:last"},
    30: {NS_INFO, NS_ITEMS},
    49: {"jabber:iq:private"},
    50: {"http://jabber.org/protocol/commands"},
    54: {"vcard-temp"},
    92: {"jabber:iq:version"},
    160: {"msgoffline"},
    191: {"urn:xmpp:blocking"},
    199: {"urn:xmpp:ping"},
    202: {"urn:xmpp:time"},
}
# Features of RFC-only modules (.xeps ""), allowed without any XEP.
RFC_FEATURES = {"jabber:iq:roster"}
# Features a listed XEP may announce without being required to.
XEP_OPTIONAL_FEATURES = {
    4: {"jabber:x:data"},
    77: {"jabber:iq:register"},
    85: {"http://jabber.org/protocol/chatstates"},
    115: {NS_CAPS},
    133: {"http://jabber.org/protocol/admin"},
    138: {"http://jabber.org/protocol/compress"},
    203: {"urn:xmpp:delay"},
}


def docs_xeps():
    text = DOCS.read_text()
    return {int(n) for n in re.findall(r"^\| \[XEP-(\d{4})\]", text, re.M)}


def caps_ver(query):
    """XEP-0115 §5.1, written from the spec independently of the server."""
    ids = []
    for i in query.findall(q("identity", NS_INFO)):
        ids.append("/".join([i.get("category", ""), i.get("type", ""),
                             i.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
                             i.get("name", "")]))
    s = "".join(x + "<" for x in sorted(ids))
    feats = [f.get("var") for f in query.findall(q("feature", NS_INFO))]
    s += "".join(x + "<" for x in sorted(feats))
    forms = []
    for x in query.findall(q("x", NS_XDATA)):
        form_type = None
        fields = []
        for f in x.findall(q("field", NS_XDATA)):
            values = sorted(v.text or "" for v in f.findall(q("value", NS_XDATA)))
            if f.get("var") == "FORM_TYPE":
                form_type = values[0]
            else:
                fields.append((f.get("var"), values))
        if form_type is None:
            continue
        fs = form_type + "<"
        for var, values in sorted(fields):
            fs += var + "<" + "".join(v + "<" for v in values)
        forms.append((form_type, fs))
    s += "".join(fs for _, fs in sorted(forms))
    return base64.b64encode(hashlib.sha1(s.encode("utf-8")).digest()).decode()


async def info(c, to, node=None):
    n = " node='%s'" % node if node else ""
    return await c.iq("<query xmlns='%s'%s/>" % (NS_INFO, n), to=to)


async def items(c, to, node=None):
    n = " node='%s'" % node if node else ""
    return await c.iq("<query xmlns='%s'%s/>" % (NS_ITEMS, n), to=to)


def features_of(resp):
    return {f.get("var") for f in resp.xml.find(q("query", NS_INFO)).findall(q("feature", NS_INFO))}


def identities_of(resp):
    return {(i.get("category"), i.get("type"), i.get("name"))
            for i in resp.xml.find(q("query", NS_INFO)).findall(q("identity", NS_INFO))}


# --- docs/xeps.md ---------------------------------------------------------


def test_list_xeps_matches_docs():
    p = subprocess.run([str(harness.YERBAD), "--list-xeps"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p.stderr
    assert p.stdout == DOCS.read_text(), (
        "docs/xeps.md is stale: regenerate it with `yerbad --list-xeps > docs/xeps.md`")
    for line in p.stdout.splitlines():
        if line.startswith("| [XEP-"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            assert len(cells) == 5 and cells[1] and cells[2] and cells[3], line


async def test_disco_features_match_docs(server):
    c = await connect(server, server.new_account())
    r = await info(c, "localhost")
    assert r.type == "result", r
    feats = features_of(r)
    listed = docs_xeps()
    known = {}
    for table in (XEP_FEATURES, XEP_OPTIONAL_FEATURES):
        for xep, fs in table.items():
            for f in fs:
                known.setdefault(f, set()).add(xep)
    for f in feats - RFC_FEATURES:
        assert f in known, ("disco#info announces %r, which no XEP in this test's table "
                            "defines: add it to XEP_FEATURES" % f)
        assert known[f] & listed, ("disco#info announces %r (XEP-%s) but docs/xeps.md does "
                                   "not list that XEP" % (f, sorted(known[f])))
    for xep in listed:
        missing = XEP_FEATURES.get(xep, set()) - feats
        assert not missing, "docs/xeps.md lists XEP-%04d but disco#info lacks %s" % (xep, missing)


# --- the host ---------------------------------------------------------------


async def test_host_info(server):
    c = await connect(server, server.new_account())
    for to in ("localhost", "example.net"):
        r = await info(c, to)
        assert r.type == "result" and r.frm == to, r
        assert ("server", "im", "Yerba") in identities_of(r)
        assert {NS_INFO, NS_ITEMS, "urn:xmpp:ping"} <= features_of(r)
        # No contact addresses configured: no XEP-0128 form.
        assert r.xml.find(q("query", NS_INFO)).find(q("x", NS_XDATA)) is None


async def test_host_info_with_slixmpp_plugin(server):
    c = await connect(server, server.new_account())
    c.register_plugin("xep_0030")
    res = await c["xep_0030"].get_info(jid="localhost", local=False, cached=False)
    got = res["disco_info"]
    assert ("server", "im", None, "Yerba") in got["identities"], got["identities"]
    assert "urn:xmpp:ping" in got["features"]
    res = await c["xep_0030"].get_items(jid="localhost", local=False)
    assert res["type"] == "result"


async def test_host_items_and_unknown_nodes(server):
    c = await connect(server, server.new_account())
    r = await items(c, "localhost")
    assert r.type == "result", r
    for fn in (info, items):
        r = await fn(c, "localhost", node="no-such-node")
        assert r.type == "error" and r.error == "item-not-found", r
        ns = NS_INFO if fn is info else NS_ITEMS
        assert r.xml.find(q("query", ns)).get("node") == "no-such-node"


async def test_disco_set_is_refused(server):
    c = await connect(server, server.new_account())
    r = await c.iq("<query xmlns='%s'/>" % NS_INFO, itype="set", to="localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


# --- XEP-0115 -------------------------------------------------------------


def raw_login(server, account):
    raw = server.raw(domain=account.domain)
    raw.login(account.user, account.password, host=account.domain)
    return raw


def check_caps_matches(server, account, domain="localhost"):
    raw = raw_login(server, account)
    c = raw.features.find(q("c", NS_CAPS))
    assert c is not None, "no <c/> in the stream features after authentication"
    assert c.get("hash") == "sha-1" and c.get("node") == CAPS_NODE, c.attrib
    el = raw.iq("<query xmlns='%s'/>" % NS_INFO, to=domain)
    assert el.get("type") == "result"
    query = el.find(q("query", NS_INFO))
    assert c.get("ver") == caps_ver(query), "ver does not match the disco#info we got"
    # §6.2: node#ver answers with the same information, node mirrored.
    el = raw.iq("<query xmlns='%s' node='%s#%s'/>" % (NS_INFO, CAPS_NODE, c.get("ver")), to=domain)
    assert el.get("type") == "result", el
    q2 = el.find(q("query", NS_INFO))
    assert q2.get("node") == "%s#%s" % (CAPS_NODE, c.get("ver"))
    assert caps_ver(q2) == c.get("ver")
    el = raw.iq("<query xmlns='%s' node='%s#bogus'/>" % (NS_INFO, CAPS_NODE), to=domain)
    assert stanza_error_condition(el) == "item-not-found"
    return c.get("ver")


def test_caps_in_stream_features(server):
    raw = server.raw()
    raw.open_stream()
    raw.read_features()
    raw.starttls()
    raw.open_stream()
    f = raw.read_features()
    assert f.find(q("c", NS_CAPS)) is not None, "no caps before authentication"
    check_caps_matches(server, server.new_account())


# --- XEP-0128 / XEP-0157 ----------------------------------------------------

CONTACT = ('{abuse: ["mailto:abuse@localhost", "xmpp:abuse@localhost"], '
           'security: ["https://localhost/security"], admin: ["xmpp:admin@localhost"]}')


def test_contact_addresses(make_server):
    s = make_server(start=False)
    text = s.config_text().replace('  - domain: "localhost"\n',
                                   '  - domain: "localhost"\n    contact: %s\n' % CONTACT, 1)
    assert "contact:" in text
    s.config.write_text(text)
    s.start()
    a = s.new_account()
    raw = raw_login(s, a)
    el = raw.iq("<query xmlns='%s'/>" % NS_INFO, to="localhost")
    forms = el.find(q("query", NS_INFO)).findall(q("x", NS_XDATA))
    assert len(forms) == 1, el
    x = forms[0]
    assert x.get("type") == "result"
    fields = {f.get("var"): f for f in x.findall(q("field", NS_XDATA))}
    assert fields["FORM_TYPE"].get("type") == "hidden"
    assert [v.text for v in fields["FORM_TYPE"]] == ["http://jabber.org/network/serverinfo"]
    vals = {k: [v.text for v in f.findall(q("value", NS_XDATA))] for k, f in fields.items()}
    assert vals["abuse-addresses"] == ["mailto:abuse@localhost", "xmpp:abuse@localhost"]
    assert vals["security-addresses"] == ["https://localhost/security"]
    assert vals["admin-addresses"] == ["xmpp:admin@localhost"]
    assert "sales-addresses" not in vals, "empty lists must not be sent"
    # The other host has no contacts: no form there.
    el = raw.iq("<query xmlns='%s'/>" % NS_INFO, to="example.net")
    assert el.find(q("query", NS_INFO)).find(q("x", NS_XDATA)) is None
    # The caps hash covers the form (XEP-0115 §5.1 step 6) and still matches.
    ver_local = check_caps_matches(s, a, "localhost")
    b = s.new_account(domain="example.net")
    ver_net = check_caps_matches(s, b, "example.net")
    assert ver_local != ver_net


# --- accounts' bare JIDs (XEP-0030 §8) ----------------------------------------


async def test_bare_jid_self_and_subscribed(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    for asker, target in ((a, a.bare), (a, b.bare), (b, a.bare)):
        r = await info(asker, target)
        assert r.type == "result" and r.frm == target, r
        assert identities_of(r) == {("account", "registered", None)}
        assert NS_INFO in features_of(r)
    r = await items(a, b.bare)
    assert r.type == "result"
    jids = [i.get("jid") for i in r.xml.find(q("query", NS_ITEMS)).findall(q("item", NS_ITEMS))]
    assert jids == [b.jid], "available resources for a subscribed contact (§4.1)"
    r = await info(a, b.bare, node="x")
    assert r.error == "item-not-found", r


async def test_bare_jid_others_get_nothing(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    # One way: a is subscribed to b's presence (b's roster says 'from'), so a may
    # query b; b, not subscribed to a, may not query a.
    a.send_presence_now(to=b.bare, ptype="subscribe")
    await b.presences.get(lambda s: s.type == "subscribe")
    b.send_presence_now(to=a.bare, ptype="subscribed")
    await a.push_for(b.bare, lambda i: i["subscription"] == "to")
    assert (await info(a, b.bare)).type == "result"
    r = await info(b, a.bare)
    assert r.type == "error" and r.error == "service-unavailable", r
    r = await items(b, a.bare)
    assert r.type == "result" and len(r.xml.find(q("query", NS_ITEMS))) == 0, r
    stranger = await connect(server, server.new_account(), "s")
    r = await info(stranger, b.bare)
    assert r.error == "service-unavailable", r
    r = await items(stranger, b.bare)
    assert r.type == "result" and len(r.xml.find(q("query", NS_ITEMS))) == 0, r
    # Nonexistent: the same answers (§8), so nothing is learnt.
    r = await info(stranger, "nobody-here@localhost")
    assert r.error == "service-unavailable", r
    r = await items(stranger, "nobody-here@localhost")
    assert r.type == "result" and len(r.xml.find(q("query", NS_ITEMS))) == 0, r


async def test_bare_jid_of_offline_contact(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    await b.close()
    r = await info(a, b.bare)
    assert r.type == "result", r
    r = await items(a, b.bare)
    assert r.type == "result" and len(r.xml.find(q("query", NS_ITEMS))) == 0, r
