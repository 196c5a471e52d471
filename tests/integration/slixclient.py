# SPDX-License-Identifier: MIT
"""slixmpp (Debian python3-slixmpp 1.8.3) clients with awaitable helpers.

A Client logs in the way a user's client does (TLS verified against the server's
generated certificate, SASL, bind, roster get, initial presence) and records every
message, presence, roster push and stream error it receives, so tests can await
"the next message matching X" with a bounded timeout, or assert that nothing
matching arrived within a short window.

slixmpp's own conveniences that would hide server behaviour are turned off:
subscription requests are not auto-approved, whitespace keepalives are off, and
DNS is bypassed (we always connect to the listener the test names).
"""
import asyncio
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from rawxmpp import (NS_DELAY, NS_ROSTER, local, q, xml_escape,
                     stanza_error_condition)

WAIT = 5.0         # default bound for "this must arrive"
QUIET = 1.0        # default window for "this must not arrive"

_live_clients = []


class LoginFailed(AssertionError):
    pass


class Stanza:
    """A received stanza as plain XML, independent of slixmpp's stanza classes."""

    def __init__(self, xml):
        self.xml = xml
        self.kind = local(xml.tag)
        self.type = xml.get("type", "normal" if self.kind == "message" else
                            "available" if self.kind == "presence" else None)
        self.frm = xml.get("from", "")
        self.to = xml.get("to", "")
        self.id = xml.get("id")

    @property
    def body(self):
        b = self.xml.find(q("body"))
        return b.text if b is not None else None

    @property
    def priority(self):
        p = self.xml.find(q("priority"))
        return int(p.text) if p is not None and p.text else 0

    @property
    def show(self):
        s = self.xml.find(q("show"))
        return s.text if s is not None else None

    @property
    def status(self):
        s = self.xml.find(q("status"))
        return s.text if s is not None else None

    @property
    def error(self):
        return stanza_error_condition(self.xml)

    @property
    def delay(self):
        d = self.xml.find(q("delay", NS_DELAY))
        return d

    def roster_items(self):
        query = self.xml.find(q("query", NS_ROSTER))
        return parse_roster(query)

    def __repr__(self):
        return ET.tostring(self.xml, encoding="unicode")[:400]


def parse_roster(query):
    items = {}
    if query is None:
        return items
    for it in query.findall(q("item", NS_ROSTER)):
        items[it.get("jid")] = {
            "subscription": it.get("subscription", "none"),
            "ask": it.get("ask"),
            "name": it.get("name"),
            "groups": sorted(g.text or "" for g in it.findall(q("group", NS_ROSTER))),
        }
    return items


def bare(jid):
    return jid.split("/", 1)[0]


class Inbox:
    """Received stanzas; get() consumes the first match, waiting if needed."""

    def __init__(self, name):
        self.name = name
        self.items = []
        self._event = asyncio.Event()

    def put(self, item):
        self.items.append(item)
        self._event.set()

    async def get(self, pred=None, timeout=WAIT, what=None):
        pred = pred or (lambda s: True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, item in enumerate(self.items):
                if pred(item):
                    del self.items[i]
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError("%s: no %s within %.1fs; unconsumed: %r"
                                     % (self.name, what or "matching stanza", timeout,
                                        self.items[-10:]))
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def none(self, pred=None, wait=QUIET, what=None):
        """Asserts that nothing matching arrives within `wait` seconds."""
        pred = pred or (lambda s: True)
        await asyncio.sleep(wait)
        bad = [s for s in self.items if pred(s)]
        assert not bad, "%s: unexpected %s: %r" % (self.name, what or "stanza", bad)

    def clear(self):
        self.items.clear()


class Client(slixmpp.ClientXMPP):
    """A logged-in-on-demand slixmpp client bound to a harness.Server."""

    def __init__(self, server, account, resource="slix", *, password=None, mech=None,
                 channel_binding=False, priority=None, show=None, status=None):
        super().__init__("%s/%s" % (account.jid, resource),
                         password if password is not None else account.password,
                         sasl_mech=mech)
        self.srv = server
        self.account = account
        self.priority = priority
        self.show_value = show
        self.status_value = status
        # Trust the server's self-signed certificate for this JID's domain; the
        # hostname check against the domain stays on.
        self.ca_certs = server.cert(account.domain)
        self.whitespace_keepalive = False
        self.auto_authorize = None
        self.auto_subscribe = False
        self.messages = Inbox("%s messages" % resource)
        self.presences = Inbox("%s presences" % resource)
        self.pushes = Inbox("%s roster pushes" % resource)
        self.iqs = Inbox("%s iqs" % resource)
        self.stream_errors = []
        self.failed_auth = []
        self.is_connected = False
        self.session_ok = False
        self._login_future = None
        self._disconnected_event = asyncio.Event()
        if not channel_binding:
            # slixmpp 1.8.3 only knows tls-unique, which TLS 1.3 lacks: keep it to
            # the non -PLUS mechanisms and send the gs2 flag 'n' (no binding).
            fm = self["feature_mechanisms"]
            if mech is None:
                fm.use_mechs = {"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
            orig = fm.sasl_callback

            def no_cb(required, optional):
                creds = orig(required, optional)
                if "channel_binding" in creds:
                    creds["channel_binding"] = b""
                return creds
            fm.sasl_callback = no_cb
        self.register_handler(Callback("t-msg", MatchXPath(q("message")),
                                       lambda s: self.messages.put(Stanza(s.xml))))
        self.register_handler(Callback("t-pres", MatchXPath(q("presence")),
                                       lambda s: self.presences.put(Stanza(s.xml))))
        self.register_handler(Callback("t-iq", MatchXPath(q("iq")), self._on_iq))
        self.register_handler(Callback("t-push", MatchXPath("%s/%s" % (q("iq"), q("query", NS_ROSTER))),
                                       self._on_roster_iq))
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", lambda s: self.failed_auth.append(s["condition"]))
        self.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        self.add_event_handler("stream_error", lambda s: self.stream_errors.append(s["condition"]))
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connected", self._on_connected)
        _live_clients.append(self)

    # slixmpp resolves the JID's domain even when given an address; we want
    # exactly the listener the test chose.
    async def get_dns_records(self, domain, port=None):
        return [(domain, self.address[0], self.address[1])]

    def _on_iq(self, s):
        if s.xml.get("type") in ("get", "set"):
            self.iqs.put(Stanza(s.xml))
            # Catching every iq stops slixmpp's default answer to unknown ones;
            # give it back (roster pushes are answered by slixmpp's roster code).
            if s.xml.find(q("query", NS_ROSTER)) is None:
                s.unhandled()

    def _on_roster_iq(self, s):
        if s.xml.get("type") == "set":
            self.pushes.put(Stanza(s.xml))

    def _on_connected(self, _):
        self.is_connected = True
        self._disconnected_event.clear()

    def _on_session_start(self, _):
        self.session_ok = True
        if self._login_future and not self._login_future.done():
            self._login_future.set_result(True)

    def _on_failed_all_auth(self, _):
        if self._login_future and not self._login_future.done():
            self._login_future.set_exception(LoginFailed("authentication failed: %s"
                                                         % self.failed_auth))

    def _on_connection_failed(self, err):
        if self._login_future and not self._login_future.done():
            self._login_future.set_exception(LoginFailed("connection failed: %s" % err))
        # Don't let slixmpp retry forever in the background.
        self.cancel_connection_attempt()

    def _on_disconnected(self, reason):
        self.is_connected = False
        self.session_ok = False
        self._disconnected_event.set()
        if self._login_future and not self._login_future.done():
            self._login_future.set_exception(
                LoginFailed("disconnected during login (stream errors %s, auth failures %s)"
                            % (self.stream_errors, self.failed_auth)))

    # --- session ---------------------------------------------------------

    async def login(self, kind="starttls", *, roster=True, presence=True, timeout=10, alpn=None):
        """Connects to the server's `kind` listener (starttls, direct, v6) and
        negotiates a session; then, like an ordinary client, gets the roster and
        sends initial presence (each optional)."""
        host, port, direct = self.srv.address(kind)
        if alpn:
            self.ssl_context.set_alpn_protocols(alpn)
        self._login_future = asyncio.get_running_loop().create_future()
        domain = self.boundjid.domain
        self.connect((host, port), use_ssl=direct, force_starttls=not direct)
        # connect() sets default_domain to a non-IPv4 host (e.g. "::1"); keep the
        # JID's domain for SNI, the certificate check and the stream 'to'.
        self.default_domain = domain
        try:
            await asyncio.wait_for(self._login_future, timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise LoginFailed("no session within %ss (auth failures %s, stream errors %s)"
                              % (timeout, self.failed_auth, self.stream_errors))
        if roster:
            await self.roster_get()
        if presence:
            self.send_presence_now()
        return self

    def send_presence_now(self, priority=None, show=None, status=None, to=None, ptype=None):
        attrs = ""
        if to:
            attrs += " to='%s'" % to
        if ptype:
            attrs += " type='%s'" % ptype
        prio = priority if priority is not None else self.priority
        show = show if show is not None else self.show_value
        status = status if status is not None else self.status_value
        inner = ""
        if show:
            inner += "<show>%s</show>" % show
        if status:
            inner += "<status>%s</status>" % status
        if prio is not None and ptype is None:
            inner += "<priority>%d</priority>" % prio
        self.send_raw("<presence%s>%s</presence>" % (attrs, inner))

    @property
    def jid(self):
        return str(self.boundjid.full)

    @property
    def bare(self):
        return str(self.boundjid.bare)

    async def close(self, timeout=5):
        """Clean close: </stream:stream>, wait for the server's, then drop."""
        if self.transport is None:
            return
        try:
            await asyncio.wait_for(self.disconnect(wait=2), timeout)
        except (asyncio.TimeoutError, Exception):
            self.abort()

    def drop(self):
        """Abrupt close: the TCP connection goes away with no stream close."""
        if self.transport is not None:
            self.transport.abort()

    async def wait_disconnected(self, timeout=WAIT):
        try:
            await asyncio.wait_for(self._disconnected_event.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s still connected after %.1fs" % (self.jid, timeout))

    # --- stanzas ---------------------------------------------------------

    def msg(self, to, body, mtype="chat", extra=""):
        self.send_raw("<message to='%s' type='%s'><body>%s</body>%s</message>"
                      % (xml_escape(to), mtype, xml_escape(body), extra))

    async def iq(self, payload, itype="get", to=None, timeout=WAIT):
        """Sends an iq whose child is the XML string `payload`; returns the
        response (result or error) as a Stanza."""
        iq = self.Iq()
        iq["type"] = itype
        if to:
            iq["to"] = to
        iq.append(ET.fromstring(payload))
        try:
            resp = await iq.send(timeout=timeout)
        except IqError as e:
            resp = e.iq
        except IqTimeout:
            raise AssertionError("no response to iq %s within %ss" % (payload[:80], timeout))
        return Stanza(resp.xml)

    async def roster_get(self, ver=None):
        v = "" if ver is None else " ver='%s'" % ver
        r = await self.iq("<query xmlns='%s'%s/>" % (NS_ROSTER, v))
        assert r.type == "result", "roster get failed: %r" % r
        return r.roster_items()

    async def roster_set(self, jid, name=None, groups=(), remove=False):
        attrs = " jid='%s'" % jid
        if name is not None:
            attrs += " name='%s'" % name
        if remove:
            attrs += " subscription='remove'"
        inner = "".join("<group>%s</group>" % g for g in groups)
        return await self.iq("<query xmlns='%s'><item%s>%s</item></query>"
                             % (NS_ROSTER, attrs, inner), itype="set")

    async def push_for(self, jid, pred=None, timeout=WAIT):
        """Next roster push about `jid`; returns that item's dict."""
        def match(s):
            items = s.roster_items()
            return jid in items and (pred is None or pred(items[jid]))
        s = await self.pushes.get(match, timeout, what="roster push for %s" % jid)
        return s.roster_items()[jid]

    async def presence_from(self, jid, ptype=None, timeout=WAIT):
        """Next presence from `jid` (bare matches any resource) of `ptype`."""
        def match(s):
            f = s.frm if "/" in jid else bare(s.frm)
            return f == jid and (ptype is None or s.type == ptype)
        return await self.presences.get(match, timeout,
                                        what="presence %s from %s" % (ptype or "", jid))

    async def message_with(self, body, timeout=WAIT):
        return await self.messages.get(lambda s: s.body == body, timeout,
                                       what="message %r" % body)


async def close_all():
    """Closes every client created in this event loop (test teardown)."""
    clients = list(_live_clients)
    _live_clients.clear()
    for c in clients:
        try:
            if c.transport is not None:
                c.abort()
        except Exception:
            pass
    await asyncio.sleep(0)


async def connect(server, account, resource="slix", kind="starttls", **kw):
    """Convenience: create a Client and log it in."""
    login_kw = {k: kw.pop(k) for k in ("roster", "presence", "timeout", "alpn") if k in kw}
    c = Client(server, account, resource, **kw)
    await c.login(kind, **login_kw)
    return c


async def exchange_works(a, b, tag="alive"):
    """Proves two logged-in clients can still chat, both ways, via full JIDs."""
    body1 = "%s %s->%s" % (tag, a.jid, b.jid)
    a.msg(b.jid, body1)
    await b.message_with(body1)
    body2 = "%s %s->%s" % (tag, b.jid, a.jid)
    b.msg(a.jid, body2)
    await a.message_with(body2)


def is_sub(ptype, frm):
    """Predicate: a presence of type ptype from the bare JID frm."""
    return lambda s: s.type == ptype and bare(s.frm) == frm


async def make_friends(a, b):
    """Mutual presence subscription between the accounts of clients a and b
    (RFC 6121 §3.1 both ways); returns when both rosters say 'both'."""
    a.send_presence_now(to=b.bare, ptype="subscribe")
    await b.presences.get(is_sub("subscribe", a.bare), what="subscribe from %s" % a.bare)
    b.send_presence_now(to=a.bare, ptype="subscribed")
    await a.push_for(b.bare, lambda i: i["subscription"] == "to")
    b.send_presence_now(to=a.bare, ptype="subscribe")
    await a.presences.get(is_sub("subscribe", b.bare), what="subscribe from %s" % b.bare)
    a.send_presence_now(to=b.bare, ptype="subscribed")
    await a.push_for(b.bare, lambda i: i["subscription"] == "both")
    await b.push_for(a.bare, lambda i: i["subscription"] == "both")
