# SPDX-License-Identifier: MIT
"""XEP-0009 Jabber-RPC (mod_rpc): admin operations as XML-RPC methods, called with
slixmpp's xep_0009 plugin (and raw stanzas for malformed calls): listMethods, account
creation/password change/deletion with their effect on logins, counts and online
lists, kick and announce; faults for unknown methods and wrong parameters;
bad-request for payloads that are not XML-RPC; forbidden for non-admins."""
import secrets

import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0009.binding import py2xml, xml2fault, xml2py

import harness
from conftest import _finish
from rawxmpp import q
from slixclient import Client, LoginFailed, connect

NS_RPC = "jabber:iq:rpc"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
FAULT_NO_METHOD = -32601
FAULT_PARAMS = -32602
FAULT_APP = -32500


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = harness.Server(tmp_path_factory.mktemp("rpc"),
                       hosts=[{"domain": "localhost", "admins": ["admin@localhost"]}])
    s.start()
    # The first run created admin@localhost with a random password; set ours.
    password = "admin-" + secrets.token_hex(6)
    s.ctl("passwd", "admin@localhost", password)
    s.admin = harness.Account("admin@localhost", password)
    yield s
    _finish(s)


async def rpc_client(srv, account, resource="rpc"):
    c = Client(srv, account, resource)
    c.register_plugin("xep_0030")
    c.register_plugin("xep_0009")
    await c.login()
    return c


async def call(c, method, *args):
    """('ok', value) or ('fault', {'code', 'string'}) or ('error', condition)."""
    iq = c["xep_0009"].make_iq_method_call("localhost", method, py2xml(*args))
    try:
        resp = await iq.send(timeout=10)
    except IqError as e:
        return "error", e.iq["error"]["condition"]
    mr = resp["rpc_query"]["method_response"]
    if mr["fault"] is not None:
        return "fault", xml2fault(mr["fault"])
    return "ok", xml2py(mr["params"])[0]


async def ok(c, method, *args):
    kind, value = await call(c, method, *args)
    assert kind == "ok", (method, kind, value)
    return value


async def fault(c, method, *args):
    kind, value = await call(c, method, *args)
    assert kind == "fault", (method, kind, value)
    return value["code"], value["string"]


async def test_list_methods_and_discovery(srv):
    a = await rpc_client(srv, srv.admin)
    names = await ok(a, "system.listMethods")
    assert {"system.listMethods", "yerba.addUser", "yerba.deleteUser", "yerba.changePassword",
            "yerba.onlineUsers", "yerba.registeredUsersCount", "yerba.kick",
            "yerba.announce"} <= set(names), names
    assert "addUser" in await ok(a, "system.methodHelp", "yerba.addUser")
    info = await a.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in info.xml.iter(q("feature", NS_DISCO_INFO))}
    ids = {(i.get("category"), i.get("type")) for i in info.xml.iter(q("identity", NS_DISCO_INFO))}
    assert NS_RPC in feats and ("automation", "rpc") in ids


async def test_accounts(srv):
    a = await rpc_client(srv, srv.admin)
    jid = "rpcuser%s@localhost" % secrets.token_hex(3)
    assert await ok(a, "yerba.addUser", jid, "first-pw") is True
    u = await connect(srv, harness.Account(jid, "first-pw"))
    assert u.session_ok
    code, text = await fault(a, "yerba.addUser", jid, "other")
    assert code == FAULT_APP and "exists" in text

    assert await ok(a, "yerba.changePassword", jid, "second-pw") is True
    await connect(srv, harness.Account(jid, "second-pw"), "new")
    with pytest.raises(LoginFailed):
        await connect(srv, harness.Account(jid, "first-pw"), "old")

    assert await ok(a, "yerba.deleteUser", jid) is True
    await u.wait_disconnected()
    with pytest.raises(LoginFailed):
        await connect(srv, harness.Account(jid, "second-pw"), "gone")
    code, text = await fault(a, "yerba.deleteUser", jid)
    assert code == FAULT_APP and "no such account" in text
    code, _ = await fault(a, "yerba.changePassword", jid, "x")
    assert code == FAULT_APP


async def test_counts_lists_kick_announce(srv):
    a = await rpc_client(srv, srv.admin)
    before = await ok(a, "yerba.registeredUsersCount")
    assert isinstance(before, int) and before >= 1
    acct = srv.new_account()
    assert await ok(a, "yerba.registeredUsersCount") == before + 1

    u1 = await connect(srv, acct, "one")
    u2 = await connect(srv, acct, "two")
    users = await ok(a, "yerba.onlineUsers")
    assert acct.jid in users and srv.admin.jid in users and users == sorted(set(users))
    sessions = await ok(a, "yerba.onlineSessions")
    assert u1.jid in sessions and u2.jid in sessions

    text = "RPC notice %s" % secrets.token_hex(3)
    reached = await ok(a, "yerba.announce", text)
    assert reached >= 3
    for c in (u1, u2):
        m = await c.message_with(text)
        assert m.frm == "localhost" and m.type == "headline"

    assert await ok(a, "yerba.kick", u1.jid) == 1
    await u1.wait_disconnected()
    assert u2.is_connected
    assert await ok(a, "yerba.kick", acct.jid) == 1
    await u2.wait_disconnected()
    assert await ok(a, "yerba.kick", acct.jid) == 0


async def test_faults(srv):
    a = await rpc_client(srv, srv.admin)
    code, text = await fault(a, "yerba.noSuchMethod")
    assert code == FAULT_NO_METHOD and "yerba.noSuchMethod" in text
    # Wrong parameter types and counts.
    assert (await fault(a, "yerba.addUser", 42, "pw"))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.addUser", "x@localhost"))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.deleteUser", ["x@localhost"]))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.kick", True))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.registeredUsersCount", "extra"))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.announce", {"message": "x"}))[0] == FAULT_PARAMS
    # JIDs that are not accounts of this host, and an empty password.
    for bad in ("someone@example.net", "localhost", "a@@b", "x@localhost/res"):
        assert (await fault(a, "yerba.addUser", bad, "pw"))[0] == FAULT_PARAMS, bad
    assert (await fault(a, "yerba.addUser", "empty@localhost", ""))[0] == FAULT_PARAMS
    assert (await fault(a, "yerba.announce", ""))[0] == FAULT_PARAMS
    # The server still answers.
    assert await ok(a, "system.listMethods")


def raw_call(inner):
    return "<query xmlns='%s'>%s</query>" % (NS_RPC, inner)


async def test_raw_calls_and_malformed_payloads(srv):
    a = await connect(srv, srv.admin, "raw")
    # A <value/> without a type element is a string (XML-RPC).
    r = await a.iq(raw_call("<methodCall><methodName>system.methodHelp</methodName><params>"
                            "<param><value>yerba.kick</value></param></params></methodCall>"),
                   itype="set", to="localhost")
    assert r.type == "result", r
    s = r.xml.find(".//" + q("string", NS_RPC))
    assert s is not None and "kick" in s.text
    bad = [
        "",                                                       # no methodCall
        "<methodCall><methodName>a</methodName></methodCall><methodCall/>",
        "<methodCall/>",                                          # no methodName
        "<methodCall><methodName>system.listMethods</methodName><params><param><value>"
        "<int>99999999999</int></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><nil/></value>"
        "</param></params></methodCall>",
        "<methodCall><methodName>x</methodName>stray text</methodCall>",
        "<methodResponse><params/></methodResponse>",
        "<methodCall><methodName>x</methodName><params><param><value><struct><member>"
        "<name>a</name></member></struct></value></param></params></methodCall>",
    ]
    for inner in bad:
        r = await a.iq(raw_call(inner), itype="set", to="localhost")
        assert r.type == "error" and r.error == "bad-request", (inner, r)
    # Nesting: 16 levels of values are accepted (the call then has a parameter too
    # many), 17 are refused (XMLRPC_MAX_DEPTH).
    def nested(n):
        return ("<value><array><data>" * (n - 1) + "<value>x</value>"
                + "</data></array></value>" * (n - 1))
    r = await a.iq(raw_call("<methodCall><methodName>system.listMethods</methodName><params>"
                            "<param>%s</param></params></methodCall>" % nested(16)),
                   itype="set", to="localhost")
    assert r.type == "result", r
    code = r.xml.find(".//" + q("int", NS_RPC))
    assert code is not None and int(code.text) == FAULT_PARAMS, r
    r = await a.iq(raw_call("<methodCall><methodName>system.listMethods</methodName><params>"
                            "<param>%s</param></params></methodCall>" % nested(17)),
                   itype="set", to="localhost")
    assert r.type == "error" and r.error == "bad-request", r
    # A get is not a call.
    r = await a.iq(raw_call("<methodCall><methodName>system.listMethods</methodName>"
                            "</methodCall>"), itype="get", to="localhost")
    assert r.type == "error" and r.error == "service-unavailable", r


async def test_non_admin_forbidden(srv):
    acct = srv.new_account()
    u = await rpc_client(srv, acct)
    for method, args in (("system.listMethods", ()), ("yerba.addUser", ("z@localhost", "p")),
                         ("yerba.kick", (srv.admin.jid,))):
        kind, cond = await call(u, method, *args)
        assert (kind, cond) == ("error", "forbidden"), (method, kind, cond)
    # Nothing happened.
    a = await rpc_client(srv, srv.admin)
    code, _ = await fault(a, "yerba.deleteUser", "z@localhost")
    assert code == FAULT_APP
