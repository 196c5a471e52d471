# SPDX-License-Identifier: MIT
"""XEP-0077 In-Band Registration (mod_register): account creation before
authentication over TLS (plain fields and the XEP-0004 form), the host policies
(closed, open, networks), reserved usernames, the per-address hourly limit, the
error cases of §3.1, and, once authenticated, <registered/>, password change (§3.3)
and account removal (§3.2)."""
import secrets

import pytest
from slixmpp.exceptions import IqError

import harness
import rawxmpp
from rawxmpp import q, stanza_error_condition, xml_escape
from slixclient import Client, connect

NS_REG = "jabber:iq:register"
NS_REG_FEATURE = "http://jabber.org/features/iq-register"
NS_DATA = "jabber:x:data"

OPEN = "open.test"          # open, no hourly limit, "boss" reserved
CLOSED = "closed.test"      # the default policy
NET_OK = "netok.test"       # networks: 127.0.0.1/32
NET_OTHER = "netother.test"  # networks: 10.0.0.0/8 and ::1/128
LIMITED = "limited.test"    # open, 2 registrations per hour per address

HOSTS = [
    {"domain": OPEN, "registration": "open", "registrations_per_hour": 0,
     "reserved_usernames": ["boss"]},
    {"domain": CLOSED},
    {"domain": NET_OK, "registration": "networks", "registration_networks": ["127.0.0.1/32"],
     "registrations_per_hour": 0},
    {"domain": NET_OTHER, "registration": "networks",
     "registration_networks": ["10.0.0.0/8", "::1/128"], "registrations_per_hour": 0},
    {"domain": LIMITED, "registration": "open", "registrations_per_hour": 2},
]


def _stop(s):
    rc = s.stop()
    reports = s.sanitizer_reports()
    assert not reports, "sanitizer reports in %s:\n%s" % (s.log_path, "\n".join(reports[:20]))
    assert rc == 0, "yerbad exited %s on SIGTERM:\n%s" % (rc, s.log_tail())


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = harness.Server(tmp_path_factory.mktemp("register"), hosts=HOSTS)
    s.start()
    yield s
    _stop(s)


def fresh_name(prefix="reg"):
    return "%s%s" % (prefix, secrets.token_hex(4))


def preauth(server, domain, kind="starttls", tls=True):
    """A raw stream to domain, after STARTTLS (unless tls is False), not
    authenticated; its last features are in .features."""
    c = server.raw(kind, domain=domain)
    c.open_stream(to=domain)
    c.read_features()
    if tls:
        c.starttls()
        c.open_stream(to=domain)
        c.read_features()
    return c


def offers_register(c):
    return c.features.find(q("register", NS_REG_FEATURE)) is not None


def reg_query(username=None, password=None, extra=""):
    inner = ""
    if username is not None:
        inner += "<username>%s</username>" % xml_escape(username)
    if password is not None:
        inner += "<password>%s</password>" % xml_escape(password)
    return "<query xmlns='%s'>%s%s</query>" % (NS_REG, inner, extra)


def register_raw(c, username, password):
    """Sends a registration set; returns None on success or the error condition."""
    el = c.iq(reg_query(username, password), "set")
    if el.get("type") == "result":
        return None
    return stanza_error_condition(el)


def can_login(server, domain, user, password):
    # Failed logins come from another loopback address so that the server's
    # per-address auth-failure delay does not slow the other tests.
    c = server.raw(domain=domain, source="127.0.0.3")
    try:
        c.login(user, password, host=domain)
        return True
    except (AssertionError, rawxmpp.StreamClosed):
        return False
    finally:
        c.close()


class Registrant(Client):
    """A slixmpp client that registers its account with xep_0077 when the server
    offers the stream feature, then logs in with it."""

    def __init__(self, server, account, **kw):
        super().__init__(server, account, **kw)
        self.register_plugin("xep_0077")
        # COMPAT: slixmpp 1.8.3 queues every iq but bind/session until the session
        # starts, so xep_0077's own pre-auth registration would never be sent.
        self._always_send_everything = True
        self.reg_form = None
        self.reg_error = None
        self.registered = False
        self.add_event_handler("register", self._on_register)

    async def _on_register(self, form):
        self.reg_form = form
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send()
            self.registered = True
        except IqError as e:
            self.reg_error = e.iq["error"]["condition"]


# --- registration -----------------------------------------------------------


async def test_slixmpp_registers_then_logs_in(srv):
    acct = harness.Account("%s@%s" % (fresh_name(), OPEN), "pw-" + secrets.token_hex(6))
    c = Registrant(srv, acct)
    await c.login()
    assert c.registered and c.reg_error is None
    assert c.bare == acct.jid
    fields = c.reg_form["register"]
    assert "username" in fields.get_fields() or fields.xml.find(q("username", NS_REG)) is not None
    await c.close()
    # The account is real: another client logs in with it.
    again = await connect(srv, acct, "second")
    assert again.bare == acct.jid


def test_registration_fields_and_form(srv):
    c = preauth(srv, OPEN)
    assert offers_register(c)
    el = c.iq("<query xmlns='%s'/>" % NS_REG)
    assert el.get("type") == "result", rawxmpp.tostr(el)
    query = el.find(q("query", NS_REG))
    assert query.find(q("instructions", NS_REG)) is not None
    assert query.find(q("username", NS_REG)) is not None
    assert query.find(q("password", NS_REG)) is not None
    assert query.find(q("registered", NS_REG)) is None
    x = query.find(q("x", NS_DATA))
    assert x is not None and x.get("type") == "form"
    fields = {f.get("var"): f for f in x.findall(q("field", NS_DATA))}
    assert fields["FORM_TYPE"].get("type") == "hidden"
    assert fields["FORM_TYPE"].find(q("value", NS_DATA)).text == NS_REG
    assert fields["username"].find(q("required", NS_DATA)) is not None
    assert fields["password"].get("type") == "text-private"


def test_register_then_authenticate_on_same_stream(srv):
    user, pw = fresh_name(), "s3cret-" + secrets.token_hex(4)
    c = preauth(srv, OPEN)
    assert register_raw(c, user, pw) is None
    r = c.auth_plain(user, pw)
    assert r.ok, r
    c.open_stream(to=OPEN)
    c.read_features()
    jid, err = c.bind("here")
    assert jid == "%s@%s/here" % (user, OPEN), err
    # The username was nodeprep'd: upper case registers the lower-case account.
    c2 = preauth(srv, OPEN)
    upper = fresh_name("UP")
    assert register_raw(c2, upper, pw) is None
    assert can_login(srv, OPEN, upper.lower(), pw)


def test_data_form_registration(srv):
    user, pw = fresh_name("form"), "pw-" + secrets.token_hex(6)
    c = preauth(srv, OPEN)
    form = ("<x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
            "<field var='username'><value>%s</value></field>"
            "<field var='password'><value>%s</value></field></x>" % (NS_DATA, NS_REG, user, pw))
    el = c.iq(reg_query(extra=form), "set")
    assert el.get("type") == "result", rawxmpp.tostr(el)
    assert can_login(srv, OPEN, user, pw)

    # A form without the required password, and a malformed form.
    missing = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s</value></field>"
               "<field var='username'><value>%s</value></field></x>"
               % (NS_DATA, NS_REG, fresh_name()))
    assert stanza_error_condition(c.iq(reg_query(extra=missing), "set")) == "not-acceptable"
    bad = "<x xmlns='%s' type='bogus'/>" % NS_DATA
    assert stanza_error_condition(c.iq(reg_query(extra=bad), "set")) == "bad-request"


def test_duplicate_username_conflict(srv):
    user = fresh_name("dup")
    c = preauth(srv, OPEN)
    assert register_raw(c, user, "first-pw") is None
    assert register_raw(c, user, "second-pw") == "conflict"
    # An account made by the operator conflicts too.
    acct = srv.new_account("made", domain=OPEN)
    assert register_raw(c, acct.user, "x-pw") == "conflict"
    assert can_login(srv, OPEN, user, "first-pw")


def test_missing_or_empty_fields_not_acceptable(srv):
    c = preauth(srv, OPEN)
    user = fresh_name("miss")
    # XEP-0077 §3.1: missing or empty fields (including <password/>) are not-acceptable.
    assert stanza_error_condition(c.iq(reg_query(user), "set")) == "not-acceptable"
    assert stanza_error_condition(c.iq(reg_query(user, ""), "set")) == "not-acceptable"
    assert stanza_error_condition(c.iq(reg_query(None, "pw"), "set")) == "not-acceptable"
    assert stanza_error_condition(c.iq(reg_query("", "pw"), "set")) == "not-acceptable"
    # A username that is not a valid localpart.
    assert register_raw(c, "bad@name", "pw") == "not-acceptable"
    assert register_raw(c, "bad name", "pw") == "not-acceptable"
    # <remove/> before authentication (§3.2: unexpected-request).
    el = c.iq("<query xmlns='%s'><remove/></query>" % NS_REG, "set")
    assert stanza_error_condition(el) == "unexpected-request"
    # The password is not echoed back in the error (nothing but <error/>).
    el = c.iq(reg_query("bad@name", "do-not-echo"), "set")
    assert "do-not-echo" not in rawxmpp.tostr(el)
    assert not can_login(srv, OPEN, user, "pw")


def test_reserved_usernames_refused(srv):
    c = preauth(srv, OPEN)
    for name in ("boss", "BOSS", "admin", "postmaster", "Root"):
        assert register_raw(c, name, "pw-123") == "not-acceptable", name
    # Not reserved elsewhere than its host: "boss" is only reserved on OPEN.
    c2 = preauth(srv, NET_OK)
    assert register_raw(c2, "boss", "pw-123") is None


def test_closed_host_refuses(srv):
    c = preauth(srv, CLOSED)
    assert not offers_register(c)
    # §3.1: a host that does not offer registration answers service-unavailable.
    assert stanza_error_condition(c.iq("<query xmlns='%s'/>" % NS_REG)) == "service-unavailable"
    assert register_raw(c, fresh_name(), "pw") == "not-allowed"


def test_networks_policy(srv):
    # 127.0.0.1 is in 127.0.0.1/32.
    c = preauth(srv, NET_OK)
    assert offers_register(c)
    user = fresh_name("net")
    assert register_raw(c, user, "pw-net") is None
    assert can_login(srv, NET_OK, user, "pw-net")
    # 127.0.0.1 is in neither 10.0.0.0/8 nor ::1/128.
    c = preauth(srv, NET_OTHER)
    assert not offers_register(c)
    assert stanza_error_condition(c.iq("<query xmlns='%s'/>" % NS_REG)) == "service-unavailable"
    assert register_raw(c, fresh_name(), "pw") == "not-allowed"
    # ... but ::1 is in ::1/128, and not in 127.0.0.1/32.
    c6 = preauth(srv, NET_OTHER, kind="v6")
    assert offers_register(c6)
    assert register_raw(c6, fresh_name("v6"), "pw-v6") is None
    c6 = preauth(srv, NET_OK, kind="v6")
    assert not offers_register(c6)
    assert register_raw(c6, fresh_name(), "pw") == "not-allowed"


def test_hourly_limit_per_address(srv):
    names = [fresh_name("lim") for _ in range(3)]
    results = []
    for name in names:
        c = preauth(srv, LIMITED)   # a new stream each time: the limit is per address
        results.append(register_raw(c, name, "pw-lim"))
        c.close()
    assert results[:2] == [None, None]
    assert results[2] == "resource-constraint"
    assert not can_login(srv, LIMITED, names[2], "pw-lim")
    # The budget is per host: the same address still registers elsewhere.
    c = preauth(srv, OPEN)
    assert register_raw(c, fresh_name(), "pw") is None


class DualStackServer(harness.Server):
    """A server with one more STARTTLS listener on "::", where IPv4 clients arrive
    as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d). (The net layer reports them as
    plain IPv4 today; mod_register maps both forms to the same address anyway.)"""

    def __init__(self, *args, **kw):
        self.dual_port = harness.free_port("::1")
        super().__init__(*args, **kw)

    def config_text(self, extra_hosts=()):
        return super().config_text(extra_hosts).replace(
            "listeners:\n",
            'listeners:\n  - {type: c2s, tls: starttls, address: "::", port: %d}\n'
            % self.dual_port, 1)


def test_networks_match_ipv4_mapped_addresses(tmp_path):
    s = DualStackServer(tmp_path / "dual", hosts=[
        {"domain": "v4.test", "registration": "networks", "registration_networks": ["127.0.0.0/8"],
         "registrations_per_hour": 0},
        {"domain": "v6.test", "registration": "networks", "registration_networks": ["::1/128"],
         "registrations_per_hour": 0}])
    s.start()
    try:
        def dual(domain):
            c = rawxmpp.RawXMPP("127.0.0.1", s.dual_port, server_name=domain,
                                cafile=s.cert(domain))
            c.open_stream(to=domain)
            c.read_features()
            c.starttls()
            c.open_stream(to=domain)
            c.read_features()
            return c
        c = dual("v4.test")
        assert offers_register(c)
        assert register_raw(c, fresh_name("mapped"), "pw-m") is None
        c = dual("v6.test")
        assert not offers_register(c)
        assert register_raw(c, fresh_name(), "pw") == "not-allowed"
    finally:
        _stop(s)


def test_plaintext_registration_refused(srv):
    c = preauth(srv, OPEN, tls=False)
    assert not offers_register(c)
    # RFC 6120 §4.9.3.12 (require_tls): stanzas before authentication end the stream.
    c.send("<iq type='set' id='r1'>%s</iq>" % reg_query(fresh_name(), "pw"))
    assert c.expect_stream_error() == "not-authorized"


def test_plaintext_registration_refused_without_require_tls(make_server):
    s = make_server(hosts=[{"domain": "localhost", "registration": "open",
                            "registrations_per_hour": 0}], c2s={"require_tls": False})
    c = preauth(s, "localhost", tls=False)
    assert not offers_register(c)
    user = fresh_name("plain")
    assert stanza_error_condition(c.iq(reg_query(user, "pw"), "set")) == "not-authorized"
    assert stanza_error_condition(c.iq("<query xmlns='%s'/>" % NS_REG)) == "not-authorized"
    # The same server registers over TLS.
    c = preauth(s, "localhost")
    assert offers_register(c)
    assert register_raw(c, user, "pw") is None


# --- once authenticated ------------------------------------------------------


def test_authenticated_get_says_registered(srv):
    acct = srv.new_account("known", domain=CLOSED)
    c = srv.raw(domain=CLOSED)
    c.login(acct.user, acct.password, host=CLOSED)
    assert not offers_register(c)   # not offered after authentication
    for to in (None, CLOSED):
        el = c.iq("<query xmlns='%s'/>" % NS_REG, to=to)
        assert el.get("type") == "result", rawxmpp.tostr(el)
        query = el.find(q("query", NS_REG))
        assert query.find(q("registered", NS_REG)) is not None
        assert query.find(q("username", NS_REG)).text == acct.user


async def test_password_change(srv):
    acct = srv.new_account("pwc", domain=CLOSED)
    c = await connect(srv, acct)
    c.register_plugin("xep_0077")
    await c["xep_0077"].change_password("new-" + acct.password, jid=CLOSED)
    await c.close()
    assert not can_login(srv, CLOSED, acct.user, acct.password)
    assert can_login(srv, CLOSED, acct.user, "new-" + acct.password)


def test_password_change_errors(srv):
    acct = srv.new_account("pwe", domain=CLOSED)
    other = srv.new_account("pwo", domain=CLOSED)
    c = srv.raw(domain=CLOSED)
    c.login(acct.user, acct.password, host=CLOSED)
    # §3.3: no (or an empty) password keeps the old one.
    assert stanza_error_condition(c.iq(reg_query(acct.user), "set")) == "bad-request"
    assert stanza_error_condition(c.iq(reg_query(acct.user, ""), "set")) == "bad-request"
    # Only one's own account.
    el = c.iq(reg_query(other.user, "hijacked"), "set")
    assert stanza_error_condition(el) == "forbidden"
    assert "hijacked" not in rawxmpp.tostr(el)
    # Someone else's bare JID as the target.
    el = c.iq(reg_query(other.user, "hijacked"), "set", to=other.jid)
    assert stanza_error_condition(el) == "forbidden"
    # <remove/> with other children is a bad request.
    el = c.iq("<query xmlns='%s'><remove/><username>%s</username></query>"
              % (NS_REG, acct.user), "set")
    assert stanza_error_condition(el) == "bad-request"
    # The bare JID form of the username and the change-password form both work.
    assert c.iq(reg_query(acct.jid, "second-pw"), "set").get("type") == "result"
    form = ("<x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE'><value>jabber:iq:register:changepassword</value></field>"
            "<field var='username'><value>%s</value></field>"
            "<field var='password'><value>third-pw</value></field></x>" % (NS_DATA, acct.user))
    assert c.iq(reg_query(extra=form), "set").get("type") == "result"
    assert c.roster_alive()
    assert can_login(srv, CLOSED, acct.user, "third-pw")
    assert can_login(srv, CLOSED, other.user, other.password)


def test_remove_account(srv):
    acct = srv.new_account("rm", domain=CLOSED)
    other = srv.raw(domain=CLOSED)
    other.login(acct.user, acct.password, host=CLOSED, resource="other")
    c = srv.raw(domain=CLOSED)
    c.login(acct.user, acct.password, host=CLOSED)
    # §3.2: the result, then the account's sessions end with not-authorized.
    el = c.iq("<query xmlns='%s'><remove/></query>" % NS_REG, "set")
    assert el.get("type") == "result", rawxmpp.tostr(el)
    assert c.expect_stream_error() == "not-authorized"
    assert other.expect_stream_error() == "not-authorized"
    assert not can_login(srv, CLOSED, acct.user, acct.password)


async def test_slixmpp_cancel_registration(srv):
    acct = harness.Account("%s@%s" % (fresh_name("cx"), OPEN), "pw-" + secrets.token_hex(6))
    c = Registrant(srv, acct)
    await c.login()
    assert c.registered
    await c["xep_0077"].cancel_registration(jid=OPEN)
    await c.wait_disconnected()
    assert "not-authorized" in c.stream_errors
    assert not can_login(srv, OPEN, acct.user, acct.password)
