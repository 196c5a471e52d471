# SPDX-License-Identifier: MIT
"""Logging in: STARTTLS, direct TLS (XEP-0368), IPv6, every SCRAM variant with and
without channel binding (RFC 5802, RFC 7677, RFC 9266, XEP-0440), PLAIN over TLS,
and wrong credentials."""
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

import rawxmpp
from rawxmpp import NS_SASL, NS_TLS, NS_STREAM, q
from slixclient import Client, LoginFailed, connect, exchange_works

pytestmark = pytest.mark.auth

HASHES = ["SHA-1", "SHA-256", "SHA-512"]


def test_stream_header_and_features_before_tls(server):
    c = server.raw()
    c.send(rawxmpp.stream_header(to="localhost"))
    attrs = c.read_header()
    assert c.stream_tag == q("stream", NS_STREAM)
    assert attrs.get("from") == "localhost"
    assert attrs.get("version") == "1.0"
    assert attrs.get("id"), "stream header without an id"
    feats = c.read_features()
    starttls = feats.find(q("starttls", NS_TLS))
    assert starttls is not None, "no STARTTLS offered: %s" % rawxmpp.tostr(feats)
    assert starttls.find(q("required", NS_TLS)) is not None, \
        "require_tls is on but <required/> is missing"
    assert "PLAIN" not in c.mechanisms(), "PLAIN offered before TLS"


def test_plain_refused_before_tls(server):
    acct = server.new_account()
    c = server.raw(source="127.0.0.2")
    c.open_stream()
    c.read_features()
    try:
        res = c.auth_plain(acct.user, acct.password)
        assert not res.ok, "PLAIN succeeded on an unencrypted stream"
    except rawxmpp.StreamClosed:
        pass  # closing the stream is also a refusal


def test_features_after_starttls(server):
    c = server.raw()
    c.open_stream()
    c.read_features()
    c.starttls()
    assert c.tls.version() == "TLSv1.3"
    c.open_stream()
    c.read_features()
    assert c.features.find(q("starttls", NS_TLS)) is None, "STARTTLS offered twice"
    mechs = c.mechanisms()
    for h in HASHES:
        assert "SCRAM-%s" % h in mechs, mechs
        assert "SCRAM-%s-PLUS" % h in mechs, mechs
    assert "PLAIN" in mechs, mechs
    cb = c.channel_binding_types()
    assert cb is not None, "no XEP-0440 <sasl-channel-binding/> in features"
    assert "tls-exporter" in cb and "tls-server-end-point" in cb, cb


@pytest.mark.parametrize("hash_name", HASHES)
async def test_slixmpp_scram_over_starttls(server, hash_name):
    acct = server.new_account()
    mech = "SCRAM-%s" % hash_name
    c = await connect(server, acct, mech=mech)
    assert c["feature_mechanisms"].mech.name == mech
    assert c.jid == acct.jid + "/slix"
    other = await connect(server, server.new_account())
    await exchange_works(c, other)


@pytest.mark.parametrize("hash_name", HASHES)
def test_raw_scram_mutual_auth(server, hash_name):
    acct = server.new_account()
    c = server.raw()
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    res = c.auth_scram(acct.user, acct.password, hash_name)
    assert res.ok, res
    assert res.server_signature_ok, "server signature (v=) did not verify"
    assert res.iterations >= 4096, "iteration count %d < 4096 (RFC 5802 §5.1)" % res.iterations
    c.open_stream()
    c.read_features()
    jid, err = c.bind("r1")
    assert jid == acct.jid + "/r1", err


@pytest.mark.parametrize("cb_type,tls_max", [
    ("tls-exporter", None),
    ("tls-server-end-point", None),
    ("tls-server-end-point", SSL.TLS1_2_VERSION),
    ("tls-unique", SSL.TLS1_2_VERSION),
], ids=["exporter-tls13", "endpoint-tls13", "endpoint-tls12", "unique-tls12"])
@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_plus(server, hash_name, cb_type, tls_max):
    acct = server.new_account()
    c = server.raw(tls_max=tls_max)
    c.open_stream()
    c.read_features()
    c.starttls()
    assert c.tls.version() == ("TLSv1.2" if tls_max else "TLSv1.3")
    c.open_stream()
    c.read_features()
    assert "SCRAM-%s-PLUS" % hash_name in c.mechanisms()
    assert cb_type in (c.channel_binding_types() or []), c.channel_binding_types()
    res = c.auth_scram(acct.user, acct.password, hash_name, plus=cb_type)
    assert res.ok, res
    assert res.server_signature_ok
    c.open_stream()
    c.read_features()
    jid, err = c.bind("plus")
    assert jid == acct.jid + "/plus", err


@pytest.mark.parametrize("cb_type", ["tls-exporter", "tls-server-end-point"])
def test_scram_plus_wrong_binding_data_rejected(server, cb_type):
    """A man in the middle would present different channel-binding data."""
    acct = server.new_account()
    c = server.raw(source="127.0.0.3")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    res = c.auth_scram(acct.user, acct.password, "SHA-256", plus=cb_type, cb_data=b"\x00" * 32)
    assert not res.ok
    assert res.condition == "not-authorized", res


def test_scram_y_flag_rejected_when_plus_offered(server):
    """RFC 5802 §6: 'y' (client thinks the server can't bind) must fail when the
    server does advertise -PLUS: that is a downgrade."""
    acct = server.new_account()
    c = server.raw(source="127.0.0.4")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    res = c.auth_scram(acct.user, acct.password, "SHA-256", gs2_flag="y")
    assert not res.ok, "SCRAM with gs2 flag 'y' accepted although -PLUS is offered"


def test_scram_plus_unsupported_binding_type_rejected(server):
    acct = server.new_account()
    c = server.raw(source="127.0.0.5")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    res = c.auth_scram(acct.user, acct.password, "SHA-256", plus="tls-unique-for-telnet",
                       cb_data=b"\x01" * 12)
    assert not res.ok


async def test_slixmpp_default_settings_log_in(server):
    """slixmpp as a user runs it: its own mechanism choice and channel binding
    (slixmpp 1.8.3 picks SCRAM-SHA-512-PLUS with tls-unique, even on TLS 1.3)."""
    acct = server.new_account()
    c = Client(server, acct, channel_binding=True)
    await c.login(timeout=15)
    assert c.session_ok


async def test_slixmpp_plain_over_starttls(server):
    acct = server.new_account()
    c = await connect(server, acct, mech="PLAIN")
    assert c["feature_mechanisms"].mech.name == "PLAIN"
    other = await connect(server, server.new_account())
    await exchange_works(c, other)


def test_raw_plain_then_bind(server):
    acct = server.new_account()
    c = server.raw()
    jid = c.login(acct.user, acct.password, resource="plainraw")
    assert jid == acct.jid + "/plainraw"
    assert c.roster_alive()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_wrong_password_not_authorized(server, mechanism):
    acct = server.new_account()
    c = server.raw(source="127.0.0.6")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    if mechanism == "PLAIN":
        res = c.auth_plain(acct.user, acct.password + "x")
    else:
        res = c.auth_scram(acct.user, acct.password + "x", mechanism[len("SCRAM-"):])
    assert not res.ok
    assert res.condition == "not-authorized", res


def test_unknown_user_not_authorized(server):
    c = server.raw(source="127.0.0.7")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    res = c.auth_scram("nosuchuser", "whatever", "SHA-256")
    assert not res.ok
    assert res.condition == "not-authorized", res


async def test_slixmpp_wrong_password_fails(server):
    acct = server.new_account()
    c = Client(server, acct, password="not-" + acct.password, mech="SCRAM-SHA-256")
    with pytest.raises(LoginFailed):
        await c.login(timeout=20)
    assert "not-authorized" in c.failed_auth, c.failed_auth


def test_retry_after_failure_on_same_stream(server):
    """RFC 6120 §6.4.5: after a <failure/> the client may retry on the same stream."""
    acct = server.new_account()
    c = server.raw(source="127.0.0.8")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    assert not c.auth_scram(acct.user, "wrong", "SHA-256").ok
    res = c.auth_scram(acct.user, acct.password, "SHA-256")
    assert res.ok, res


def test_direct_tls_with_alpn(server):
    acct = server.new_account()
    c = server.raw("direct", alpn=["xmpp-client"])
    assert c.tls.alpn() == "xmpp-client", "ALPN not negotiated (XEP-0368)"
    assert c.tls.version() == "TLSv1.3"
    c.open_stream()
    c.read_features()
    assert c.features.find(q("starttls", NS_TLS)) is None, "STARTTLS offered inside TLS"
    assert "SCRAM-SHA-256-PLUS" in c.mechanisms()
    res = c.auth_scram(acct.user, acct.password, "SHA-256", plus="tls-exporter")
    assert res.ok, res
    c.open_stream()
    c.read_features()
    assert c.bind("direct")[0] == acct.jid + "/direct"


async def test_slixmpp_direct_tls(server):
    acct = server.new_account()
    c = await connect(server, acct, kind="direct", mech="SCRAM-SHA-256", alpn=["xmpp-client"])
    other = await connect(server, server.new_account())
    await exchange_works(c, other)


def test_tls_below_1_2_refused(server):
    old = dict(tls_max=SSL.TLS1_1_VERSION, tls_min=SSL.TLS1_VERSION, seclevel0=True)
    with pytest.raises((SSL.Error, rawxmpp.XMPPTimeout, ConnectionError)):
        server.raw("direct", source="127.0.0.9", **old)
    c = server.raw("starttls", source="127.0.0.9", **old)
    c.open_stream()
    c.read_features()
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    assert c.next().tag == q("proceed", NS_TLS)
    with pytest.raises((SSL.Error, rawxmpp.XMPPTimeout, ConnectionError)):
        c._start_tls()


def test_certificate_verifies_for_localhost(server):
    """The generated certificate is valid for the host name (SAN DNS:localhost)
    when used as the trust anchor, as users are told to do."""
    c = server.raw("direct")  # cafile=<data_dir>/certs/localhost.crt, verify on
    cert = x509.load_pem_x509_certificate(server.cert("localhost").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert c.tls.peer_cert_der() == cert.public_bytes(Encoding.DER)


async def test_ipv6_listener(server):
    a = await connect(server, server.new_account(), kind="v6", mech="SCRAM-SHA-256")
    b = await connect(server, server.new_account(), kind="starttls", mech="SCRAM-SHA-256")
    await exchange_works(a, b)
    out = server.ctl("sessions").stdout
    line = [l for l in out.splitlines() if a.jid in l]
    assert line and "::1" in line[0], "IPv6 session not listed with ::1:\n%s" % out


def test_sasl_mechanism_not_offered_rejected(server):
    c = server.raw(source="127.0.0.10")
    c.open_stream()
    c.read_features()
    c.starttls()
    c.open_stream()
    c.read_features()
    c.send("<auth xmlns='%s' mechanism='X-NOT-A-MECH'>AA==</auth>" % NS_SASL)
    el = c.next()
    assert el.tag == q("failure", NS_SASL), rawxmpp.tostr(el)
    assert el.find(q("invalid-mechanism", NS_SASL)) is not None, rawxmpp.tostr(el)


def test_tls_session_resumption(server):
    # A client that reconnects (a phone changing networks) may resume its TLS 1.3
    # session with the ticket the server gave it, skipping the key exchange and the
    # certificate signature; the resumed stream works like any other.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def features(session=None):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.ports["direct"]),
                                                     timeout=10),
                            server_hostname="localhost", session=session)
        try:
            s.sendall(rawxmpp.stream_header(to="localhost").encode())
            data = b""
            while b"</stream:features>" not in data:
                chunk = s.recv(4096)
                assert chunk, "stream closed before its features: %r" % data
                data += chunk
            return s.version(), s.session_reused, s.session, data
        finally:
            s.close()

    version, reused, session, data = features()
    assert version == "TLSv1.3" and not reused
    assert session is not None and session.has_ticket, "no session ticket issued"
    version, reused, _, data = features(session)
    assert reused, "the ticket was not accepted"
    assert b"mechanism>SCRAM-SHA-1<" in data, data
