# SPDX-License-Identifier: MIT
"""Virtual hosts: a second domain (example.net) in the same server, with its own
certificate chosen by SNI, its own accounts, and messages across domains."""
import pytest
from cryptography import x509

import rawxmpp
from slixclient import connect, exchange_works, is_sub, make_friends

pytestmark = pytest.mark.vhosts


def test_each_host_has_its_own_certificate(server):
    certs = {}
    for domain in ("localhost", "example.net"):
        c = server.raw("direct", domain=domain)   # verifies against <domain>.crt
        cert = x509.load_der_x509_certificate(c.tls.peer_cert_der())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert domain in san.get_values_for_type(x509.DNSName), (domain, san)
        certs[domain] = c.tls.peer_cert_der()
    assert certs["localhost"] != certs["example.net"]


def test_stream_header_from_is_the_requested_host(server):
    c = server.raw(domain="example.net")
    c.send(rawxmpp.stream_header(to="example.net"))
    assert c.read_header().get("from") == "example.net"


async def test_account_on_second_host_logs_in(server):
    acct = server.new_account("vh", domain="example.net")
    c = await connect(server, acct, "r", mech="SCRAM-SHA-256")
    assert c.jid == acct.jid + "/r"


async def test_messages_between_hosts(server):
    a = await connect(server, server.new_account("vh", domain="example.net"), "a")
    b = await connect(server, server.new_account("lh"), "b")
    await exchange_works(a, b)
    a.msg(b.bare, "to bare across hosts")
    m = await b.message_with("to bare across hosts")
    assert m.frm == a.jid


async def test_subscription_across_hosts(server):
    a = await connect(server, server.new_account("vh", domain="example.net"), "a")
    b = await connect(server, server.new_account("lh"), "b")
    await make_friends(a, b)
    a.presences.clear()
    b.presences.clear()
    a.send_presence_now(status="from example.net")
    assert (await b.presence_from(a.jid, "available")).status == "from example.net"


async def test_same_localpart_on_two_hosts_are_different_accounts(server):
    n = next(server._counter)
    on_lh = server.adduser("twin%s@localhost" % n, "pw-lh")
    on_en = server.adduser("twin%s@example.net" % n, "pw-en")
    x = await connect(server, on_lh, "x")
    y = await connect(server, on_en, "y")
    s = await connect(server, server.new_account(), "s")
    s.msg(on_en.jid, "for example.net twin")
    await y.message_with("for example.net twin")
    await x.messages.none(lambda m: m.body == "for example.net twin")
    # The localhost password does not open the example.net account.
    c = server.raw(domain="example.net", source="127.0.0.11")
    c.open_stream(to="example.net")
    c.read_features()
    c.starttls()
    c.open_stream(to="example.net")
    c.read_features()
    res = c.auth_scram(on_en.user, "pw-lh", "SHA-256")
    assert not res.ok and res.condition == "not-authorized", res


async def test_pending_subscription_across_hosts(server):
    a = await connect(server, server.new_account("vh", domain="example.net"), "a")
    b_acct = server.new_account("lh")
    a.send_presence_now(to=b_acct.jid, ptype="subscribe")
    b = await connect(server, b_acct, "b")
    await b.presences.get(is_sub("subscribe", a.bare))
