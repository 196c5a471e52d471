# SPDX-License-Identifier: MIT
"""Bad input gets a clear answer and nothing breaks (RFC 6120 §4.9, §8.3, §11).

Each test sends the bad input on a raw connection and checks the answer the
offender sees (stream error + close, or a stanza error); then two bystander
sessions, logged in with slixmpp beforehand, prove they were not affected by
chatting with each other and reading back their stored roster.
"""
import asyncio
import time

import pytest

import rawxmpp
from rawxmpp import NS_TLS, stanza_error_condition, tostr
from slixclient import connect, exchange_works

pytestmark = pytest.mark.badinput


async def bystanders(server):
    a = await connect(server, server.new_account("by"), "a")
    b = await connect(server, server.new_account("by"), "b")
    assert (await a.roster_set("kept@localhost", name="kept")).type == "result"
    return a, b


async def unaffected(a, b):
    await exchange_works(a, b, tag="after bad input")
    assert (await a.roster_get())["kept@localhost"]["name"] == "kept", "stored roster lost"
    assert not a.stream_errors and not b.stream_errors, (a.stream_errors, b.stream_errors)


def logged_in_raw(server, **kw):
    acct = server.new_account("bad")
    c = server.raw(**kw)
    c.login(acct.user, acct.password, resource="raw", presence=True)
    return c


def tls_pre_auth(server, **kw):
    c = server.raw(**kw)
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    return c


def expect_error_and_close(c, condition, timeout=5):
    cond = c.expect_stream_error(timeout)
    assert cond == condition, "got <%s/>, expected <%s/>" % (cond, condition)
    assert c.wait_closed(timeout), "server did not close the connection after <%s/>" % cond


MALFORMED = {
    "mismatched-tag": b"<message to='x@localhost'><body>hi</message>",
    "bad-utf8": b"<message to='x@localhost'><body>\xff\xfe\xfd</body></message>",
    "control-char": b"<message to='x@localhost'><body>\x01</body></message>",
    "unbound-prefix": b"<foo:message xmlns='jabber:client'/>",
    "duplicate-attr": b"<message to='x@localhost' to='y@localhost'/>",
    "garbage": b"<<<>>> this is not xml",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
async def test_malformed_xml_after_auth(server, name):
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    c.send(MALFORMED[name])
    expect_error_and_close(c, "not-well-formed")
    await unaffected(a, b)


async def test_malformed_xml_before_tls(server):
    a, b = await bystanders(server)
    c = server.raw()
    c.open_stream()
    c.read_features()
    c.send(b"<starttls xmlns='%s'><</starttls>" % NS_TLS.encode())
    expect_error_and_close(c, "not-well-formed")
    await unaffected(a, b)


async def test_oversized_stanza(server):
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    body = "y" * 70000          # max_stanza_size is 65536
    try:
        c.send("<message to='%s' type='chat'><body>%s</body></message>" % (a.jid, body))
    except (ConnectionError, OSError):
        pass                     # the server may hang up before reading it all
    expect_error_and_close(c, "policy-violation")
    await a.messages.none(lambda m: m.body and m.body.startswith("yyyy"), wait=0.3)
    await unaffected(a, b)


async def test_oversized_stanza_that_never_ends(server):
    """A stanza that never closes must not buffer without bound."""
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    c.send("<message to='%s'><body>" % a.jid)
    chunk = "z" * 8192
    try:
        for _ in range(16):      # 128 KiB, twice the limit
            c.send(chunk)
    except (ConnectionError, OSError):
        pass
    expect_error_and_close(c, "policy-violation")
    await unaffected(a, b)


@pytest.mark.parametrize("when,data", [
    ("header", None),                    # DOCTYPE before the stream header
    ("entity", None),                    # internal entity declaration
    ("after-auth", b"<!-- a comment -->"),
    ("after-auth", b"<?some-pi data?>"),
    ("after-auth", b"<message to='x@localhost'><body>a<!-- hidden --></body></message>"),
], ids=["doctype", "entity-decl", "comment", "processing-instruction", "comment-in-stanza"])
async def test_restricted_xml(server, when, data):
    a, b = await bystanders(server)
    if when == "header":
        c = server.raw()
        c.send("<?xml version='1.0'?><!DOCTYPE stream:stream>" +
               rawxmpp.stream_header(xml_decl=False))
    elif when == "entity":
        c = server.raw()
        c.send("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY boom 'kaboom'>]>" +
               rawxmpp.stream_header(xml_decl=False))
    else:
        c = logged_in_raw(server)
        c.send(data)
    expect_error_and_close(c, "restricted-xml")
    await unaffected(a, b)


async def test_entity_expansion_attempt(server):
    """Billion laughs must be refused, not expanded."""
    a, b = await bystanders(server)
    c = server.raw()
    c.send("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaaaaaaaa'>"
           "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
           "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
           + rawxmpp.stream_header(xml_decl=False) + "&d;")
    cond = c.expect_stream_error()
    assert cond in ("restricted-xml", "not-well-formed"), cond
    assert c.wait_closed(5)
    await unaffected(a, b)


BAD_JIDS = {
    "empty-localpart": "@localhost",
    "empty-resource": "user@localhost/",
    "two-ats": "a@b@localhost",
    "space-in-localpart": "us er@localhost",
    "localpart-too-long": "x" * 1100 + "@localhost",
    "empty-domain": "user@",
}


@pytest.mark.parametrize("name", sorted(BAD_JIDS))
async def test_bad_jid_in_to_is_jid_malformed(server, name):
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    bad = rawxmpp.xml_escape(BAD_JIDS[name])
    c.send("<message id='m1' type='chat' to='%s'><body>x</body></message>" % bad)
    el = c.expect(lambda e: e.tag == rawxmpp.q("message") and e.get("id") == "m1",
                  what="message error")
    assert el.get("type") == "error", tostr(el)
    assert stanza_error_condition(el) == "jid-malformed", tostr(el)
    c.send("<iq id='i1' type='get' to='%s'><query xmlns='jabber:iq:version'/></iq>" % bad)
    el = c.expect(lambda e: e.tag == rawxmpp.q("iq") and e.get("id") == "i1", what="iq error")
    assert el.get("type") == "error", tostr(el)
    assert stanza_error_condition(el) == "jid-malformed", tostr(el)
    assert c.roster_alive(), "offender's session unusable after a stanza error"
    await unaffected(a, b)


@pytest.mark.parametrize("stanza", [
    "<message to='%s' type='chat'><body>sneaky</body></message>",
    "<iq type='get' id='q1'><query xmlns='jabber:iq:roster'/></iq>",
    "<presence/>",
], ids=["message", "iq", "presence"])
async def test_stanza_before_auth_not_authorized(server, stanza):
    a, b = await bystanders(server)
    c = tls_pre_auth(server)
    c.send(stanza.replace("%s", a.jid))
    expect_error_and_close(c, "not-authorized")
    await a.messages.none(lambda m: m.body == "sneaky", wait=0.3)
    await unaffected(a, b)


async def test_stanza_before_tls_refused(server):
    a, b = await bystanders(server)
    c = server.raw()
    c.open_stream()
    c.read_features()
    c.send("<message to='%s' type='chat'><body>plaintext</body></message>" % a.jid)
    cond = c.expect_stream_error()
    assert cond in ("not-authorized", "policy-violation"), cond
    assert c.wait_closed(5)
    await a.messages.none(lambda m: m.body == "plaintext", wait=0.3)
    await unaffected(a, b)


async def test_unknown_host(server):
    a, b = await bystanders(server)
    c = server.raw()
    c.send(rawxmpp.stream_header(to="no-such-host.example"))
    expect_error_and_close(c, "host-unknown")
    await unaffected(a, b)


@pytest.mark.parametrize("kw", [
    {"stream_ns": "http://example.com/not-streams"},
    {"xmlns": "urn:example:not-jabber-client"},
], ids=["stream-namespace", "content-namespace"])
async def test_wrong_namespace(server, kw):
    a, b = await bystanders(server)
    c = server.raw()
    c.send(rawxmpp.stream_header(**kw))
    expect_error_and_close(c, "invalid-namespace")
    await unaffected(a, b)


async def test_unsupported_major_version(server):
    a, b = await bystanders(server)
    c = server.raw()
    c.send(rawxmpp.stream_header(version="2.0"))
    expect_error_and_close(c, "unsupported-version")
    await unaffected(a, b)


def test_higher_minor_version_accepted(server):
    """RFC 6120 §4.7.5: the server answers with the highest version it
    supports (1.0) and carries on."""
    c = server.raw()
    c.send(rawxmpp.stream_header(version="1.1"))
    assert c.read_header().get("version") == "1.0"
    c.read_features()


async def test_unsupported_stanza_type(server):
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    c.send("<thing xmlns='jabber:client'/>")
    expect_error_and_close(c, "unsupported-stanza-type")
    await unaffected(a, b)


async def test_unsupported_encoding(server):
    a, b = await bystanders(server)
    c = server.raw()
    c.send("<?xml version='1.0' encoding='ISO-8859-1'?>" + rawxmpp.stream_header(xml_decl=False))
    cond = c.expect_stream_error()
    assert cond in ("unsupported-encoding", "not-well-formed"), cond
    assert c.wait_closed(5)
    await unaffected(a, b)


async def test_deep_nesting_does_not_break_the_server(server):
    a, b = await bystanders(server)
    c = logged_in_raw(server)
    depth = 8000  # ~56 KB: under the size limit
    c.send("<message to='%s' type='chat'><body>deep</body>%s%s</message>"
           % (a.jid, "<x>" * depth, "</x>" * depth))
    # Either refused with a stream error, or routed; the server must live on.
    try:
        c.next(timeout=3)
    except (rawxmpp.XMPPTimeout, rawxmpp.StreamClosed):
        pass
    await unaffected(a, b)


async def test_whitespace_keepalives_accepted(server):
    c = logged_in_raw(server)
    for _ in range(5):
        c.send(" ")
        c.send("\n")
    c.send("<message to='%s' type='chat'><body>after spaces</body></message>" % c.jid)
    m = c.expect(lambda e: e.tag == rawxmpp.q("message"), what="message to self")
    assert m.find(rawxmpp.q("body")).text == "after spaces"


def test_clean_close(server):
    c = logged_in_raw(server)
    c.send("</stream:stream>")
    end = time.monotonic() + 5
    with pytest.raises(rawxmpp.StreamClosed) as e:
        while True:              # skip stanzas already in flight (own presence)
            c.next(timeout=max(0.1, end - time.monotonic()))
    assert "closed the stream" in str(e.value), "server did not answer </stream:stream>: %s" % e.value
    assert c.wait_closed(5), "TCP connection left open after both streams closed"
    assert c.tls.clean_shutdown_seen, "TLS closed without close_notify"


@pytest.mark.slow
async def test_slow_reader_disconnected(server):
    """A session that never reads is cut off once its output passes
    max_output_size (256 KiB); the sender and others carry on."""
    a, b = await bystanders(server)
    slow = await asyncio.to_thread(logged_in_raw, server, rcvbuf=4096)
    flooder = await connect(server, server.new_account("flood"), "f")
    body = "f" * 8000
    for i in range(1500):        # ~12 MB towards a reader that doesn't read
        flooder.send_raw("<message to='%s' type='headline'><body>%d %s</body></message>"
                         % (slow.jid, i, body))
    await asyncio.sleep(2)
    closed = await asyncio.to_thread(slow.wait_closed, 20)
    assert closed, ("slow reader still connected after ~12 MB queued for it "
                    "(it could still read %d bytes)" % slow.drained_bytes)
    await unaffected(a, b)
    await exchange_works(flooder, a, tag="flooder still fine")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["before-tls", "after-tls"])
async def test_unauthenticated_connection_times_out(server, stage):
    a, b = await bystanders(server)
    t0 = time.monotonic()
    if stage == "before-tls":
        c = server.raw()
        c.open_stream()
        c.read_features()
    else:
        c = tls_pre_auth(server)
    timeout = server.c2s["auth_timeout"]

    def wait():
        try:
            while True:
                el = c.next(timeout + 8)
                cond = rawxmpp.stream_error_condition(el)
                if cond:
                    assert cond in ("connection-timeout", "policy-violation"), cond
        except rawxmpp.StreamClosed:
            return time.monotonic() - t0
        except rawxmpp.XMPPTimeout:
            return None
    elapsed = await asyncio.to_thread(wait)
    assert elapsed is not None, "unauthenticated connection still open after %ds" % (timeout + 8)
    assert elapsed >= timeout - 1, "closed after %.1fs, before auth_timeout=%ds" % (elapsed, timeout)
    # The authenticated bystanders idled just as long and are still connected.
    await unaffected(a, b)
