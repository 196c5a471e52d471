# SPDX-License-Identifier: MIT
"""The gateway path with real software: biboumi (Debian's XMPP<->IRC gateway) as an
XEP-0114 component of yerbad, ngircd as the IRC server, a slixmpp user on yerbad and
a raw IRC client on ngircd talking to each other in one channel, both directions.

Everything runs on loopback with private config files, databases and free ports;
the test starts ngircd and biboumi itself and stops them by PID.
"""
import asyncio
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import harness
from rawxmpp import NS_CLIENT
from slixclient import connect
from test_component import ComponentServer  # noqa: F401  (the component listener)

IRC_DOMAIN = "irc.localhost"
SECRET = "biboumi-secret"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = NS_MUC + "#user"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
CHANNEL = "#test"


class GatewayServer(ComponentServer):
    """yerbad with one component: biboumi's irc.localhost."""

    def config_text(self, extra_hosts=()):
        text = harness.Server.config_text(self, extra_hosts)
        text = text.replace("listeners:\n", "listeners:\n  - {type: component, port: %d}\n"
                            % self.component_port, 1)
        return text + "components:\n  - {domain: %s, secret: %s}\n" % (IRC_DOMAIN, SECRET)


class Proc:
    """A child process we started, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, name, argv, log, env=None):
        self.name = name
        self.log = log
        self.out = open(log, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=subprocess.STDOUT, env=env)

    def text(self):
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return
            assert self.p.poll() is None, "%s exited %s:\n%s" % (self.name, self.p.returncode,
                                                                 self.text()[-3000:])
            time.sleep(0.05)
        raise AssertionError("%s: no %r within %ss:\n%s" % (self.name, pattern, timeout,
                                                             self.text()[-3000:]))

    def stop(self, timeout=5):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.out.close()


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on 127.0.0.1:%d after %ss" % (port, timeout))


@pytest.fixture
def ngircd(tmp_path):
    d = tmp_path / "ngircd"
    d.mkdir()
    port = harness.free_port()
    (d / "motd").write_text("test\n")
    conf = d / "ngircd.conf"
    conf.write_text(
        "[Global]\n"
        "Name = irc.yerba.test\n"
        "Info = yerba test IRC server\n"
        "Listen = 127.0.0.1\n"
        "Ports = %d\n"
        "MotdFile = %s\n"
        "PidFile = %s\n"
        "[Limits]\n"
        "ConnectRetry = 5\n"
        "MaxConnectionsIP = 0\n"
        "[Options]\n"
        "PAM = no\n"
        "Ident = no\n"
        "DNS = no\n"
        "SyslogFacility = local7\n"
        % (port, d / "motd", d / "ngircd.pid"))
    p = Proc("ngircd", ["/usr/sbin/ngircd", "-n", "-f", str(conf)], d / "ngircd.log")
    try:
        wait_port(port)
        yield port
    finally:
        p.stop()


@pytest.fixture
def gateway(tmp_path):
    s = GatewayServer(tmp_path / "yerbad")
    s.start()
    d = tmp_path / "biboumi"
    d.mkdir()
    (d / "policy").mkdir()
    conf = d / "biboumi.cfg"
    conf.write_text(
        "hostname=%s\npassword=%s\nxmpp_server_ip=127.0.0.1\nport=%d\ndb_name=%s\n"
        "identd_port=0\nlog_level=0\nlog_file=\npolicy_directory=%s\n"
        "realname_customization=true\n"
        % (IRC_DOMAIN, SECRET, s.component_port, d / "biboumi.sqlite", d / "policy"))
    # Only the variables biboumi needs: BIBOUMI_* from the caller would override
    # the file.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(d)}
    b = Proc("biboumi", ["/usr/bin/biboumi", str(conf)], d / "biboumi.log", env=env)
    try:
        # The component is up once yerbad says so (and biboumi got its <handshake/>).
        deadline = time.monotonic() + 15
        while True:
            out = s.ctl("components").stdout
            if "%s\tconnected" % IRC_DOMAIN in out:
                break
            assert b.p.poll() is None, "biboumi exited:\n%s" % b.text()[-3000:]
            assert time.monotonic() < deadline, ("biboumi did not connect:\n%s\n%s"
                                                 % (b.text()[-3000:], s.log_tail()))
            time.sleep(0.1)
        yield s, b
    finally:
        b.stop()
        from conftest import _finish
        _finish(s)


class IRCClient:
    """A minimal IRC client on a blocking socket, every read bounded by a deadline."""

    def __init__(self, port, nick):
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""
        self.lines = []
        self.send("NICK %s" % nick)
        self.send("USER %s 0 * :yerba test" % nick)
        self.expect(r"^:\S+ 001 %s " % nick, 15)

    def send(self, line):
        self.sock.sendall((line + "\r\n").encode())

    def expect(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            for i, line in enumerate(self.lines):
                if rx.search(line):
                    del self.lines[: i + 1]
                    return line
            remaining = deadline - time.monotonic()
            assert remaining > 0, "IRC: no line matching %r within %ss; got %r" % (
                pattern, timeout, self.lines[-10:])
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            assert data, "IRC server closed the connection; got %r" % self.lines[-10:]
            self.buf += data
            *complete, self.buf = self.buf.split(b"\r\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                else:
                    self.lines.append(line)

    def close(self):
        try:
            self.send("QUIT :bye")
        except OSError:
            pass
        self.sock.close()


async def configure_irc_port(user, port):
    """biboumi's per-server ad-hoc command 'configure' (its user documentation, "On
    a server JID"): connect to our ngircd on its free port, plaintext only."""
    server_jid = "127.0.0.1@" + IRC_DOMAIN
    r = await user.iq("<command xmlns='%s' node='configure' action='execute'/>" % NS_COMMANDS,
                      itype="set", to=server_jid, timeout=10)
    assert r.type == "result", r
    cmd = r.xml.find("{%s}command" % NS_COMMANDS)
    sid = cmd.get("sessionid")
    form = cmd.find("{%s}x" % NS_DATA)
    fields = {f.get("var"): (f.get("label") or "") for f in form.findall("{%s}field" % NS_DATA)}
    ports = [v for v, label in fields.items() if label.lower().startswith("ports")]
    tls_ports = [v for v, label in fields.items() if label.lower().startswith("tls ports")]
    assert ports and tls_ports, fields
    payload = ("<command xmlns='%s' node='configure' sessionid='%s' action='complete'>"
               "<x xmlns='%s' type='submit'>"
               "<field var='%s'><value>%d</value></field>"
               "<field var='%s'/>"
               "</x></command>" % (NS_COMMANDS, sid, NS_DATA, ports[0], port, tls_ports[0]))
    r = await user.iq(payload, itype="set", to=server_jid, timeout=10)
    assert r.type == "result", r


async def test_xmpp_user_and_irc_user_talk_through_biboumi(gateway, ngircd):
    srv, biboumi = gateway
    loop = asyncio.get_running_loop()
    irc = await loop.run_in_executor(None, IRCClient, ngircd, "ircbob")
    try:
        irc.send("JOIN %s" % CHANNEL)
        await loop.run_in_executor(None, irc.expect, r"^:ircbob!\S* JOIN :?%s" % CHANNEL)

        user = await connect(srv, srv.new_account())
        await configure_irc_port(user, ngircd)
        room = "%s%%127.0.0.1@%s" % (CHANNEL, IRC_DOMAIN)
        user.send_raw("<presence to='%s/xmppalice'><x xmlns='%s'/></presence>" % (room, NS_MUC))

        def self_presence(s):
            x = s.xml.find("{%s}x" % NS_MUC_USER)
            return (s.frm == room + "/xmppalice" and x is not None and
                    any(st.get("code") == "110" for st in x.findall("{%s}status" % NS_MUC_USER)))
        await user.presences.get(self_presence, timeout=30, what="MUC self-presence")
        await loop.run_in_executor(None, irc.expect, r"^:xmppalice!\S* JOIN :?%s" % CHANNEL)

        # XMPP -> IRC
        user.send_raw("<message to='%s' type='groupchat'><body>hello from xmpp</body></message>"
                      % room)
        await loop.run_in_executor(None, irc.expect,
                                   r"^:xmppalice!\S* PRIVMSG %s :hello from xmpp$" % CHANNEL)
        # IRC -> XMPP
        irc.send("PRIVMSG %s :hello from irc" % CHANNEL)
        m = await user.messages.get(lambda s: s.body == "hello from irc", timeout=10)
        assert m.type == "groupchat" and m.frm == room + "/ircbob"
        assert m.xml.tag == "{%s}message" % NS_CLIENT

        rows = {l.split("\t")[0]: l.split("\t") for l in srv.ctl("components").stdout.splitlines()}
        assert rows[IRC_DOMAIN][1] == "connected"
        assert int(rows[IRC_DOMAIN][3]) > 0 and int(rows[IRC_DOMAIN][4]) > 0
    finally:
        await loop.run_in_executor(None, irc.close)
