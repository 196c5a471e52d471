# SPDX-License-Identifier: MIT
"""Other real clients against yerbad: libstrophe (through strophe_client.c) and
go-sendxmpp, each exchanging messages with a slixmpp peer."""
import asyncio
import os
import shutil
import subprocess

import pytest

import harness
from slixclient import connect

pytestmark = pytest.mark.interop

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="session")
def strophe_client(tmp_path_factory):
    """The libstrophe test client: $STROPHE_CLIENT, the CMake-built one, or
    compiled here from strophe_client.c (needs cc and libstrophe-dev)."""
    env = os.environ.get("STROPHE_CLIENT")
    if env:
        return env
    built = harness.REPO / "build" / "tests" / "integration" / "strophe_client"
    src = os.path.join(HERE, "strophe_client.c")
    if built.exists() and built.stat().st_mtime >= os.stat(src).st_mtime:
        return str(built)
    out = tmp_path_factory.mktemp("strophe") / "strophe_client"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libstrophe"],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-std=c11", "-Wall", "-o", str(out), src] + flags, check=True)
    return str(out)


async def run_strophe(binary, server, acct, *args, kind="starttls", timeout=15):
    host, port, direct = server.address(kind)
    cmd = [binary, "--jid", acct.jid, "--password", acct.password, "--host", host,
           "--port", str(port), "--cafile", str(server.cert(acct.domain)),
           "--timeout", str(timeout - 3)] + (["--legacy-ssl"] if direct else []) + list(args)
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    return StropheRun(proc, timeout)


class StropheRun:
    def __init__(self, proc, timeout):
        self.proc = proc
        self.timeout = timeout
        self.lines = []

    async def line(self, prefix, timeout=10):
        """Next stdout line starting with prefix."""
        async def read():
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError("strophe_client ended without %r; output %r"
                                         % (prefix, self.lines))
                text = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(text)
                if text.startswith(prefix):
                    return text
        return await asyncio.wait_for(read(), timeout)

    async def finish(self):
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), self.timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError("strophe_client hung; output %r" % self.lines)
        self.lines += out.decode(errors="replace").splitlines()
        self.stderr = err.decode(errors="replace")
        return self.proc.returncode


async def test_strophe_scram_starttls_and_messages(server, strophe_client):
    s_acct = server.new_account("strophe")
    peer = await connect(server, server.new_account("peer"), "peer")
    run = await run_strophe(strophe_client, server, s_acct, "--presence",
                            "--send", peer.jid, "hello from libstrophe",
                            "--wait-messages", "1")
    auth = await run.line("AUTH ")
    assert auth.split()[1].startswith("SCRAM-SHA-"), auth
    connected = await run.line("CONNECTED ")
    bound = connected.split()[1]
    assert bound.startswith(s_acct.jid + "/"), connected
    assert "secure=1" in connected
    m = await peer.message_with("hello from libstrophe")
    assert m.frm == bound
    peer.msg(bound, "hello from slixmpp")
    got = await run.line("MESSAGE ")
    assert got == "MESSAGE %s chat hello from slixmpp" % peer.jid, got
    assert await run.finish() == 0, run.lines


async def test_strophe_roster_get(server, strophe_client):
    s_acct = server.new_account("strophe")
    setup = await connect(server, s_acct, "setup")
    assert (await setup.roster_set("friend@localhost", name="Friend", groups=["G"])).type == "result"
    await setup.close()
    run = await run_strophe(strophe_client, server, s_acct, "--roster")
    await run.line("CONNECTED ")
    item = await run.line("ROSTER ")
    assert item == "ROSTER friend@localhost none Friend", item
    assert await run.line("ROSTER-END")
    assert await run.finish() == 0, run.lines


async def test_strophe_direct_tls(server, strophe_client):
    s_acct = server.new_account("strophe")
    peer = await connect(server, server.new_account("peer"), "peer")
    run = await run_strophe(strophe_client, server, s_acct, "--send", peer.jid, "via direct TLS",
                            kind="direct")
    await run.line("CONNECTED ")
    await peer.message_with("via direct TLS")
    assert await run.finish() == 0, run.lines


async def test_strophe_wrong_password(server, strophe_client):
    s_acct = server.new_account("strophe")
    bad = harness.Account(s_acct.jid, s_acct.password + "-wrong")
    run = await run_strophe(strophe_client, server, bad)
    rc = await run.finish()
    assert rc == 2, (rc, run.lines, run.stderr[-2000:])
    assert not any(l.startswith("CONNECTED") for l in run.lines)


@pytest.fixture
def sendxmpp_home(tmp_path):
    exe = shutil.which("go-sendxmpp")
    assert exe, "go-sendxmpp not installed (Debian package go-sendxmpp)"
    home = tmp_path / "home"
    home.mkdir()
    return exe, home


@pytest.mark.parametrize("kind", ["starttls", "direct"])
async def test_go_sendxmpp_message(server, sendxmpp_home, kind):
    exe, home = sendxmpp_home
    sender = server.new_account("gosend")
    rcpt = await connect(server, server.new_account("rcpt"), "r")
    host, port, direct = server.address(kind)
    body = "go-sendxmpp says hi over %s" % kind
    cmd = [exe, "-u", sender.jid, "-p", sender.password, "-j", "%s:%d" % (host, port),
           "--timeout", "10"]
    if direct:
        cmd.append("-t")
    # Trust exactly the server's certificate: Go's crypto/x509 reads SSL_CERT_FILE.
    env = dict(os.environ, HOME=str(home), SSL_CERT_FILE=str(server.cert("localhost")))
    proc = await asyncio.create_subprocess_exec(*cmd, rcpt.bare, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate((body + "\n").encode()), 20)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("go-sendxmpp did not finish in 20s")
    assert proc.returncode == 0, (proc.returncode, out.decode(), err.decode())
    m = await rcpt.messages.get(lambda x: x.body and x.body.strip() == body,
                                what="go-sendxmpp's message")
    assert m.frm.split("/")[0] == sender.jid
