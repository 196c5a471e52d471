# SPDX-License-Identifier: MIT
"""XEP-0050 Ad-Hoc Commands and the XEP-0133 Service Administration commands
(mod_adhoc): discovery of the commands (admins only), each admin command end to end
with its effect checked (accounts created, deleted and changed, sessions ended,
announcements and the message of the day delivered), and the XEP-0050 error cases
(forbidden, item-not-found, malformed-action, bad-action, bad-sessionid,
session-expired, bad-payload)."""
import asyncio
import secrets
import xml.etree.ElementTree as ET

import pytest

import harness
from conftest import _finish
from rawxmpp import NS_STANZA_ERR, local, ns_of, q
from slixclient import Client, LoginFailed, connect

NS_CMD = "http://jabber.org/protocol/commands"
NS_ADMIN = "http://jabber.org/protocol/admin"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

ADMIN_COMMANDS = ["add-user", "delete-user", "change-user-password", "end-user-session",
                  "get-registered-users-num", "get-online-users-num",
                  "get-online-users-list", "announce", "set-motd", "edit-motd",
                  "delete-motd"]


def node(name):
    return "%s#%s" % (NS_ADMIN, name)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = harness.Server(tmp_path_factory.mktemp("adhoc"),
                       hosts=[{"domain": "localhost", "admins": ["admin@localhost"]}])
    s.start()
    # The first run created admin@localhost with a random password; set ours.
    password = "admin-" + secrets.token_hex(6)
    s.ctl("passwd", "admin@localhost", password)
    s.admin = harness.Account("admin@localhost", password)
    yield s
    _finish(s)


# --- helpers ------------------------------------------------------------------

def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;"))


def submit_form(fields, form_type="submit", with_form_type=True):
    """<x type=submit/> with fields {var: value or [values]}."""
    out = ["<x xmlns='%s' type='%s'>" % (NS_DATA, form_type)]
    if with_form_type:
        out.append("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_ADMIN)
    for var, vals in fields.items():
        if isinstance(vals, str):
            vals = [vals]
        out.append("<field var='%s'>%s</field>" % (
            var, "".join("<value>%s</value>" % xml_escape(v) for v in vals)))
    out.append("</x>")
    return "".join(out)


def command(node_name, action=None, sid=None, payload=""):
    attrs = " node='%s'" % node_name
    if action is not None:
        attrs += " action='%s'" % action
    if sid is not None:
        attrs += " sessionid='%s'" % sid
    return "<command xmlns='%s'%s>%s</command>" % (NS_CMD, attrs, payload)


def cmd_el(resp):
    el = resp.xml.find(q("command", NS_CMD))
    assert el is not None, "no <command/> in %r" % resp
    return el


def fields_of(el):
    """{var: [values]} of the first data form inside el."""
    x = el.find(q("x", NS_DATA))
    assert x is not None, "no form in %s" % ET.tostring(el)
    out = {}
    for f in x.findall(q("field", NS_DATA)):
        out[f.get("var")] = [v.text or "" for v in f.findall(q("value", NS_DATA))]
    return out


def errors_of(resp):
    """(general condition, specific commands condition or None) of an iq error."""
    assert resp.type == "error", "expected an error, got %r" % resp
    err = resp.xml.find(q("error"))
    general = specific = None
    for child in err:
        if ns_of(child.tag) == NS_STANZA_ERR and local(child.tag) != "text":
            general = local(child.tag)
        elif ns_of(child.tag) == NS_CMD:
            specific = local(child.tag)
    return general, specific


async def execute(c, name, **kw):
    return await c.iq(command(node(name), action="execute", **kw), itype="set", to="localhost")


async def start(c, name):
    """First stage: returns (sessionid, offered fields)."""
    r = await execute(c, name)
    assert r.type == "result", r
    el = cmd_el(r)
    assert el.get("status") == "executing", r
    assert el.get("node") == node(name)
    actions = el.find(q("actions", NS_CMD))
    assert actions is not None and actions.find(q("complete", NS_CMD)) is not None, r
    form = el.find(q("x", NS_DATA))
    assert form is not None and form.get("type") == "form", r
    assert fields_of(el)["FORM_TYPE"] == [NS_ADMIN]
    return el.get("sessionid"), fields_of(el)


async def submit(c, name, sid, fields, action="complete", **kw):
    return await c.iq(command(node(name), action=action, sid=sid,
                              payload=submit_form(fields, **kw)),
                      itype="set", to="localhost")


async def run(c, name, fields):
    """Both stages; returns the completed <command/> element."""
    sid, _ = await start(c, name)
    r = await submit(c, name, sid, fields)
    assert r.type == "result", r
    el = cmd_el(r)
    assert el.get("status") == "completed", r
    assert el.get("sessionid") == sid
    return el


def note_of(el):
    n = el.find(q("note", NS_CMD))
    return (n.get("type"), n.text) if n is not None else (None, None)


async def admin(srv, resource="adm"):
    return await connect(srv, srv.admin, resource)


# --- discovery ----------------------------------------------------------------

async def test_commands_listed_for_admins_only(srv):
    a = await admin(srv)
    a.register_plugin("xep_0030")
    a.register_plugin("xep_0050")
    items = await a["xep_0050"].get_commands("localhost")
    listed = {i[1]: i for i in items["disco_items"]["items"]}
    assert set(listed) == {node(n) for n in ADMIN_COMMANDS}, listed
    assert all(str(i[0]) == "localhost" and i[2] for i in listed.values())

    # The host advertises the commands feature.
    info = await a.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in info.xml.iter(q("feature", NS_DISCO_INFO))}
    assert NS_CMD in feats

    # disco#info on a command node (XEP-0050 §2.3).
    r = await a.iq("<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO, node("add-user")),
                   to="localhost")
    assert r.type == "result", r
    ids = [(i.get("category"), i.get("type")) for i in r.xml.iter(q("identity", NS_DISCO_INFO))]
    assert ids == [("automation", "command-node")]
    feats = {f.get("var") for f in r.xml.iter(q("feature", NS_DISCO_INFO))}
    assert {NS_CMD, NS_DATA} <= feats

    u = await connect(srv, srv.new_account())
    r = await u.iq("<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_CMD), to="localhost")
    assert r.type == "result", r
    assert r.xml.findall(".//" + q("item", NS_DISCO_ITEMS)) == []
    r = await u.iq("<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO, node("add-user")),
                   to="localhost")
    assert r.type == "error" and r.error == "item-not-found", r


async def test_non_admin_is_forbidden(srv):
    u = await connect(srv, srv.new_account())
    for name in ("add-user", "get-online-users-num", "announce"):
        r = await execute(u, name)
        assert errors_of(r) == ("forbidden", None), r
    # Not even with an admin's session id.
    a = await admin(srv)
    sid, _ = await start(a, "announce")
    r = await submit(u, "announce", sid, {"announcement": "nope"})
    assert errors_of(r) == ("forbidden", None), r
    await u.messages.none(lambda s: s.body == "nope")


# --- accounts -----------------------------------------------------------------

async def test_add_user_then_log_in(srv):
    a = await admin(srv)
    jid = "added%s@localhost" % secrets.token_hex(3)
    el = await run(a, "add-user", {"accountjid": jid, "password": "s3cret!",
                                   "password-verify": "s3cret!"})
    assert note_of(el)[0] == "info"
    c = await connect(srv, harness.Account(jid, "s3cret!"))
    assert c.session_ok

    # The same account again: conflict.
    sid, _ = await start(a, "add-user")
    r = await submit(a, "add-user", sid, {"accountjid": jid, "password": "x",
                                          "password-verify": "x"})
    assert errors_of(r) == ("conflict", None), r


async def test_add_user_bad_payloads_keep_the_session(srv):
    a = await admin(srv)
    jid = "retry%s@localhost" % secrets.token_hex(3)
    sid, offered = await start(a, "add-user")
    assert {"accountjid", "password", "password-verify"} <= set(offered)
    # Passwords that differ.
    r = await submit(a, "add-user", sid, {"accountjid": jid, "password": "a",
                                          "password-verify": "b"})
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    # A required field missing.
    r = await submit(a, "add-user", sid, {"password": "a", "password-verify": "a"})
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    # A JID of another domain, and a malformed one.
    for bad in ("someone@example.net", "bad@@jid"):
        r = await submit(a, "add-user", sid, {"accountjid": bad, "password": "a",
                                              "password-verify": "a"})
        assert errors_of(r) == ("bad-request", "bad-payload"), r
    # No form at all, a form of the wrong type, a malformed form.
    r = await a.iq(command(node("add-user"), action="complete", sid=sid), itype="set",
                   to="localhost")
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    r = await submit(a, "add-user", sid, {"accountjid": jid}, form_type="result")
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    r = await a.iq(command(node("add-user"), action="complete", sid=sid,
                           payload="<x xmlns='%s' type='submit'><field var='accountjid' "
                                   "type='no-such-type'><value>%s</value></field></x>"
                                   % (NS_DATA, jid)),
                   itype="set", to="localhost")
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    # The session is still open: a good submission (action execute = complete).
    r = await submit(a, "add-user", sid, {"accountjid": jid, "password": "good",
                                          "password-verify": "good"}, action="execute")
    assert r.type == "result" and cmd_el(r).get("status") == "completed", r
    await connect(srv, harness.Account(jid, "good"))


async def test_change_user_password(srv):
    a = await admin(srv)
    acct = srv.new_account()
    await run(a, "change-user-password", {"accountjid": acct.jid, "password": "n3w-pass"})
    await connect(srv, harness.Account(acct.jid, "n3w-pass"))
    with pytest.raises(LoginFailed):
        await connect(srv, acct, "old")
    # Unknown account.
    sid, _ = await start(a, "change-user-password")
    r = await submit(a, "change-user-password", sid,
                     {"accountjid": "nobody%s@localhost" % secrets.token_hex(3),
                      "password": "x"})
    assert errors_of(r) == ("item-not-found", None), r


async def test_delete_user(srv):
    a = await admin(srv)
    victim = srv.new_account()
    other = srv.new_account()
    v = await connect(srv, victim)
    missing = "ghost%s@localhost" % secrets.token_hex(3)
    el = await run(a, "delete-user", {"accountjids": [victim.jid, other.jid]})
    assert note_of(el) == ("info", "Deleted 2 account(s)."), note_of(el)
    await v.wait_disconnected()
    for acct in (victim, other):
        with pytest.raises(LoginFailed):
            await connect(srv, acct, "again")
    # A missing account is reported in the note.
    el = await run(a, "delete-user", {"accountjids": [missing]})
    t, text = note_of(el)
    assert t == "error" and missing in text, text


async def test_end_user_session(srv):
    a = await admin(srv)
    acct = srv.new_account()
    r1 = await connect(srv, acct, "one")
    r2 = await connect(srv, acct, "two")
    r3 = await connect(srv, acct, "three")
    el = await run(a, "end-user-session", {"accountjids": [r1.jid]})
    assert note_of(el) == ("info", "Ended 1 session(s)."), note_of(el)
    await r1.wait_disconnected()
    assert "policy-violation" in r1.stream_errors
    await asyncio.sleep(0.3)
    assert r2.is_connected and r3.is_connected
    # The bare JID: every session of the account.
    el = await run(a, "end-user-session", {"accountjids": [acct.jid]})
    assert note_of(el) == ("info", "Ended 2 session(s)."), note_of(el)
    await r2.wait_disconnected()
    await r3.wait_disconnected()
    # The account itself is untouched.
    await connect(srv, acct, "back")


# --- counts and lists ---------------------------------------------------------

async def one_stage_value(c, name, var):
    r = await execute(c, name)
    assert r.type == "result", r
    el = cmd_el(r)
    assert el.get("status") == "completed" and el.get("sessionid"), r
    x = el.find(q("x", NS_DATA))
    assert x.get("type") == "result"
    f = fields_of(el)
    assert f["FORM_TYPE"] == [NS_ADMIN]
    return f[var]


async def test_registered_and_online_counts_and_list(srv):
    a = await admin(srv)
    before = int((await one_stage_value(a, "get-registered-users-num", "registeredusersnum"))[0])
    srv.new_account()
    acct = srv.new_account()
    after = int((await one_stage_value(a, "get-registered-users-num", "registeredusersnum"))[0])
    assert after == before + 2

    online_before = int((await one_stage_value(a, "get-online-users-num", "onlineusersnum"))[0])
    c1 = await connect(srv, acct, "x")
    await connect(srv, acct, "y")  # the same account twice counts once
    online = int((await one_stage_value(a, "get-online-users-num", "onlineusersnum"))[0])
    assert online == online_before + 1

    sid, offered = await start(a, "get-online-users-list")
    assert "max_items" in offered
    r = await submit(a, "get-online-users-list", sid, {"max_items": "none"})
    jids = fields_of(cmd_el(r))["onlineuserjids"]
    assert acct.jid in jids and srv.admin.jid in jids
    assert jids == sorted(set(jids))
    # max_items must be one of the options.
    sid, _ = await start(a, "get-online-users-list")
    r = await submit(a, "get-online-users-list", sid, {"max_items": "7"})
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    r = await submit(a, "get-online-users-list", sid, {"max_items": "25"})
    assert r.type == "result", r
    await c1.close()


# --- announcements and message of the day -------------------------------------

async def test_announce_reaches_online_users(srv):
    a = await admin(srv)
    u1 = await connect(srv, srv.new_account())
    u2 = await connect(srv, srv.new_account(), "phone")
    text = ["Maintenance at noon.", "Please log off."]
    el = await run(a, "announce", {"subject": "Notice", "announcement": text})
    assert note_of(el)[0] == "info"
    for c in (u1, u2, a):
        m = await c.message_with("\n".join(text))
        assert m.frm == "localhost" and m.type == "headline"
        assert m.xml.findtext(q("subject")) == "Notice"


async def test_message_of_the_day(srv):
    a = await admin(srv)
    online = await connect(srv, srv.new_account())
    later = srv.new_account()
    motd = "Welcome %s" % secrets.token_hex(3)
    await run(a, "set-motd", {"motd": motd})
    # Online users get it at once.
    m = await online.message_with(motd)
    assert m.frm == "localhost" and m.type == "normal"
    # A user logging in later gets it at login, once.
    c = await connect(srv, later, "first")
    m = await c.message_with(motd)
    assert m.frm == "localhost"
    c2 = await connect(srv, later, "second")
    await c2.messages.none(lambda s: s.body == motd)
    await c.close()
    await c2.close()

    # edit-motd offers the current text, line by line.
    sid, offered = await start(a, "edit-motd")
    assert offered["motd"] == [motd]
    edited = [motd, "Second line"]
    r = await submit(a, "edit-motd", sid, {"motd": edited})
    assert cmd_el(r).get("status") == "completed", r
    await online.message_with("\n".join(edited))
    # The edited text is new to the later user: delivered at the next login.
    c3 = await connect(srv, later, "third")
    await c3.message_with("\n".join(edited))

    # delete-motd runs at once; nobody gets it afterwards.
    r = await execute(a, "delete-motd")
    assert r.type == "result" and cmd_el(r).get("status") == "completed", r
    fresh = await connect(srv, srv.new_account())
    await fresh.messages.none(lambda s: s.frm == "localhost")
    sid, offered = await start(a, "edit-motd")
    assert offered["motd"] == []
    r = await a.iq(command(node("edit-motd"), action="cancel", sid=sid), itype="set",
                   to="localhost")
    assert cmd_el(r).get("status") == "canceled"


# --- XEP-0050 error cases -----------------------------------------------------

async def test_command_errors(srv):
    a = await admin(srv)
    # Unknown command node.
    r = await a.iq(command(NS_ADMIN + "#no-such-command"), itype="set", to="localhost")
    assert errors_of(r) == ("item-not-found", None), r
    # Unknown action: malformed-action.
    r = await a.iq(command(node("announce"), action="dance"), itype="set", to="localhost")
    assert errors_of(r) == ("bad-request", "malformed-action"), r
    # A session id we never gave: bad-sessionid.
    r = await submit(a, "announce", "not-a-session", {"announcement": "x"})
    assert errors_of(r) == ("bad-request", "bad-sessionid"), r
    # prev/next on a single-stage command: bad-action; the session stays usable.
    sid, _ = await start(a, "announce")
    for action in ("prev", "next"):
        r = await a.iq(command(node("announce"), action=action, sid=sid), itype="set",
                       to="localhost")
        assert errors_of(r) == ("bad-request", "bad-action"), r
    # Only execute starts a command.
    r = await a.iq(command(node("announce"), action="complete"), itype="set", to="localhost")
    assert errors_of(r) == ("bad-request", "bad-action"), r
    # The session id of another command, or of another resource: bad-sessionid.
    r = await submit(a, "add-user", sid, {"accountjid": "z@localhost", "password": "p",
                                          "password-verify": "p"})
    assert errors_of(r) == ("bad-request", "bad-sessionid"), r
    other = await admin(srv, "other")
    r = await submit(other, "announce", sid, {"announcement": "hijack"})
    assert errors_of(r) == ("bad-request", "bad-sessionid"), r
    # Cancel, then the session is gone: session-expired.
    r = await a.iq(command(node("announce"), action="cancel", sid=sid), itype="set",
                   to="localhost")
    assert r.type == "result" and cmd_el(r).get("status") == "canceled", r
    r = await submit(a, "announce", sid, {"announcement": "late"})
    assert errors_of(r) == ("not-allowed", "session-expired"), r
    # A completed session is gone too.
    sid, _ = await start(a, "get-online-users-list")
    r = await submit(a, "get-online-users-list", sid, {"max_items": "none"})
    assert r.type == "result", r
    r = await submit(a, "get-online-users-list", sid, {"max_items": "none"})
    assert errors_of(r) == ("not-allowed", "session-expired"), r
    # A form of type cancel cancels too.
    sid, _ = await start(a, "announce")
    r = await submit(a, "announce", sid, {}, form_type="cancel", with_form_type=False)
    assert r.type == "result" and cmd_el(r).get("status") == "canceled", r
    # The wrong FORM_TYPE.
    sid, _ = await start(a, "announce")
    r = await a.iq(command(node("announce"), action="complete", sid=sid,
                           payload="<x xmlns='%s' type='submit'><field var='FORM_TYPE' "
                                   "type='hidden'><value>urn:other</value></field><field "
                                   "var='announcement'><value>x</value></field></x>" % NS_DATA),
                   itype="set", to="localhost")
    assert errors_of(r) == ("bad-request", "bad-payload"), r
    # A command without a node.
    r = await a.iq("<command xmlns='%s' action='execute'/>" % NS_CMD, itype="set",
                   to="localhost")
    assert r.type == "error" and r.error == "bad-request", r
    # The server is fine afterwards.
    assert (await one_stage_value(a, "get-online-users-num", "onlineusersnum"))
