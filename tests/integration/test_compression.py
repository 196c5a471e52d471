# SPDX-License-Identifier: MIT
"""XEP-0138 Stream Compression (zlib): off by default; when c2s.compression is on,
offered after SASL and before bind only, never again once on; <compress/> with an
unknown method, when not offered, after bind or twice gets a <failure/> (not a stream
error, XEP-0138 §2); a compressed session exchanges messages with an ordinary
slixmpp client over STARTTLS and direct TLS; a compression bomb and corrupt
compressed data end only the offending stream (policy-violation, not-well-formed).

slixmpp 1.8.3's xep_0138 plugin cannot work (it swaps a socket object that asyncio
transports do not have, and calls bytes.encode("hex")), so the compressed client is
rawxmpp's, with Python's zlib between the socket and the XML parser.
"""
import asyncio
import zlib

import pytest

import rawxmpp
from rawxmpp import NS_BIND, NS_STREAM, q, stream_error_condition, tostr
from slixclient import connect, exchange_works

NS_COMPRESS = "http://jabber.org/protocol/compress"
NS_COMPRESS_FEATURE = "http://jabber.org/features/compress"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"

ON = {"compression": True}


class ZRaw(rawxmpp.RawXMPP):
    """RawXMPP that can switch both directions to zlib (XEP-0138)."""

    zout = None
    zin = None

    def start_zlib(self):
        self.zout = zlib.compressobj()
        self.zin = zlib.decompressobj()

    def send(self, data, timeout=None):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.zout is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        super().send(data, timeout)

    def send_bytes(self, data, timeout=None):
        """Bytes exactly as given (already compressed, or garbage)."""
        super().send(data, timeout)

    def _recv(self, deadline):
        while True:
            data = super()._recv(deadline)
            if self.zin is None or not data:
                return data
            out = self.zin.decompress(data)
            if out:
                return out
            # Part of a deflate block: read on.

    def compress(self, method="zlib"):
        """Sends <compress/>; returns the answer element."""
        m = "<method>%s</method>" % method if method is not None else ""
        self.send("<compress xmlns='%s'>%s</compress>" % (NS_COMPRESS, m))
        return self.next()


def zraw(server, kind="starttls", **kw):
    host, port, direct = server.address(kind)
    kw.setdefault("cafile", server.cert("localhost"))
    kw.setdefault("server_name", "localhost")
    return ZRaw(host, port, direct_tls=direct, **kw)


def offered_methods(features):
    """The methods in a <compression/> feature, or None when there is none."""
    comp = features.find(q("compression", NS_COMPRESS_FEATURE))
    if comp is None:
        return None
    return [m.text for m in comp.findall(q("method", NS_COMPRESS_FEATURE))]


def failure_condition(el):
    assert el.tag == q("failure", NS_COMPRESS), "expected a compress failure, got %s" % tostr(el)
    children = [rawxmpp.local(c.tag) for c in el]
    assert len(children) == 1, tostr(el)
    return children[0]


def encrypted_pre_auth(c):
    """Stream, STARTTLS unless direct TLS, stream: returns the pre-auth features."""
    c.open_stream()
    c.read_features()
    if c.tls is None:
        c.starttls()
        c.open_stream()
        c.read_features()
    return c.features


def authenticate(c, acct):
    """Through SASL PLAIN and the restart: returns the post-auth features."""
    features = encrypted_pre_auth(c)
    assert offered_methods(features) is None, "compression offered before authentication"
    r = c.auth_plain(acct.user, acct.password)
    assert r.ok, r
    c.open_stream()
    return c.read_features()


def negotiate(c):
    """<compress/> zlib, <compressed/>, the compressed stream: returns its features."""
    el = c.compress("zlib")
    assert el.tag == q("compressed", NS_COMPRESS), tostr(el)
    c.start_zlib()
    c.open_stream()
    return c.read_features()


def compressed_session(server, kind="starttls", resource="z"):
    acct = server.new_account("z")
    c = zraw(server, kind)
    features = authenticate(c, acct)
    assert offered_methods(features) == ["zlib"]
    features = negotiate(c)
    assert offered_methods(features) is None, "compression offered again once on"
    assert features.find(q("bind", NS_BIND)) is not None
    jid, err = c.bind(resource)
    assert jid is not None, tostr(err)
    c.send("<presence/>")
    return c


async def bystanders(server):
    a = await connect(server, server.new_account("by"), "a")
    b = await connect(server, server.new_account("by"), "b")
    return a, b


def disco_features(c):
    res = c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    assert res.get("type") == "result", tostr(res)
    return {f.get("var") for f in res.iter(q("feature", NS_DISCO_INFO))}


# --- off by default --------------------------------------------------------

def test_off_by_default(server):
    """compression: false (the default): never offered, a request fails politely,
    and the namespace is not in disco#info."""
    acct = server.new_account("off")
    c = zraw(server)
    features = authenticate(c, acct)
    assert offered_methods(features) is None
    assert failure_condition(c.compress("zlib")) == "setup-failed"
    # Not a stream error: the stream goes on uncompressed.
    jid, err = c.bind("off")
    assert jid is not None, tostr(err)
    assert NS_COMPRESS not in disco_features(c)
    assert c.roster_alive()


# --- compression on ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["starttls", "direct"])
async def test_compressed_session_exchanges_messages(make_server, kind):
    server = make_server(c2s=ON)
    peer = await connect(server, server.new_account("peer"), "p")
    c = compressed_session(server, kind)
    assert NS_COMPRESS in disco_features(c)
    c.send("<message to='%s' type='chat'><body>from compressed</body></message>" % peer.jid)
    m = await peer.message_with("from compressed")
    assert m.frm == c.jid
    # Several stanzas in one go, both ways.
    peer.msg(c.jid, "to compressed 1")
    peer.msg(c.jid, "to compressed 2")
    for body in ("to compressed 1", "to compressed 2"):
        el = await asyncio.to_thread(
            c.expect, lambda e, b=body: e.tag == q("message") and e.findtext(q("body")) == b,
            None, "message %r" % body)
        assert el.get("from") == peer.jid
    assert await asyncio.to_thread(c.roster_alive)
    c.close()


def test_not_offered_or_accepted_before_auth(make_server):
    server = make_server(c2s=ON)
    acct = server.new_account("pre")
    c = zraw(server)
    c.open_stream()
    assert offered_methods(c.read_features()) is None
    # Before TLS, and after TLS but before SASL: refused, the stream goes on.
    assert failure_condition(c.compress("zlib")) == "setup-failed"
    c.starttls()
    c.open_stream()
    assert offered_methods(c.read_features()) is None
    assert failure_condition(c.compress("zlib")) == "setup-failed"
    assert c.auth_plain(acct.user, acct.password).ok
    c.open_stream()
    assert offered_methods(c.read_features()) == ["zlib"]
    negotiate(c)
    assert c.bind("late")[0] is not None
    assert c.roster_alive()


def test_unsupported_method_then_retry(make_server):
    server = make_server(c2s=ON)
    c = zraw(server)
    authenticate(c, server.new_account("m"))
    assert failure_condition(c.compress("lzw")) == "unsupported-method"
    assert failure_condition(c.compress(None)) == "unsupported-method"
    # XEP-0138 §2: the client is free to retry.
    features = negotiate(c)
    assert features.find(q("bind", NS_BIND)) is not None
    assert c.bind("retry")[0] is not None
    assert c.roster_alive()


def test_twice_and_after_bind_refused(make_server):
    server = make_server(c2s=ON)
    # Twice: once compressed (and before bind), a second request fails.
    c = zraw(server)
    authenticate(c, server.new_account("tw"))
    negotiate(c)
    assert failure_condition(c.compress("zlib")) == "setup-failed"
    assert c.bind("twice")[0] is not None
    assert c.roster_alive()
    # After bind: not offered any more, refused, the session unaffected.
    c = zraw(server)
    features = authenticate(c, server.new_account("ab"))
    assert offered_methods(features) == ["zlib"]
    assert c.bind("bound")[0] is not None
    assert failure_condition(c.compress("zlib")) == "setup-failed"
    assert c.roster_alive()


# --- hostile input ----------------------------------------------------------

def expect_error_and_close(c, condition, timeout=5):
    cond = c.expect_stream_error(timeout)
    assert cond == condition, "got <%s/>, expected <%s/>" % (cond, condition)
    assert c.wait_closed(timeout), "server did not close the connection after <%s/>" % cond


def send_ignoring_hangup(c, data):
    try:
        c.send_bytes(data)
    except (ConnectionError, OSError):
        pass  # the server may hang up before reading it all


async def test_bomb_of_whitespace_is_policy_violation(make_server):
    """16 MiB of whitespace in about 16 KiB: far beyond what one read may inflate to."""
    server = make_server(c2s=ON)
    a, b = await bystanders(server)
    c = compressed_session(server)
    bomb = c.zout.compress(b" " * (16 << 20)) + c.zout.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 32 * 1024
    send_ignoring_hangup(c, bomb)
    await asyncio.to_thread(expect_error_and_close, c, "policy-violation")
    await exchange_works(a, b, tag="after the bomb")
    assert not a.stream_errors and not b.stream_errors


async def test_bomb_in_one_stanza_is_policy_violation(make_server):
    """One message far beyond max_stanza_size (64 KiB here) that compresses to little."""
    server = make_server(c2s=ON)
    a, b = await bystanders(server)
    c = compressed_session(server)
    stanza = ("<message to='%s'><body>%s</body></message>" % (a.jid, "y" * (1 << 20))).encode()
    send_ignoring_hangup(c, c.zout.compress(stanza) + c.zout.flush(zlib.Z_SYNC_FLUSH))
    await asyncio.to_thread(expect_error_and_close, c, "policy-violation")
    await a.messages.none(lambda m: m.body and m.body.startswith("yyyy"), wait=0.3)
    await exchange_works(a, b, tag="after the stanza bomb")


async def test_corrupt_compressed_data_is_not_well_formed(make_server):
    server = make_server(c2s=ON)
    a, b = await bystanders(server)
    c = compressed_session(server)
    # Uncompressed XML where the zlib stream continues: an invalid deflate block.
    send_ignoring_hangup(c, b"\xff\xff\xff<message><body>plain</body></message>")
    await asyncio.to_thread(expect_error_and_close, c, "not-well-formed")
    await exchange_works(a, b, tag="after corrupt data")


def test_stream_header_uncompressed_after_compressed(make_server):
    """After <compressed/> the server reads only zlib: a plain header is an error."""
    server = make_server(c2s=ON)
    c = zraw(server)
    authenticate(c, server.new_account("plainhdr"))
    el = c.compress("zlib")
    assert el.tag == q("compressed", NS_COMPRESS)
    c.zin = zlib.decompressobj()  # the server's side is compressed; ours is not
    c._reset_parser()
    c.send(rawxmpp.stream_header())
    c.read_header()
    el = c.next()
    assert el.tag == q("error", NS_STREAM), tostr(el)
    assert stream_error_condition(el) == "not-well-formed"
    assert c.wait_closed(5)
