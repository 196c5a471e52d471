# SPDX-License-Identifier: MIT
"""Server-to-server links between two yerbad instances on loopback (RFC 6120, RFC
6121 across domains): SASL EXTERNAL with certificates (XEP-0178), Server Dialback
(XEP-0220) with a real verification round trip, direct TLS (XEP-0368), links
reused, closed when idle and re-established, stanzas queued while a link comes up
and bounced when it cannot, and hostile peers (spoofed 'from', unknown host,
stanzas before authentication, wrong certificate, a TLS handshake never finished)
answered with the right stream error while the other links carry on.

Each server serves its own domain (a.example, b.example); s2s.remotes points each at
the other's listener, so no DNS is involved here (test_s2s_dns.py covers SRV)."""
import asyncio
import base64
import time

import pytest

import rawxmpp
from rawxmpp import NS_SASL, NS_STREAM, NS_TLS, q, stanza_error_condition
from slixclient import bare, connect, make_friends

pytestmark = pytest.mark.s2s

NS_SERVER = "jabber:server"
NS_DB = "jabber:server:dialback"


def remote(domain, port, host="127.0.0.1", **kw):
    entry = "    - {domain: %s, host: \"%s\", port: %d" % (domain, host, port)
    for k, v in kw.items():
        entry += ", %s: %s" % (k, v)
    return entry + "}\n"


def s2s_section(*remotes, **settings):
    text = "s2s:\n"
    for k, v in settings.items():
        text += "  %s: %s\n" % (k, v)
    if remotes:
        text += "  remotes:\n" + "".join(remotes)
    return text


def pair(make_server, a_remote=None, b_remote=None, a_settings=None, b_settings=None,
         port_kind="s2s", prefix=""):
    """Two started servers, a.example and b.example, each told where the other is."""
    a = make_server(prefix + "a", start=False,
                    hosts=[{"domain": "a.example", "offline_quota": 100}], s2s=True)
    b = make_server(prefix + "b", start=False,
                    hosts=[{"domain": "b.example", "offline_quota": 100}], s2s=True)
    ar = dict(trust="self-signed")
    ar.update(a_remote or {})
    br = dict(trust="self-signed")
    br.update(b_remote or {})
    if port_kind == "s2s-tls":
        ar.setdefault("direct_tls", "true")
        br.setdefault("direct_tls", "true")
    a.extra = s2s_section(remote("b.example", b.ports[port_kind], **ar), **(a_settings or {}))
    b.extra = s2s_section(remote("a.example", a.ports[port_kind], **br), **(b_settings or {}))
    a.write_config()
    b.write_config()
    a.start()
    b.start()
    return a, b


def logged(server, text, timeout=5.0):
    """Whether the server's log shows text within timeout (the log is written by a
    reader thread, a moment after the server prints it)."""
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def links(server):
    """yerbactl s2s as a list of dicts."""
    out = server.ctl("s2s").stdout
    keys = ("dir", "local", "remote", "state", "auth", "tls", "peer", "stanzas", "queued")
    return [dict(zip(keys, line.split("\t"))) for line in out.splitlines() if line.strip()]


async def users(a, b):
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    cb = await connect(b, b.new_account(domain="b.example"), "b")
    return ca, cb


async def test_external_messages_and_subscriptions(make_server):
    a, b = pair(make_server)
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "over the federation")
    got = await cb.message_with("over the federation")
    assert got.frm == ca.jid
    cb.msg(ca.jid, "and back")
    assert (await ca.message_with("and back")).frm == cb.jid

    # RFC 6121 across domains: subscription both ways, presence broadcast, probes.
    await make_friends(ca, cb)
    assert (await ca.roster_get())[cb.bare]["subscription"] == "both"
    ca.presences.clear()
    cb.send_presence_now(status="busy on b", show="dnd")
    p = await ca.presence_from(cb.jid, "available")
    assert p.status == "busy on b" and p.show == "dnd"

    # A second login on a probes b's contacts: b's presence comes back over s2s.
    ca2 = await connect(a, ca.account, "second")
    p = await ca2.presence_from(cb.jid, "available")
    assert p.status == "busy on b"

    # iq across domains: b's server answers a version query for its domain.
    r = await ca.iq("<query xmlns='jabber:iq:version'/>", to="b.example")
    assert r.type == "result", r

    # One link each way, authenticated with certificates, over TLS 1.3.
    la = links(a)
    out = [l for l in la if l["dir"] == "out"]
    inc = [l for l in la if l["dir"] == "in"]
    assert len(out) == 1 and len(inc) == 1, la
    assert out[0]["remote"] == "b.example" and out[0]["state"] == "ready"
    assert out[0]["auth"] == "EXTERNAL" and out[0]["tls"] == "TLSv1.3", out
    assert int(out[0]["stanzas"]) >= 5
    assert inc[0]["remote"] == "b.example" and inc[0]["auth"] == "EXTERNAL"
    assert "s2s_streams: 2" in a.ctl("stats").stdout


async def test_dialback_with_verification(make_server):
    # a uses dialback; b trusts a by dialback alone, so b must call a back (the
    # authoritative server) with db:verify before it accepts a's stanzas.
    a, b = pair(make_server, a_remote={"auth": "dialback"}, b_remote={"trust": "dialback"})
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "dialback works")
    await cb.message_with("dialback works")
    out_a = [l for l in links(a) if l["dir"] == "out"][0]
    assert out_a["auth"] == "dialback" and out_a["state"] == "ready", out_a
    in_b = [l for l in links(b) if l["dir"] == "in" and l["remote"] == "a.example"]
    assert in_b and in_b[0]["auth"] == "dialback", links(b)
    assert logged(a, "dialback key for a.example -> b.example checked: valid")
    cb.msg(ca.jid, "reply")
    await ca.message_with("reply")


async def test_dialback_accepted_on_certificate(make_server):
    # XEP-0344: when the certificate already proves the domain, no callback is made.
    a, b = pair(make_server, a_remote={"auth": "dialback"})
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "dialback by certificate")
    await cb.message_with("dialback by certificate")
    in_b = [l for l in links(b) if l["dir"] == "in"][0]
    assert in_b["auth"] == "dialback (certificate)", in_b


async def test_direct_tls_links(make_server):
    a, b = pair(make_server, port_kind="s2s-tls")
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "direct tls")
    await cb.message_with("direct tls")
    assert logged(a, "direct TLS")
    out = [l for l in links(a) if l["dir"] == "out"][0]
    assert out["auth"] == "EXTERNAL" and out["tls"].startswith("TLS"), out


async def test_queued_stanzas_arrive_in_order(make_server):
    a, b = pair(make_server)
    ca, cb = await users(a, b)
    # The link does not exist yet: all of these wait for it and keep their order.
    for i in range(30):
        ca.msg(cb.jid, "queued %02d" % i)
    got = []
    for i in range(30):
        m = await cb.messages.get(lambda s: (s.body or "").startswith("queued"),
                                  what="queued message %d" % i)
        got.append(m.body)
    assert got == ["queued %02d" % i for i in range(30)]


async def test_offline_storage_for_remote_senders(make_server):
    a, b = pair(make_server)
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    ub = b.new_account(domain="b.example")
    ca.msg(ub.jid, "stored on b")
    await asyncio.sleep(1.0)  # delivered to b and stored there while ub is away
    cb = await connect(b, ub, "b")
    m = await cb.message_with("stored on b")
    assert m.frm == ca.jid and m.delay is not None


async def test_unreachable_remote_bounces(make_server):
    a = make_server("a", start=False, hosts=[{"domain": "a.example"}], s2s=True)
    # Nothing listens on the s2s port given for nowhere.example (a's own c2s port is
    # closed for this: take a port we just opened and closed).
    import harness
    dead = harness.free_port()
    a.extra = s2s_section(remote("nowhere.example", dead, trust="self-signed"),
                          connect_timeout=5)
    a.write_config()
    a.start()
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    ca.msg("someone@nowhere.example", "into the void")
    err = await ca.messages.get(lambda s: s.type == "error", what="bounce")
    assert err.error == "remote-server-not-found", err
    assert err.frm == "someone@nowhere.example"
    # The server is fine: a local exchange still works.
    r = await ca.iq("<ping xmlns='urn:xmpp:ping'/>", to="a.example")
    assert r.type == "result"


async def test_wrong_certificate_is_refused(make_server):
    # a insists on a CA-signed certificate for b (the default trust), and b's is
    # self-signed: the link is refused and a's user gets the error.
    a, b = pair(make_server, a_remote={"trust": "ca"})
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "must not arrive")
    err = await ca.messages.get(lambda s: s.type == "error", what="bounce")
    assert err.error == "remote-server-not-found", err
    await cb.messages.none(lambda s: s.body == "must not arrive", wait=1.0,
                           what="message over a refused link")
    assert logged(a, "failed")


async def test_idle_link_closes_and_comes_back(make_server):
    a, b = pair(make_server, a_settings={"idle_timeout": 5}, b_settings={"idle_timeout": 5})
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "before idle")
    await cb.message_with("before idle")
    deadline = time.monotonic() + 15
    while any(l["dir"] == "out" for l in links(a)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert not any(l["dir"] == "out" for l in links(a)), links(a)
    ca.msg(cb.jid, "after idle")
    await cb.message_with("after idle")


async def test_remote_restart_relinks(make_server):
    a, b = pair(make_server)
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "one")
    await cb.message_with("one")
    b.restart()
    cb = await connect(b, cb.account, "b2")
    await asyncio.sleep(0.5)
    ca.msg(cb.jid, "two")
    await cb.message_with("two")


# --- hostile peers (raw sockets speaking s2s) ---------------------------------


def s2s_raw(server, port_kind="s2s", **kw):
    kw.setdefault("server_name", "b.example")
    kw.setdefault("cafile", None)
    return rawxmpp.RawXMPP("127.0.0.1", server.ports[port_kind], **kw)


def s2s_header(to="b.example", frm="a.example"):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='%s' xmlns:db='%s' to='%s' from='%s' version='1.0'>"
            % (NS_STREAM, NS_DB, to, frm))


def external_login(r, domain="a.example"):
    """STARTTLS with the client certificate, then SASL EXTERNAL as domain."""
    r.send(s2s_header(frm=domain))
    r.read_header()
    r.read_features()
    r.starttls()
    r._reset_parser()
    r.send(s2s_header(frm=domain))
    r.read_header()
    f = r.read_features()
    mechs = [m.text for m in f.iter(q("mechanism", NS_SASL))]
    assert "EXTERNAL" in mechs, rawxmpp.tostr(f)
    r.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, base64.b64encode(domain.encode()).decode()))
    el = r.next()
    assert el.tag == q("success", NS_SASL), rawxmpp.tostr(el)
    r._reset_parser()
    r.send(s2s_header(frm=domain))
    r.read_header()
    r.read_features()


async def test_spoofed_from_is_refused(make_server):
    a, b = pair(make_server)
    ca, cb = await users(a, b)
    # A peer that proved a.example (with a.example's own certificate)...
    r = s2s_raw(b, client_cert=(a.cert("a.example"), a.data_dir / "certs" / "a.example.key"))
    external_login(r)
    r.send("<message from='x@a.example/r' to='%s' type='chat'><body>fine</body></message>"
           % cb.jid)
    await cb.message_with("fine")
    # ...may not speak for another domain.
    r.send("<message from='mallory@evil.example' to='%s' type='chat'><body>spoof</body>"
           "</message>" % cb.jid)
    assert r.expect_stream_error() == "invalid-from"
    await cb.messages.none(lambda s: s.body == "spoof", wait=0.5, what="spoofed message")
    # The real link between a and b is unaffected.
    ca.msg(cb.jid, "still here")
    await cb.message_with("still here")


async def test_external_with_wrong_authzid(make_server):
    a, b = pair(make_server)
    r = s2s_raw(b, client_cert=(a.cert("a.example"), a.data_dir / "certs" / "a.example.key"))
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.starttls()
    r._reset_parser()
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, base64.b64encode(b"evil.example").decode()))
    el = r.next()
    assert el.tag == q("failure", NS_SASL)
    assert el.find(q("invalid-authzid", NS_SASL)) is not None, rawxmpp.tostr(el)


async def test_certificate_for_another_domain_gets_no_external(make_server):
    a, b = pair(make_server)
    # a.example's certificate, but the stream claims to be from c.example.
    r = s2s_raw(b, client_cert=(a.cert("a.example"), a.data_dir / "certs" / "a.example.key"))
    r.send(s2s_header(frm="c.example"))
    r.read_header()
    r.read_features()
    r.starttls()
    r._reset_parser()
    r.send(s2s_header(frm="c.example"))
    r.read_header()
    f = r.read_features()
    assert "EXTERNAL" not in [m.text for m in f.iter(q("mechanism", NS_SASL))]


async def test_unknown_host(make_server):
    a, b = pair(make_server)
    r = s2s_raw(b)
    r.send(s2s_header(to="nobody.example"))
    assert r.expect_stream_error() == "host-unknown"


async def test_stanza_before_authentication(make_server):
    a, b = pair(make_server)
    r = s2s_raw(b)
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.starttls()
    r._reset_parser()
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.send("<message from='x@a.example' to='user1@b.example'><body>early</body></message>")
    assert r.expect_stream_error() == "not-authorized"


async def test_client_namespace_refused(make_server):
    a, b = pair(make_server)
    r = s2s_raw(b)
    r.send(rawxmpp.stream_header(to="b.example"))  # jabber:client on an s2s port
    assert r.expect_stream_error() == "invalid-namespace"


async def test_dialback_key_forgery_fails(make_server):
    # A peer claiming a.example by dialback with a made-up key: b calls a back,
    # a says invalid, and the claim is refused.
    a, b = pair(make_server, b_remote={"trust": "dialback"})
    r = s2s_raw(b)
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.starttls()
    r._reset_parser()
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.send("<db:result from='a.example' to='b.example'>%s</db:result>" % ("0" * 64))
    el = r.expect(lambda e: e.tag == "{%s}result" % NS_DB, timeout=15, what="db:result")
    assert el.get("type") == "invalid", rawxmpp.tostr(el)
    assert logged(a, "dialback key for a.example -> b.example checked: invalid")


async def test_tls_never_finished(make_server):
    a, b = pair(make_server, b_settings={"connect_timeout": 3})
    r = s2s_raw(b)
    r.send(s2s_header())
    r.read_header()
    r.read_features()
    r.send("<starttls xmlns='%s'/>" % NS_TLS)
    el = r.next()
    assert el.tag == q("proceed", NS_TLS)
    # ...and never start the handshake: b gives up within its setup timeout.
    assert r.wait_closed(timeout=10)
    # Meanwhile real federation works.
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "unaffected")
    await cb.message_with("unaffected")


async def test_federation_off(make_server):
    a = make_server("a", start=False, hosts=[{"domain": "a.example"}], s2s=True)
    a.extra = s2s_section(enabled="false")
    a.write_config()
    a.start()
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    ca.msg("x@b.example", "no federation")
    err = await ca.messages.get(lambda s: s.type == "error", what="bounce")
    assert err.error == "remote-server-not-found"


async def test_ipv6_links(make_server):
    a = make_server("a", start=False, hosts=[{"domain": "a.example"}], s2s=True,
                    s2s_address="::1")
    b = make_server("b", start=False, hosts=[{"domain": "b.example"}], s2s=True,
                    s2s_address="::1")
    a.extra = s2s_section(remote("b.example", b.ports["s2s"], host="::1", trust="self-signed"))
    b.extra = s2s_section(remote("a.example", a.ports["s2s"], host="::1", trust="self-signed"))
    a.write_config()
    b.write_config()
    a.start()
    b.start()
    ca, cb = await users(a, b)
    ca.msg(cb.jid, "over IPv6")
    await cb.message_with("over IPv6")
    cb.msg(ca.jid, "and back over IPv6")
    await ca.message_with("and back over IPv6")
    out = [l for l in links(a) if l["dir"] == "out"][0]
    assert out["peer"].startswith("[::1]:"), out
    inc = [l for l in links(a) if l["dir"] == "in"][0]
    assert inc["peer"].startswith("[::1]:"), inc


def server_auth_only_cert(domain, directory):
    """A self-signed EC P-256 certificate for domain whose extended key usage is
    serverAuth alone, as public CAs now issue them (XEP-0178 §3 must accept it)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    crt, pem = directory / ("%s.crt" % domain), directory / ("%s.key" % domain)
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


async def test_server_auth_only_certificate_for_external(make_server):
    a = make_server("a", start=False, s2s=True, hosts=[{"domain": "a.example"}])
    # Where yerbad looks for the host's certificate (and the test clients trust it).
    crt, _ = server_auth_only_cert("a.example", a.data_dir / "certs")
    b = make_server("b", start=False, hosts=[{"domain": "b.example"}], s2s=True)
    a.extra = s2s_section(remote("b.example", b.ports["s2s"], trust="self-signed",
                                 auth="external"))
    # b really verifies it: the certificate is b's only trusted CA, and trust is "ca",
    # so a client certificate refused for its purpose would fail the chain check.
    b.extra = s2s_section(remote("a.example", a.ports["s2s"], trust="ca"), ca_file=str(crt))
    a.write_config()
    b.write_config()
    a.start()
    b.start()
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    cb = await connect(b, b.new_account(domain="b.example"), "b")
    ca.msg(cb.jid, "server-auth-only certificate")
    await cb.message_with("server-auth-only certificate")
    inc = [l for l in links(b) if l["dir"] == "in"][0]
    assert inc["auth"] == "EXTERNAL", inc


async def test_plaintext_only_where_allowed(make_server):
    # b allows a.example without TLS (and trusts it by dialback); a raw peer that
    # never starts TLS can then authenticate by dialback... for a domain whose real
    # server (a) confirms the key, and only then. With the default (TLS required),
    # the same peer is refused.
    a, b = pair(make_server, b_remote={"trust": "dialback", "require_tls": "false"})
    r = s2s_raw(b)
    r.send(s2s_header())
    r.read_header()
    f = r.read_features()
    assert f.find(q("starttls", NS_TLS)) is not None
    assert f.find(q("starttls", NS_TLS)).find(q("required", NS_TLS)) is None
    r.send("<db:result from='a.example' to='b.example'>%s</db:result>" % ("1" * 64))
    el = r.expect(lambda e: e.tag == "{%s}result" % NS_DB, timeout=15, what="db:result")
    assert el.get("type") == "invalid", rawxmpp.tostr(el)  # a never made that key

    c, d = pair(make_server, prefix="strict-")  # defaults: TLS required
    r2 = s2s_raw(d)
    r2.send(s2s_header())
    r2.read_header()
    f = r2.read_features()
    assert f.find(q("starttls", NS_TLS)).find(q("required", NS_TLS)) is not None
    r2.send("<db:result from='a.example' to='b.example'>%s</db:result>" % ("1" * 64))
    assert r2.expect_stream_error() == "policy-violation"


async def test_piggybacking_a_second_domain(make_server):
    # a serves a.example and a2.example; once a.example has a link to b, a2.example's
    # traffic to b rides on the same stream (XEP-0220 §4.3) with its own dialback,
    # which b checks by calling a2.example's server (a) back.
    a = make_server("a", start=False, s2s=True,
                    hosts=[{"domain": "a.example"}, {"domain": "a2.example"}])
    b = make_server("b", start=False, hosts=[{"domain": "b.example"}], s2s=True)
    a.extra = s2s_section(remote("b.example", b.ports["s2s"], trust="self-signed"))
    b.extra = s2s_section(remote("a.example", a.ports["s2s"], trust="self-signed"),
                          remote("a2.example", a.ports["s2s"], trust="dialback"))
    a.write_config()
    b.write_config()
    a.start()
    b.start()
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    ca2 = await connect(a, a.new_account(domain="a2.example"), "a2")
    cb = await connect(b, b.new_account(domain="b.example"), "b")
    ca.msg(cb.jid, "first domain")
    await cb.message_with("first domain")
    ca2.msg(cb.jid, "second domain, same stream")
    got = await cb.message_with("second domain, same stream")
    assert got.frm == ca2.jid
    outs = [l for l in links(a) if l["dir"] == "out"]
    rider = [l for l in outs if l["local"] == "a2.example"]
    carrier = [l for l in outs if l["local"] == "a.example"]
    assert rider and carrier, outs
    assert rider[0]["auth"] == "dialback (piggyback)" and rider[0]["state"] == "ready", rider
    assert rider[0]["peer"] == carrier[0]["peer"], outs
    # b saw one stream from a carrying both domains (plus its own callback link).
    ins_b = [l for l in links(b) if l["dir"] == "in"]
    assert len(ins_b) == 1, ins_b
    assert logged(a, "dialback key for a2.example -> b.example checked: valid")
    # Replies to both domains come back over b's own link(s).
    cb.msg(ca2.jid, "reply to the second domain")
    await ca2.message_with("reply to the second domain")


async def test_piggyback_refused_falls_back_to_own_stream(make_server):
    # b does not trust a2.example by dialback (trust ca, and a's certificate does not
    # name a2.example): the ride is refused and a2.example opens its own stream, whose
    # certificate for a2.example b accepts as self-signed.
    a = make_server("a", start=False, s2s=True,
                    hosts=[{"domain": "a.example"}, {"domain": "a2.example"}])
    b = make_server("b", start=False, hosts=[{"domain": "b.example"}], s2s=True)
    a.extra = s2s_section(remote("b.example", b.ports["s2s"], trust="self-signed"))
    b.extra = s2s_section(remote("a.example", a.ports["s2s"], trust="self-signed"),
                          remote("a2.example", a.ports["s2s"], trust="self-signed"))
    a.write_config()
    b.write_config()
    a.start()
    b.start()
    ca = await connect(a, a.new_account(domain="a.example"), "a")
    ca2 = await connect(a, a.new_account(domain="a2.example"), "a2")
    cb = await connect(b, b.new_account(domain="b.example"), "b")
    ca.msg(cb.jid, "carrier")
    await cb.message_with("carrier")
    ca2.msg(cb.jid, "own stream after a refused ride")
    await cb.message_with("own stream after a refused ride")
    assert logged(a, "piggybacking a2.example -> b.example ended")
    rider = [l for l in links(a) if l["dir"] == "out" and l["local"] == "a2.example"][0]
    assert rider["auth"] == "EXTERNAL", rider
