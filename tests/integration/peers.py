# SPDX-License-Identifier: MIT
"""Private instances of Debian's Prosody 0.12 and ejabberd 23.01, and a private DNS
server, for the federation tests (issue 4) and bench/compare (issue 5).

Each instance lives entirely in its own work directory (config, data, logs, pid),
listens on 127.0.0.1 only, on ports the caller gives or we pick, and is started and
stopped by the PID we spawned. Nothing here reads or writes /etc/prosody,
/etc/ejabberd, /var/lib/*, the system services, or a system-wide epmd.

- Prosody: `prosody -F --config W/prosody.cfg.lua`, run_as_root (our work directory
  is root's), internal storage under W/data (accounts are written directly as files).
- ejabberd: the Erlang VM is started directly (what `ejabberdctl foreground` would
  run) with its own node name, cookie and a fixed distribution port
  (`-erl_epmd_port P -start_epmd false`): no epmd at all, so none to clean up.
  `ejabberdctl` is pointed at the same node through a private ejabberdctl.cfg.
- DNS: DnsServer runs dnsmasq on loopback with SRV/A records for the test domains.
  The peers are pointed at it by configuration (Prosody: libunbound `forward`;
  ejabberd: the Erlang resolver's inetrc), so any port works. `resolv_via="mount"`
  instead gives the peer a private /etc/resolv.conf in a mount namespace (port 53).

Readiness = the c2s port accepts AND a real STARTTLS + SCRAM-SHA-1 login of a probe
account succeeds. docs/internals/peers.md explains every non-obvious setting.
"""
import base64
import hashlib
import hmac
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

PROSODY = "/usr/bin/prosody"
ERL = "/usr/bin/erl"
EJABBERDCTL = "/usr/sbin/ejabberdctl"
DNSMASQ = "/usr/sbin/dnsmasq"
EJABBERD_LIBS = "/usr/lib/x86_64-linux-gnu"   # where Debian puts ejabberd-23.01*/ebin

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CTL_TIMEOUT = 30.0
LOOPBACK = "127.0.0.1"


# --- small helpers ----------------------------------------------------------

class Account:
    """Same shape as harness.Account (jid, password, user, domain)."""

    def __init__(self, jid, password):
        self.jid = jid
        self.password = password
        self.user, self.domain = jid.split("@", 1)

    def __repr__(self):
        return "Account(%s)" % self.jid


def free_port(host=LOOPBACK, udp_too=False):
    """A port free for TCP (and UDP if asked) on host."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
            if not udp_too:
                return port
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port on %s" % host)


def port_free(host, port):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, port))
        return True
    except OSError:
        return False


def make_cert(workdir, domain, names=None):
    """A self-signed EC P-256 certificate for `domain` (SAN: domain and `names`).
    Returns (cert_path, key_path)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / ("%s.crt" % domain), workdir / ("%s.key" % domain)
    san = ",".join("DNS:%s" % n for n in [domain] + list(names or []))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=%s" % domain,
                    "-addext", "subjectAltName=%s" % san,
                    "-addext", "extendedKeyUsage=serverAuth,clientAuth"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def scram_keys(password, salt, iterations, hash_name="sha1"):
    """(StoredKey, ServerKey) as RFC 5802 defines them."""
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    stored = hashlib.new(hash_name, client_key).digest()
    server = hmac.new(salted, b"Server Key", hash_name).digest()
    return stored, server


def wait_port(host, port, deadline, proc=None):
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# --- DNS ----------------------------------------------------------------------

def dns_query(server, port, name, qtype="SRV", timeout=2.0):
    """One UDP DNS query. Returns (rcode, answers); answers are (priority, weight,
    port, target) for SRV and dotted-quad strings for A."""
    types = {"A": 1, "SRV": 33, "AAAA": 28}
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet += b"\0" + struct.pack(">HH", types[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        data = s.recvfrom(4096)[0]
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid:
        raise RuntimeError("DNS id mismatch")
    pos = 12

    def read_name(pos):
        labels = []
        while True:
            n = data[pos]
            if n & 0xC0 == 0xC0:
                ptr = struct.unpack(">H", data[pos:pos + 2])[0] & 0x3FFF
                labels.append(read_name(ptr)[0])
                return ".".join(labels), pos + 2
            pos += 1
            if n == 0:
                return ".".join(labels), pos
            labels.append(data[pos:pos + n].decode())
            pos += n

    for _ in range(qd):
        pos = read_name(pos)[1] + 4
    answers = []
    for _ in range(an):
        pos = read_name(pos)[1]
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        rdata = data[pos:pos + rdlen]
        if rtype == 1:
            answers.append(socket.inet_ntoa(rdata))
        elif rtype == 33:
            prio, weight, port_ = struct.unpack(">HHH", rdata[:6])
            answers.append((prio, weight, port_, read_name(pos + 6)[0]))
        pos += rdlen
    return flags & 0xF, answers


class DnsServer:
    """dnsmasq on loopback serving the records of the test domains, nothing else.

    records: a list of ("SRV", service_name, target, port[, priority, weight]) and
    ("A", name, address) tuples; add_xmpp() adds the usual ones for a domain. Every
    other name under the records' top-level domains is answered NXDOMAIN (not
    REFUSED, which resolvers treat as a server failure and retry).

    port=None picks a free port on 127.0.0.1 (for peers pointed at it by config);
    port=53 (needed when a peer reads it from a resolv.conf, which cannot carry a
    port) uses 127.0.0.1 if its port 53 is free, else a free 127.0.53.x."""

    def __init__(self, workdir, records=(), address=None, port=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records = list(records)
        self.port = port
        self.address = address
        self.proc = None
        self.log_path = self.dir / "dnsmasq.log"
        self.conf_path = self.dir / "dnsmasq.conf"
        self.resolv_conf = self.dir / "resolv.conf"
        self.hosts_path = self.dir / "hosts"

    def add_xmpp(self, domain, s2s_port, host=LOOPBACK, c2s_port=None):
        self.records.append(("SRV", "_xmpp-server._tcp.%s" % domain, domain, s2s_port))
        if c2s_port:
            self.records.append(("SRV", "_xmpp-client._tcp.%s" % domain, domain, c2s_port))
        self.records.append(("A", domain, host))

    def _pick_address(self):
        if self.port is None:
            self.address = self.address or LOOPBACK
            self.port = free_port(self.address, udp_too=True)
            return
        if self.address:
            return
        candidates = [LOOPBACK] + ["127.0.53.%d" % random.randrange(2, 255) for _ in range(50)]
        for a in candidates:
            if port_free(a, self.port):
                self.address = a
                return
        raise RuntimeError("no loopback address with port %d free" % self.port)

    def config_text(self):
        lines = ["# written by tests/integration/peers.py", "no-resolv", "no-hosts",
                 "no-poll", "bind-interfaces", "listen-address=%s" % self.address,
                 "port=%d" % self.port, "user=root", "group=root", "log-queries",
                 "log-facility=%s" % self.log_path, "cache-size=0"]
        tlds = set()
        for r in self.records:
            if r[0] == "SRV":
                prio, weight = (r[4], r[5]) if len(r) > 5 else (0, 0)
                lines.append("srv-host=%s,%s,%d,%d,%d" % (r[1], r[2], r[3], prio, weight))
            elif r[0] == "A":
                lines.append("host-record=%s,%s" % (r[1], r[2]))
            else:
                raise ValueError("record type %r" % (r[0],))
            tlds.add(r[1].rsplit(".", 1)[-1])
        lines += ["local=/%s/" % t for t in sorted(tlds)]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        self._pick_address()
        self.conf_path.write_text(self.config_text())
        self.resolv_conf.write_text("nameserver %s\noptions timeout:1 attempts:2\n"
                                    % self.address)
        hosts = ["127.0.0.1 localhost %s" % socket.gethostname(), "::1 localhost"]
        hosts += ["%s %s" % (r[2], r[1]) for r in self.records if r[0] == "A"]
        self.hosts_path.write_text("\n".join(hosts) + "\n")
        self._out = open(self.dir / "dnsmasq.out", "ab")
        self.proc = subprocess.Popen([DNSMASQ, "--keep-in-foreground",
                                      "--conf-file=%s" % self.conf_path, "--pid-file="],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        probe = next((r for r in self.records if r[0] == "A"), ("A", "localhost.example"))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited %s: %s" % (
                    self.proc.returncode, (self.dir / "dnsmasq.out").read_text()[-2000:]))
            try:
                dns_query(self.address, self.port, probe[1], "A", timeout=0.3)
                return self
            except (OSError, RuntimeError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsmasq did not answer within %.0fs" % timeout)

    def query(self, name, qtype="SRV"):
        return dns_query(self.address, self.port, name, qtype)

    def queries_for(self, name):
        """How many queries for `name` dnsmasq logged (proof a peer asked us)."""
        if not self.log_path.exists():
            return 0
        return sum(1 for line in self.log_path.read_text().splitlines()
                   if "query[" in line and line.split()[-3] == name)

    def stop(self, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()


def with_private_files(argv, resolv_conf=None, hosts=None):
    """argv wrapped so the program sees `resolv_conf` as /etc/resolv.conf and/or
    `hosts` as /etc/hosts, in a mount namespace of its own; the machine's files are
    untouched. exec keeps the program's PID equal to the one Popen returns."""
    script, args = "", []
    for src, dst in ((resolv_conf, "/etc/resolv.conf"), (hosts, "/etc/hosts")):
        if src:
            script += 'mount --bind "$%d" %s || exit 97; ' % (len(args) + 1, dst)
            args.append(str(src))
    script += "shift %d; exec \"$@\"" % len(args)
    # unshare (util-linux) makes the new namespace's mounts private: nothing leaks.
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] \
        + args + [str(a) for a in argv]


# --- common instance logic -------------------------------------------------------

class _Peer:
    kind = "peer"

    def __init__(self, workdir, domain, c2s_port=None, s2s_port=None, cert=None, key=None,
                 s2s_mode="dialback", trust_cafile=None, extra_cfg="", dns=None,
                 resolv_via="config", log_level="info", cpu=None):
        assert s2s_mode in ("dialback", "external", "both"), s2s_mode
        assert resolv_via in ("config", "mount"), resolv_via
        self.dir = Path(workdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.c2s_port = c2s_port or free_port()
        self.s2s_port = s2s_port or free_port()
        if cert is None:
            cert, key = make_cert(self.dir / "certs", domain)
        self.cert_path, self.key_path = Path(cert).resolve(), Path(key).resolve()
        self.s2s_mode = s2s_mode
        self.trust_cafile = Path(trust_cafile).resolve() if trust_cafile else None
        self.extra_cfg = extra_cfg
        self.dns = dns
        self.resolv_via = resolv_via
        self.log_level = log_level
        self.cpu = cpu
        self.proc = None
        self._out = None
        # The readiness probe logs in with this account.
        self.probe = Account("peersprobe@%s" % domain, secrets.token_hex(8))
        self.start_seconds = None

    # harness.Server-compatible bits, so slixclient.Client(peer, account) works.
    def address(self, kind="starttls"):
        assert kind == "starttls", "peers have a STARTTLS c2s listener only"
        return LOOPBACK, self.c2s_port, False

    def cert(self, domain=None):
        return self.cert_path

    def account(self, user, password):
        return Account("%s@%s" % (user, self.domain), password)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv, env):
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + list(argv)    # execs: same PID
        resolv, hosts = self.private_files()
        if resolv or hosts:
            argv = with_private_files(argv, resolv, hosts)
        self._out = open(self.console_path, "ab")
        # A session of its own: a Ctrl-C at the terminal reaches pytest, not the peer.
        self.proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=str(self.dir),
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout=START_TIMEOUT):
        assert not self.running, "already running"
        t0 = time.monotonic()
        deadline = t0 + timeout
        self.write_config()
        self._before_start()
        self._spawn(*self.command())
        try:
            if not wait_port(LOOPBACK, self.c2s_port, deadline, self.proc):
                raise RuntimeError("%s: c2s port %d not accepting (exit %s)"
                                   % (self.kind, self.c2s_port, self.proc.poll()))
            self._after_listen(deadline)
            self._wait_login(deadline)
        except BaseException as e:
            self.stop(timeout=5)
            if isinstance(e, RuntimeError):
                raise RuntimeError("%s\n--- console:\n%s\n--- log:\n%s"
                                   % (e, self.tail(self.console_path), self.tail(self.log_path)))
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _before_start(self):
        pass

    def private_files(self):
        """(resolv.conf, hosts) to bind-mount over the system's for this peer."""
        if self.dns is not None and self.resolv_via == "mount":
            return self.dns.resolv_conf, None
        return None, None

    def _after_listen(self, deadline):
        pass

    def login_ok(self, account, timeout=5.0):
        """A real STARTTLS + SCRAM-SHA-1 + bind, certificate verified. Raises on failure."""
        import rawxmpp
        c = rawxmpp.RawXMPP(LOOPBACK, self.c2s_port, server_name=self.domain,
                            cafile=str(self.cert_path), timeout=timeout)
        try:
            return c.login(account.user, account.password, self.domain,
                           mechanism="SCRAM-SHA-1")
        finally:
            c.close()

    def _wait_login(self, deadline):
        err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %s during start" % (self.kind, self.proc.returncode))
            try:
                self.login_ok(self.probe, timeout=max(1.0, deadline - time.monotonic()))
                return
            except Exception as e:  # not ready yet: refused, stream error, auth
                err = e
                time.sleep(0.1)
        raise RuntimeError("%s: probe login did not succeed in time: %r" % (self.kind, err))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM our PID; SIGKILL (and our session's leftovers) after timeout.
        Returns the exit code."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(5)
        # Helpers the main process spawned (Erlang's erl_child_setup, inet_gethost)
        # are in the session we created for it; reap any that outlived it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._out:
            self._out.close()
            self._out = None
        return rc

    @staticmethod
    def tail(path, n=40):
        try:
            return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no %s)" % path

    def cpu_seconds(self):
        """User+system CPU of the peer process so far (from /proc)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Prosody -----------------------------------------------------------------------

def _lua_str(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


class Prosody(_Peer):
    """A private Prosody 0.12.

    gc: None keeps Prosody's default (incremental, threshold 105, speed 500), or a
    dict such as {"mode": "generational"}; bench/compare must say which it used.
    modules: extra modules to enable."""
    kind = "prosody"
    ITERATIONS = 10000      # Prosody's default_iteration_count

    def __init__(self, workdir, domain, c2s_port=None, s2s_port=None, cert=None, key=None,
                 s2s_mode="dialback", trust_cafile=None, extra_cfg="", gc=None, dns=None,
                 resolv_via="config", log_level="info", modules=(), cpu=None):
        super().__init__(workdir, domain, c2s_port, s2s_port, cert, key, s2s_mode,
                         trust_cafile, extra_cfg, dns, resolv_via, log_level, cpu)
        self.gc = gc
        self.modules = list(modules)
        self.config_path = self.dir / "prosody.cfg.lua"
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "prosody.log"
        self.console_path = self.dir / "prosody.out"

    def config_text(self):
        d = self.dir
        mods = ["roster", "saslauth", "tls", "disco", "ping", "offline"]
        if self.s2s_mode in ("dialback", "both"):
            mods.append("dialback")
        mods += self.modules
        ssl = ["certificate = %s" % _lua_str(self.cert_path), "key = %s" % _lua_str(self.key_path)]
        if self.trust_cafile:
            ssl.append("cafile = %s" % _lua_str(self.trust_cafile))
        lines = [
            "-- written by tests/integration/peers.py",
            "run_as_root = true",
            "pidfile = %s" % _lua_str(d / "prosody.pid"),
            "data_path = %s" % _lua_str(self.data_dir),
            "plugin_paths = {}",
            'log = { { levels = { min = %s }, to = "file", filename = %s } }'
            % (_lua_str({"warning": "warn"}.get(self.log_level, self.log_level)),
               _lua_str(self.log_path)),
            "interfaces = { %s }" % _lua_str(LOOPBACK),
            "c2s_ports = { %d }" % self.c2s_port,
            "s2s_ports = { %d }" % self.s2s_port,
            "c2s_direct_tls_ports = { }",
            "s2s_direct_tls_ports = { }",
            "use_ipv6 = false",
            "modules_enabled = { %s }" % ", ".join(_lua_str(m) for m in mods),
            'modules_disabled = { "limits", "register", "http" }',
            'authentication = "internal_hashed"',
            'storage = "internal"',
            "c2s_require_encryption = true",
            "s2s_require_encryption = true",
            "s2s_secure_auth = %s" % ("true" if self.s2s_mode == "external" else "false"),
            "s2s_timeout = 10",
            "ssl = { %s }" % "; ".join(ssl),
        ]
        if self.dns is not None and self.resolv_via == "config":
            lines.append('unbound = { forward = "%s@%d"; resolvconf = false; hoststxt = false }'
                         % (self.dns.address, self.dns.port))
        elif self.dns is not None:
            lines.append("unbound = { resolvconf = true; hoststxt = false }")
        if self.gc:
            lines.append("gc = { %s }" % "; ".join(
                "%s = %s" % (k, _lua_str(v) if isinstance(v, str) else v)
                for k, v in self.gc.items()))
        lines.append(self.extra_cfg)
        lines.append("VirtualHost %s" % _lua_str(self.domain))
        return "\n".join(lines) + "\n"

    def write_config(self):
        self.config_path.write_text(self.config_text())

    def _before_start(self):
        self.adduser(self.probe.user, self.probe.password)

    def command(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8"}
        return [PROSODY, "-F", "--config", self.config_path], env

    # Accounts are files: data/<host>/accounts/<user>.dat, a Lua table with the SCRAM
    # keys (mod_auth_internal_hashed). Prosody reads them on each use, no cache, so
    # writing them while it runs is fine.
    @staticmethod
    def _enc(s):
        # util.datamanager's encode(): every non-alphanumeric byte as %xx.
        return "".join(chr(b) if chr(b).isalnum() and b < 128 else "%%%02x" % b
                       for b in s.encode())

    def _accounts_dir(self):
        p = self.data_dir / self._enc(self.domain) / "accounts"
        p.mkdir(parents=True, exist_ok=True)
        return p

    @staticmethod
    def _account_lua(password, salt):
        stored, server = scram_keys(password, salt.encode(), Prosody.ITERATIONS)
        return ('return {\n\t["iteration_count"] = %d;\n\t["salt"] = "%s";\n'
                '\t["stored_key"] = "%s";\n\t["server_key"] = "%s";\n};\n'
                % (Prosody.ITERATIONS, salt, stored.hex(), server.hex()))

    def adduser(self, user, password):
        (self._accounts_dir() / ("%s.dat" % self._enc(user))).write_text(
            self._account_lua(password, secrets.token_hex(16)))
        return self.account(user, password)

    def create_accounts(self, n, password, prefix="user", first=1):
        """user<first>..user<first+n-1>, all with `password`, written directly. One
        SCRAM derivation for all (shared salt): the server's work per login is the
        same as with distinct salts. Returns the seconds it took."""
        t0 = time.monotonic()
        text = self._account_lua(password, secrets.token_hex(16))
        d = self._accounts_dir()
        for i in range(first, first + n):
            (d / ("%s.dat" % self._enc("%s%d" % (prefix, i)))).write_text(text)
        return time.monotonic() - t0


# --- ejabberd --------------------------------------------------------------------

def _yq(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


class Ejabberd(_Peer):
    """A private ejabberd 23.01 (mnesia storage in W/spool).

    Erlang distribution: node `ejabberd_<hex>@localhost`, a random cookie, and a
    fixed distribution port (ERL_DIST_PORT), so no epmd is started or used."""
    kind = "ejabberd"
    ITERATIONS = 4096       # ejabberd_auth:password_to_scram/2

    def __init__(self, workdir, domain, c2s_port=None, s2s_port=None, cert=None, key=None,
                 s2s_mode="dialback", trust_cafile=None, extra_cfg="", dns=None,
                 resolv_via="config", log_level="info", backlog=4096, modules=(), cpu=None,
                 erl_args=()):
        super().__init__(workdir, domain, c2s_port, s2s_port, cert, key, s2s_mode,
                         trust_cafile, extra_cfg, dns, resolv_via, log_level, cpu)
        self.backlog = backlog
        self.erl_args = list(erl_args)
        self.modules = list(modules)
        self.node = "ejabberd_%s@localhost" % secrets.token_hex(4)
        self.cookie = secrets.token_hex(16).upper()
        self.dist_port = free_port()
        self.config_dir = self.dir / "etc"
        self.config_path = self.config_dir / "ejabberd.yml"
        self.ctl_config = self.config_dir / "ejabberdctl.cfg"
        self.spool_dir = self.dir / "spool"
        self.logs_dir = self.dir / "log"
        self.log_path = self.logs_dir / "ejabberd.log"
        self.console_path = self.dir / "ejabberd.out"
        self.pem_path = self.config_dir / "cert.pem"

    def config_text(self):
        mods = ["mod_roster", "mod_disco", "mod_offline", "mod_ping"]
        if self.s2s_mode in ("dialback", "both"):
            mods.append("mod_s2s_dialback")
        mods += self.modules
        lines = [
            "# written by tests/integration/peers.py",
            "hosts: [%s]" % _yq(self.domain),
            "loglevel: %s" % self.log_level,
            "log_rotate_count: 0",
            "certfiles: [%s]" % _yq(self.pem_path),
            "listen:",
            "  - port: %d" % self.c2s_port,
            "    ip: %s" % _yq(LOOPBACK),
            "    module: ejabberd_c2s",
            "    starttls_required: true",
            "    max_stanza_size: 262144",
            "    shaper: none",
            "    access: all",
            "    backlog: %d" % self.backlog,
            "  - port: %d" % self.s2s_port,
            "    ip: %s" % _yq(LOOPBACK),
            "    module: ejabberd_s2s_in",
            "    max_stanza_size: 524288",
            "    shaper: none",
            "    backlog: %d" % self.backlog,
            "s2s_use_starttls: required",
            "s2s_access: all",
            "s2s_dns_timeout: 3",
            "s2s_dns_retries: 1",
            "s2s_timeout: 10",
            "outgoing_s2s_families: [ipv4]",
            "auth_method: [internal]",
            "auth_password_format: scram",
            "auth_scram_hash: sha",
            'disable_sasl_mechanisms: ["digest-md5", "x-oauth2"]',
            "shaper: {}",
            "shaper_rules:",
            "  max_user_sessions: 100",
            "  max_user_offline_messages: 10000",
            "  c2s_shaper: none",
            "  s2s_shaper: none",
            "acl:",
            "  local:",
            '    user_regexp: ""',
            "access_rules:",
            "  local:",
            "    allow: local",
            "modules:",
        ] + ["  %s: {}" % m for m in mods]
        if self.trust_cafile:
            lines.append("ca_file: %s" % _yq(self.trust_cafile))
        lines.append(self.extra_cfg)
        return "\n".join(lines) + "\n"

    def inetrc_text(self):
        # Order matters: a resolv_conf line resets the nameserver list.
        lines = []
        if self.dns is not None and self.resolv_via == "config":
            lines += ["{resolv_conf, []}.", "{hosts_file, []}."]
        lines += ['{lookup, ["file", "dns"]}.', '{host, {127,0,0,1}, ["localhost"]}.']
        if self.dns is not None and self.resolv_via == "config":
            lines.append("{nameserver, {%s}, %d}." % (self.dns.address.replace(".", ","),
                                                      self.dns.port))
        return "\n".join(lines) + "\n"

    def ctl_config_text(self):
        # Sourced by ejabberdctl after it decided to `su ejabberd` when run as root:
        # EXEC_CMD overrides that (our work directory is root's).
        return "\n".join([
            "# written by tests/integration/peers.py",
            "ERLANG_NODE=%s" % self.node,
            "ERL_DIST_PORT=%d" % self.dist_port,
            'ERL_OPTIONS="-setcookie %s -env ERL_CRASH_DUMP_BYTES 0"' % self.cookie,
            "EXEC_CMD=as_current_user",
            "CONTRIB_MODULES_PATH=%s" % (self.dir / "contrib"),
            "CONTRIB_MODULES_CONF_DIR=%s" % (self.config_dir / "modules.d"),
        ]) + "\n"

    def write_config(self):
        for p in (self.config_dir, self.spool_dir, self.logs_dir):
            p.mkdir(parents=True, exist_ok=True)
        self.pem_path.write_text(self.cert_path.read_text() + self.key_path.read_text())
        os.chmod(self.pem_path, 0o600)
        self.config_path.write_text(self.config_text())
        (self.config_dir / "inetrc").write_text(self.inetrc_text())
        self.ctl_config.write_text(self.ctl_config_text())

    def _env(self):
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir),
                "LANG": "C.UTF-8",
                "EJABBERD_CONFIG_PATH": str(self.config_path),
                "EJABBERD_LOG_PATH": str(self.log_path),
                "ERL_INETRC": str(self.config_dir / "inetrc"),
                "ERL_LIBS": EJABBERD_LIBS,
                "ERL_MAX_PORTS": "65536",
                "ERL_MAX_ETS_TABLES": "1400",
                "ERL_CRASH_DUMP": str(self.logs_dir / "erl_crash.dump"),
                "ERL_CRASH_DUMP_BYTES": "0",
                "CONTRIB_MODULES_PATH": str(self.dir / "contrib"),
                "CONTRIB_MODULES_CONF_DIR": str(self.config_dir / "modules.d")}

    def private_files(self):
        # p1_xmpp 1.6.1 (xmpp_stream_out) looks up SRV records with inet_res (our
        # inetrc) but the addresses of the SRV targets with net:getaddrinfo, i.e.
        # libc: /etc/hosts, then the system's /etc/resolv.conf. Give it a private
        # /etc/hosts holding the DnsServer's A records.
        if self.dns is not None and self.resolv_via == "config":
            return None, self.dns.hosts_path
        return super().private_files()

    def _dist_args(self):
        return ["-setcookie", self.cookie, "-erl_epmd_port", str(self.dist_port),
                "-start_epmd", "false"]

    def command(self):
        # What `ejabberdctl foreground` runs, minus the shell in between (so our
        # PID is beam.smp's: /usr/bin/erl and erlexec both exec) and with the
        # distribution on a fixed loopback port instead of epmd.
        argv = [ERL, "-sname", self.node] + self._dist_args() + [
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "+K", "true", "+P", "1000000", "-noinput", "-ejabberd", "quiet", "true",
            "-mnesia", "dir", '"%s"' % self.spool_dir, "-s", "ejabberd"]
        if self.cpu is not None:
            argv += ["+S", "1:1"]       # one scheduler for the one CPU it may use
        argv += self.erl_args
        return argv, self._env()

    def _after_listen(self, deadline):
        self.adduser(self.probe.user, self.probe.password,
                     timeout=max(1.0, deadline - time.monotonic()))

    def ctl(self, *args, timeout=CTL_TIMEOUT, check=True):
        """Runs ejabberdctl against this instance; returns CompletedProcess."""
        argv = [EJABBERDCTL, "--config-dir", self.config_dir, "--ctl-config", self.ctl_config,
                "--config", self.config_path, "--spool", self.spool_dir,
                "--logs", self.logs_dir, "--node", self.node] + list(args)
        r = subprocess.run([str(a) for a in argv], env=self._env(), capture_output=True,
                           text=True, timeout=timeout, cwd=str(self.dir))
        if check and r.returncode != 0:
            raise RuntimeError("ejabberdctl %s: exit %d: %s%s"
                               % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r

    def adduser(self, user, password, timeout=CTL_TIMEOUT):
        self.ctl("register", user, self.domain, password, timeout=timeout)
        return self.account(user, password)

    def erl_eval(self, expr, timeout=CTL_TIMEOUT):
        """Evaluates an Erlang expression in a hidden client node connected to this
        instance (`Node` is bound to the instance's node name); returns stdout."""
        expr = "Node = '%s', %s" % (self.node, expr)
        argv = [ERL, "-sname", "ctl_%s" % secrets.token_hex(4), "-hidden", "-noinput",
                "-dist_listen", "false"] + self._dist_args() + [
            "-eval", "%s, halt(0)." % expr]
        r = subprocess.run(argv, env=self._env(), capture_output=True, text=True,
                           timeout=timeout, cwd=str(self.dir))
        if r.returncode != 0:
            raise RuntimeError("erl eval exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
        return r.stdout

    def create_accounts(self, n, password, prefix="user", first=1, timeout=300):
        """user<first>..user<first+n-1> with `password`, registered through
        ejabberd_auth:try_register/3 (hooks and cache as for any registration) from
        one client node, with the SCRAM record computed once here (shared salt;
        ejabberd accepts a ready #scram{} as the password). Returns the seconds."""
        t0 = time.monotonic()
        salt = secrets.token_bytes(16)
        stored, server = scram_keys(password, salt, self.ITERATIONS)
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        scram = '{scram, <<"%s">>, <<"%s">>, <<"%s">>, sha, %d}' % (
            b64(stored), b64(server), b64(salt), self.ITERATIONS)
        expr = (
            'S = %s, H = <<"%s">>, P = <<"%s">>, '
            'Reg = fun(I) -> U = <<P/binary, (integer_to_binary(I))/binary>>, '
            'rpc:call(Node, ejabberd_auth, try_register, [U, H, S]) end, '
            'Ranges = [lists:seq(A, min(A + 499, %d)) || A <- lists:seq(%d, %d, 500)], '
            'Self = self(), '
            '[spawn(fun() -> Self ! {done, [R || R <- [Reg(I) || I <- Rg], R =/= ok]} end) '
            '|| Rg <- Ranges], '
            'Bad = lists:append([receive {done, B} -> B end || _ <- Ranges]), '
            'io:format("bad=~p~n", [length(Bad)]), '
            'case Bad of [] -> ok; _ -> io:format("~p~n", [lists:sublist(Bad, 5)]) end'
            % (scram, self.domain, prefix, first + n - 1, first, first + n - 1))
        out = self.erl_eval(expr, timeout=timeout)
        if "bad=0" not in out:
            raise RuntimeError("ejabberd create_accounts: %s" % out)
        return time.monotonic() - t0
