# SPDX-License-Identifier: MIT
"""A deliberately small, blocking XMPP client over a raw socket.

Tests use it where a real client library would refuse to misbehave: malformed or
restricted XML, oversized stanzas, bad stream headers, stanzas before
authentication, a reader that never reads, an abrupt close, and SASL with channel
binding (SCRAM-*-PLUS with tls-exporter and tls-server-end-point, which neither
slixmpp 1.8.3 nor libstrophe 0.12 implement).

TLS goes through pyOpenSSL (Debian python3-openssl) because Python's ssl module
cannot export keying material (RFC 9266 tls-exporter). Every read is bounded by a
deadline; nothing here waits forever.
"""
import base64
import hashlib
import hmac
import os
import select
import socket
import time
import xml.etree.ElementTree as ET

from OpenSSL import SSL
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives.serialization import Encoding

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_ROSTER = "jabber:iq:roster"
NS_ROSTERVER = "urn:xmpp:features:rosterver"
NS_DELAY = "urn:xmpp:delay"

DEFAULT_TIMEOUT = 10.0

SCRAM_HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


class StreamClosed(Exception):
    """The server ended the stream (</stream:stream>) or closed the connection."""


class XMPPTimeout(AssertionError):
    """Nothing (or not the expected thing) arrived in time."""


def q(tag, ns=NS_CLIENT):
    return "{%s}%s" % (ns, tag)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def ns_of(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def stream_error_condition(el):
    """Condition name of a <stream:error/> element, or None if el isn't one."""
    if el is None or el.tag != q("error", NS_STREAM):
        return None
    for child in el:
        if ns_of(child.tag) == NS_STREAM_ERR and local(child.tag) != "text":
            return local(child.tag)
    return "(no condition)"


def stanza_error_condition(el):
    """Condition name of a stanza's <error/> child, or None."""
    err = el.find(q("error"))
    if err is None:
        return None
    for child in err:
        if ns_of(child.tag) == NS_STANZA_ERR and local(child.tag) != "text":
            return local(child.tag)
    return "(no condition)"


def tostr(el):
    return ET.tostring(el, encoding="unicode")


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def stream_header(to="localhost", version="1.0", xmlns=NS_CLIENT,
                  stream_ns=NS_STREAM, xml_decl=True, extra=""):
    parts = ["<stream:stream"]
    if to is not None:
        parts.append(" to='%s'" % to)
    if version is not None:
        parts.append(" version='%s'" % version)
    parts.append(" xmlns='%s' xmlns:stream='%s'%s>" % (xmlns, stream_ns, extra))
    return ("<?xml version='1.0'?>" if xml_decl else "") + "".join(parts)


class _TLSSocket:
    """pyOpenSSL connection over a non-blocking socket, with deadline-bounded I/O."""

    def __init__(self, sock, server_name, cafile=None, alpn=None, min_version=None,
                 max_version=None, seclevel0=False, client_cert=None):
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        if client_cert:
            # (certificate file, key file): what a server presents for SASL EXTERNAL.
            ctx.use_certificate_chain_file(str(client_cert[0]))
            ctx.use_privatekey_file(str(client_cert[1]))
        if seclevel0:
            # Let this client offer old protocol versions, to see the server refuse them.
            ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        ctx.set_min_proto_version(min_version or SSL.TLS1_2_VERSION)
        if max_version:
            ctx.set_max_proto_version(max_version)
        if cafile:
            ctx.load_verify_locations(str(cafile))
            ctx.set_verify(SSL.VERIFY_PEER, lambda conn, cert, errno, depth, ok: bool(ok))
        else:
            ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
        if alpn:
            ctx.set_alpn_protos([p.encode() for p in alpn])
        self.sock = sock
        self.sock.setblocking(False)
        self.conn = SSL.Connection(ctx, sock)
        if server_name:
            self.conn.set_tlsext_host_name(server_name.encode())
        self.conn.set_connect_state()
        self.clean_shutdown_seen = False

    def _wait(self, want_write, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise XMPPTimeout("TLS I/O timed out")
        if want_write:
            select.select([], [self.sock], [], remaining)
        else:
            select.select([self.sock], [], [], remaining)

    def handshake(self, deadline):
        while True:
            try:
                self.conn.do_handshake()
                return
            except SSL.WantReadError:
                self._wait(False, deadline)
            except SSL.WantWriteError:
                self._wait(True, deadline)

    def sendall(self, data, deadline):
        view = memoryview(data)
        while view:
            try:
                n = self.conn.send(bytes(view[:16384]))
                view = view[n:]
            except SSL.WantReadError:
                self._wait(False, deadline)
            except SSL.WantWriteError:
                self._wait(True, deadline)
            except SSL.SysCallError as e:
                raise ConnectionResetError(str(e))
            except SSL.ZeroReturnError:
                raise ConnectionResetError("TLS closed by peer")

    def recv(self, n, deadline):
        """Returns b'' at end of stream (clean close_notify or TCP EOF)."""
        while True:
            try:
                return self.conn.recv(n)
            except SSL.WantReadError:
                self._wait(False, deadline)
            except SSL.WantWriteError:
                self._wait(True, deadline)
            except SSL.ZeroReturnError:
                self.clean_shutdown_seen = True
                return b""
            except SSL.SysCallError as e:
                if e.args and e.args[0] in (-1, 0):  # unexpected EOF
                    return b""
                raise ConnectionResetError(str(e))
            except SSL.Error as e:
                # OpenSSL 3 reports EOF without close_notify as an SSL error.
                if "unexpected eof" in str(e).lower():
                    return b""
                raise

    def shutdown(self):
        try:
            self.conn.shutdown()
        except SSL.Error:
            pass

    # Channel-binding data (RFC 9266, RFC 5929).
    def exporter(self):
        return self.conn.export_keying_material(b"EXPORTER-Channel-Binding", 32)

    def server_end_point(self):
        cert = self.conn.get_peer_certificate().to_cryptography()
        algo = cert.signature_hash_algorithm
        # RFC 5929 §4.1: MD5 and SHA-1 are replaced by SHA-256.
        if algo is None or algo.name in ("md5", "sha1"):
            algo = crypto_hashes.SHA256()
        h = crypto_hashes.Hash(algo)
        h.update(cert.public_bytes(Encoding.DER))
        return h.finalize()

    def unique(self):
        # RFC 5929 §3.1: the first Finished message of the latest handshake; in a
        # full (not resumed) handshake the client's own.
        return self.conn.get_finished()

    def peer_cert_der(self):
        return self.conn.get_peer_certificate().to_cryptography().public_bytes(Encoding.DER)

    def version(self):
        return self.conn.get_protocol_version_name()

    def alpn(self):
        p = self.conn.get_alpn_proto_negotiated()
        return p.decode() if p else None


_open_connections = []


def close_all():
    """Drops every raw connection still open (test teardown)."""
    while _open_connections:
        c = _open_connections.pop()
        if not c.closed:
            c.close(clean=False)


class RawXMPP:
    """One client connection. Methods raise XMPPTimeout / StreamClosed on trouble."""

    def __init__(self, host, port, *, direct_tls=False, server_name="localhost",
                 cafile=None, alpn=None, tls_max=None, tls_min=None, seclevel0=False,
                 timeout=DEFAULT_TIMEOUT, rcvbuf=None, source=None, client_cert=None):
        self.timeout = timeout
        self.client_cert = client_cert
        self.server_name = server_name
        self.cafile = cafile
        self.alpn_protos = alpn
        self.tls_max = tls_max
        self.tls_min = tls_min
        self.seclevel0 = seclevel0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            # Must be set before connect() to bound the advertised TCP window.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            # Another loopback source address, so that deliberate auth failures
            # (which the server may slow down per address) don't delay others.
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        _open_connections.append(self)
        self.tls = None
        self.closed = False
        self.stream_attrs = None
        self.stream_tag = None
        self.features = None
        self.jid = None
        self._pending = []
        self._reset_parser()
        if direct_tls:
            self._start_tls()

    # --- low level -------------------------------------------------------

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def _reset_parser(self):
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root = None

    def _start_tls(self):
        self.sock.settimeout(None)
        self.tls = _TLSSocket(self.sock, self.server_name, cafile=self.cafile,
                              alpn=self.alpn_protos, min_version=self.tls_min,
                              max_version=self.tls_max, seclevel0=self.seclevel0,
                              client_cert=self.client_cert)
        self.tls.handshake(self._deadline(None))

    def send(self, data, timeout=None):
        if isinstance(data, str):
            data = data.encode("utf-8")
        deadline = self._deadline(timeout)
        if self.tls:
            self.tls.sendall(data, deadline)
        else:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            self.sock.sendall(data)

    def _recv(self, deadline):
        if self.tls:
            return self.tls.recv(65536, deadline)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise XMPPTimeout("read timed out")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            raise XMPPTimeout("read timed out")

    def _feed(self, data):
        self._parser.feed(data)
        for event, el in self._parser.read_events():
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = el
                    self.stream_tag = el.tag
                    self.stream_attrs = dict(el.attrib)
                    self._pending.append(("header", el))
            else:
                self._depth -= 1
                if self._depth == 1:
                    self._pending.append(("element", el))
                    self._root.remove(el)
                elif self._depth == 0:
                    self._pending.append(("end", el))

    def _next_event(self, timeout=None):
        deadline = self._deadline(timeout)
        while not self._pending:
            if self.closed:
                raise StreamClosed("connection closed")
            try:
                data = self._recv(deadline)
            except (ConnectionResetError, BrokenPipeError) as e:
                self.closed = True
                raise StreamClosed("connection reset: %s" % e)
            if not data:
                self.closed = True
                raise StreamClosed("connection closed by server")
            self._feed(data)
        return self._pending.pop(0)

    # --- stream level ----------------------------------------------------

    def read_header(self, timeout=None):
        """Waits for the server's stream header; returns its attributes."""
        kind, el = self._next_event(timeout)
        if kind != "header":
            raise AssertionError("expected a stream header, got %s %r" % (kind, el))
        return dict(el.attrib)

    def next(self, timeout=None):
        """Next top-level element. Raises StreamClosed at </stream:stream> or EOF."""
        while True:
            kind, el = self._next_event(timeout)
            if kind == "element":
                return el
            if kind == "end":
                self.stream_ended = True
                raise StreamClosed("server closed the stream")
            # A header in mid-stream only happens after a restart; skip it.

    def expect(self, pred, timeout=None, what="element"):
        """Reads elements until pred(el); fails on a stream error or timeout."""
        deadline = self._deadline(timeout)
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise XMPPTimeout("timed out waiting for %s; got %s" %
                                  (what, [tostr(e)[:300] for e in seen]))
            try:
                el = self.next(remaining)
            except XMPPTimeout:
                raise XMPPTimeout("timed out waiting for %s; got %s" %
                                  (what, [tostr(e)[:300] for e in seen]))
            if pred(el):
                return el
            cond = stream_error_condition(el)
            if cond:
                raise AssertionError("stream error <%s/> while waiting for %s" % (cond, what))
            seen.append(el)

    def open_stream(self, to="localhost", version="1.0", **kw):
        self._reset_parser()
        self.send(stream_header(to=to, version=version, **kw))
        self.read_header()

    def read_features(self, timeout=None):
        el = self.next(timeout)
        if el.tag != q("features", NS_STREAM):
            cond = stream_error_condition(el)
            raise AssertionError("expected <stream:features/>, got %s" %
                                 (("stream error <%s/>" % cond) if cond else tostr(el)))
        self.features = el
        return el

    def mechanisms(self):
        mechs = self.features.find(q("mechanisms", NS_SASL)) if self.features is not None else None
        if mechs is None:
            return []
        return [m.text for m in mechs.findall(q("mechanism", NS_SASL))]

    def channel_binding_types(self):
        cb = self.features.find(q("sasl-channel-binding", NS_SASL_CB))
        if cb is None:
            return None
        return [c.get("type") for c in cb.findall(q("channel-binding", NS_SASL_CB))]

    def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next()
        if el.tag != q("proceed", NS_TLS):
            raise AssertionError("STARTTLS refused: %s" % tostr(el))
        self._start_tls()

    def expect_stream_error(self, timeout=None):
        """Reads until a stream error arrives; returns its condition.

        Raises AssertionError if the stream ends without one.
        """
        deadline = self._deadline(timeout)
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                el = self.next(max(remaining, 0.01))
            except StreamClosed as e:
                raise AssertionError("stream closed (%s) without a stream error; got %s" %
                                     (e, [tostr(x)[:200] for x in seen]))
            except XMPPTimeout:
                raise XMPPTimeout("no stream error within timeout; got %s" %
                                  [tostr(x)[:200] for x in seen])
            cond = stream_error_condition(el)
            if cond:
                return cond
            seen.append(el)

    def wait_closed(self, timeout=None, max_bytes=256 * 1024 * 1024):
        """Drains until the server closes the TCP connection.

        Returns True if it did within timeout, False otherwise. Elements read on
        the way are discarded (bytes are not even parsed after a stream end).
        """
        deadline = self._deadline(timeout)
        total = 0
        self.drained_bytes = 0
        while total < max_bytes:
            if self.closed:
                return True
            try:
                data = self._recv(deadline)
            except XMPPTimeout:
                return False
            except (ConnectionResetError, BrokenPipeError, OSError):
                self.closed = True
                return True
            if not data:
                self.closed = True
                return True
            total += len(data)
            self.drained_bytes = total
        return False

    def close(self, clean=True):
        """Closes our side. clean=False drops the TCP connection without
        </stream:stream> or TLS close_notify (an abrupt disconnect)."""
        if clean and not self.closed:
            try:
                self.send("</stream:stream>", timeout=2)
            except Exception:
                pass
            if self.tls:
                self.tls.shutdown()
        if not clean:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # --- SASL ------------------------------------------------------------

    def auth_plain(self, user, password, authzid=""):
        payload = ("%s\0%s\0%s" % (authzid, user, password)).encode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" %
                  (NS_SASL, base64.b64encode(payload).decode()))
        return self._sasl_outcome()

    def _sasl_outcome(self):
        el = self.next()
        if el.tag == q("success", NS_SASL):
            return SASLResult(True, None, el)
        if el.tag == q("failure", NS_SASL):
            cond = None
            for child in el:
                if local(child.tag) != "text":
                    cond = local(child.tag)
            return SASLResult(False, cond, el)
        cond = stream_error_condition(el)
        if cond:
            return SASLResult(False, "stream-error:" + cond, el)
        raise AssertionError("unexpected SASL answer: %s" % tostr(el))

    def auth_scram(self, user, password, hash_name="SHA-256", *, plus=None,
                   cb_data=None, gs2_flag=None, mechanism=None):
        """SCRAM (RFC 5802/7677) client. plus is None, 'tls-exporter',
        'tls-server-end-point' or 'tls-unique'. cb_data overrides the channel-binding bytes
        (to test that the server checks them); gs2_flag overrides 'n'/'y'.

        Returns SASLResult with .iterations and .server_signature_ok set.
        """
        hname = SCRAM_HASHES[hash_name]
        mech = mechanism or ("SCRAM-%s%s" % (hash_name, "-PLUS" if plus else ""))
        if plus:
            gs2 = "p=%s,," % plus
            if cb_data is None:
                cb_data = {"tls-exporter": self.tls.exporter,
                           "tls-server-end-point": self.tls.server_end_point,
                           "tls-unique": self.tls.unique}[plus]()
        else:
            gs2 = (gs2_flag or "n") + ",,"
            cb_data = b""
        cnonce = base64.b64encode(os.urandom(18)).decode()
        saslname = user.replace("=", "=3D").replace(",", "=2C")
        first_bare = "n=%s,r=%s" % (saslname, cnonce)
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" %
                  (NS_SASL, mech, base64.b64encode((gs2 + first_bare).encode()).decode()))
        el = self.next()
        if el.tag != q("challenge", NS_SASL):
            self._pending.insert(0, ("element", el))
            return self._sasl_outcome()
        server_first = base64.b64decode(el.text or "").decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        nonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(cnonce):
            raise AssertionError("server nonce does not extend the client nonce")
        salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iters)
        client_key = hmac.new(salted, b"Client Key", hname).digest()
        stored_key = hashlib.new(hname, client_key).digest()
        cbind = base64.b64encode(gs2.encode() + cb_data).decode()
        final_wo_proof = "c=%s,r=%s" % (cbind, nonce)
        auth_message = ",".join([first_bare, server_first, final_wo_proof]).encode()
        signature = hmac.new(stored_key, auth_message, hname).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = final_wo_proof + ",p=" + base64.b64encode(proof).decode()
        self.send("<response xmlns='%s'>%s</response>" %
                  (NS_SASL, base64.b64encode(final.encode()).decode()))
        el = self.next()
        server_final = None
        if el.tag == q("challenge", NS_SASL):
            # Some servers send server-final in a challenge, then an empty success.
            server_final = base64.b64decode(el.text or "").decode()
            self.send("<response xmlns='%s'/>" % NS_SASL)
            el = self.next()
        self._pending.insert(0, ("element", el))
        res = self._sasl_outcome()
        res.iterations = iters
        if res.ok:
            if server_final is None:
                server_final = base64.b64decode(res.element.text or "").decode()
            server_key = hmac.new(salted, b"Server Key", hname).digest()
            expected = hmac.new(server_key, auth_message, hname).digest()
            got = dict(kv.split("=", 1) for kv in server_final.split(",") if "=" in kv)
            res.server_signature_ok = ("v" in got and
                                       base64.b64decode(got["v"]) == expected)
        return res

    # --- session ---------------------------------------------------------

    def bind(self, resource=None):
        """Returns (jid or None, error element or None)."""
        res = "<resource>%s</resource>" % xml_escape(resource) if resource else ""
        self.send("<iq type='set' id='bind_1'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, res))
        el = self.expect(lambda e: e.tag == q("iq") and e.get("id") == "bind_1",
                         what="bind result")
        if el.get("type") == "result":
            self.jid = el.find("%s/%s" % (q("bind", NS_BIND), q("jid", NS_BIND))).text
            return self.jid, None
        return None, el

    def login(self, user, password, host="localhost", *, resource="raw", mechanism="PLAIN",
              presence=False, starttls=True, bind=True):
        """Full negotiation: [STARTTLS,] SASL, bind. Returns the bound JID; with
        bind=False it stops at the features after SASL and returns None."""
        self.open_stream(to=host)
        self.read_features()
        if starttls and self.tls is None:
            self.starttls()
            self.open_stream(to=host)
            self.read_features()
        if mechanism == "PLAIN":
            r = self.auth_plain(user, password)
        else:
            r = self.auth_scram(user, password, mechanism.replace("SCRAM-", ""))
        if not r.ok:
            raise AssertionError("SASL %s failed: %s" % (mechanism, r.condition))
        self.open_stream(to=host)
        self.read_features()
        if not bind:
            return None
        jid, err = self.bind(resource)
        if jid is None:
            raise AssertionError("bind failed: %s" % tostr(err))
        if presence:
            self.send("<presence/>")
        return jid

    def iq(self, payload, type_="get", to=None, timeout=None):
        """Sends an iq and returns the matching response element."""
        self._iq_n = getattr(self, "_iq_n", 0) + 1
        iq_id = "raw_iq_%d" % self._iq_n
        to_attr = " to='%s'" % xml_escape(to) if to else ""
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, iq_id, to_attr, payload))
        return self.expect(lambda e: e.tag == q("iq") and e.get("id") == iq_id
                           and e.get("type") in ("result", "error"),
                           timeout=timeout, what="iq %s response" % iq_id)

    def roster_alive(self, timeout=None):
        """True if the session still answers a roster get (a liveness probe)."""
        el = self.iq("<query xmlns='%s'/>" % NS_ROSTER, timeout=timeout)
        return el.get("type") == "result"


class SASLResult:
    def __init__(self, ok, condition, element):
        self.ok = ok
        self.condition = condition
        self.element = element
        self.iterations = None
        self.server_signature_ok = None

    def __repr__(self):
        return "SASLResult(ok=%r, condition=%r)" % (self.ok, self.condition)
