# SPDX-License-Identifier: MIT
"""Runs a real yerbad process for the integration tests.

Owns: writing a config into a temporary directory, picking free loopback ports,
starting yerbad and waiting for its "yerbad ready" line, stopping it (SIGTERM, then
SIGKILL after a timeout, always by the PID we started), SIGKILL on request, and
running yerbactl against the same config. Never touches a process it did not start.
"""
import itertools
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
YERBAD = Path(os.environ.get("YERBAD", REPO / "build" / "src" / "yerbad"))
YERBACTL = Path(os.environ.get("YERBACTL", REPO / "build" / "tools" / "yerbactl"))

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CTL_TIMEOUT = 15.0

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer",
                     "SUMMARY: UndefinedBehaviorSanitizer")


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port nobody listens on now, and one this process has not handed out before:
    the kernel readily gives the same free port to consecutive bind(0) calls, and a
    test usually asks for several ports before anything listens on them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port")


def check_binaries():
    missing = [str(p) for p in (YERBAD, YERBACTL) if not os.access(p, os.X_OK)]
    if missing:
        raise RuntimeError("not built (set YERBAD/YERBACTL or build into build/): %s"
                           % ", ".join(missing))


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"')


class Account:
    def __init__(self, jid, password):
        self.jid = jid
        self.password = password
        self.user, self.domain = jid.split("@", 1)

    def __repr__(self):
        return "Account(%s)" % self.jid


class Server:
    """One yerbad instance with its own directory, config, data and ports."""

    def __init__(self, workdir, *, hosts=None, c2s=None, log_level="debug", ipv6=True,
                 s2s=False, extra="", s2s_address="127.0.0.1"):
        check_binaries()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "yerbad.yaml"
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "yerbad.log"
        self.hosts = hosts or [
            {"domain": "localhost", "admins": ["admin@localhost"], "offline_quota": 1000,
             "resource_conflict": "replace"},
            {"domain": "example.net"},
        ]
        self.c2s = {"require_tls": True, "allow_plain": True, "max_stanza_size": 65536,
                    "max_output_size": 262144, "auth_timeout": 5}
        self.c2s.update(c2s or {})
        self.log_level = log_level
        self.ports = {"starttls": free_port()}
        while True:
            self.ports["direct"] = free_port()
            if self.ports["direct"] != self.ports["starttls"]:
                break
        if ipv6:
            self.ports["v6"] = free_port("::1")
        if s2s:
            # Server-to-server listeners: STARTTLS and direct TLS (XEP-0368).
            for kind in ("s2s", "s2s-tls"):
                port = free_port(s2s_address)
                while port in self.ports.values():
                    port = free_port()
                self.ports[kind] = port
        self.s2s_address = s2s_address
        # Raw YAML appended to the config (e.g. an s2s: section).
        self.extra = extra
        self.proc = None
        self._reader = None
        self._ready = threading.Event()
        self._counter = itertools.count(1)
        self.starts = 0
        self.write_config()

    # --- config ------------------------------------------------------------

    def config_text(self, extra_hosts=()):
        lines = ["# written by tests/integration/harness.py",
                 "data_dir: ./data",
                 "log_level: %s" % self.log_level,
                 # The whole suite can run with I/O threads (docs/internals/threads.md).
                 "io_threads: %d" % int(os.environ.get("YERBA_TEST_IO_THREADS", "0")),
                 "hosts:"]
        for h in list(self.hosts) + list(extra_hosts):
            first = True
            for k, v in h.items():
                lines.append("%s%s: %s" % ("  - " if first else "    ", k, _yaml_scalar(v)))
                first = False
        lines.append("listeners:")
        lines.append('  - {type: c2s, tls: starttls, address: "127.0.0.1", port: %d}'
                     % self.ports["starttls"])
        lines.append('  - {type: c2s, tls: direct, address: "127.0.0.1", port: %d}'
                     % self.ports["direct"])
        if "v6" in self.ports:
            lines.append('  - {type: c2s, tls: starttls, address: "::1", port: %d}'
                         % self.ports["v6"])
        if "s2s" in self.ports:
            lines.append('  - {type: s2s, address: "%s", port: %d}'
                         % (self.s2s_address, self.ports["s2s"]))
            lines.append('  - {type: s2s, tls: direct, address: "%s", port: %d}'
                         % (self.s2s_address, self.ports["s2s-tls"]))
        lines.append("c2s:")
        for k, v in self.c2s.items():
            lines.append("  %s: %s" % (k, _yaml_scalar(v)))
        return "\n".join(lines) + "\n" + self.extra

    def write_config(self, extra_hosts=()):
        self.config.write_text(self.config_text(extra_hosts))

    def cert(self, domain="localhost"):
        return self.data_dir / "certs" / ("%s.crt" % domain)

    def address(self, kind="starttls"):
        """(host, port, direct_tls) for a listener kind: starttls, direct, v6."""
        host = "::1" if kind == "v6" else "127.0.0.1"
        return host, self.ports[kind], kind == "direct"

    def raw(self, kind="starttls", domain="localhost", **kw):
        """A rawxmpp.RawXMPP connected to one of our listeners, trusting our
        certificate for `domain`."""
        import rawxmpp
        host, port, direct = self.address(kind)
        kw.setdefault("cafile", self.cert(domain))
        kw.setdefault("server_name", domain)
        return rawxmpp.RawXMPP(host, port, direct_tls=direct, **kw)

    # --- process -----------------------------------------------------------

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        assert not self.running, "already running"
        self._ready.clear()
        log = open(self.log_path, "ab")
        log.write(b"\n===== start #%d =====\n" % (self.starts + 1))
        log.flush()
        self.proc = subprocess.Popen([str(YERBAD), "-c", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=str(self.dir))
        self.starts += 1
        self._reader = threading.Thread(target=self._read_log, args=(self.proc, log),
                                        daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return self
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError("yerbad exited with %s before ready:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
        self.kill9()
        raise RuntimeError("yerbad printed no 'yerbad ready' within %.0fs:\n%s"
                           % (timeout, self.log_tail()))

    def _read_log(self, proc, log):
        with log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if b"yerbad ready" in line:
                    self._ready.set()

    def signal(self, sig):
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for our process to exit; returns its exit code or None on timeout."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(5)
        return rc

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code of the SIGTERM
        path, or raises if the process had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            if self._reader:
                self._reader.join(5)
            return self.proc.returncode
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill9()
            raise AssertionError("yerbad did not exit within %.0fs of SIGTERM:\n%s"
                                 % (timeout, self.log_tail()))
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._reader:
            self._reader.join(5)

    def restart(self):
        rc = self.stop()
        assert rc == 0, "yerbad exited with %s on SIGTERM:\n%s" % (rc, self.log_tail())
        return self.start()

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=25):
        return "\n".join(self.log_text().splitlines()[-n:])

    def sanitizer_reports(self):
        return [l for l in self.log_text().splitlines()
                if any(m in l for m in SANITIZER_MARKERS)]

    # --- yerbactl ----------------------------------------------------------

    def ctl(self, *args, check=True, timeout=CTL_TIMEOUT):
        p = subprocess.run([str(YERBACTL), "-c", str(self.config)] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=str(self.dir))
        if check and p.returncode != 0:
            raise AssertionError("yerbactl %s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
        return p

    def adduser(self, jid, password):
        self.ctl("adduser", jid, password)
        return Account(jid, password)

    def new_account(self, prefix="user", domain="localhost"):
        """Creates a fresh, uniquely named account and returns it."""
        name = "%s%d" % (prefix, next(self._counter))
        return self.adduser("%s@%s" % (name, domain), "pw-" + secrets.token_hex(6))
