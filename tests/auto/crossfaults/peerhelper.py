#!/usr/bin/env python3
# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# The Linux side of the crossfaults test and of deadpeer-demo on Windows: the
# Windows program, run under Wine, gets its faults made for real by a Linux
# peer in a network namespace (the program's end of the control channel is
# QtKeepAliveTesting::PeerControl).
# Wine programs use the host's network stack, so the peer's link going down,
# its socket reset or closed, or its process stopped (SIGSTOP) reach the
# Windows program exactly as they would reach a Linux one.
#
#   peerhelper.py run [--wine WINE] -- PROGRAM [ARGS...]
#       as root: starts the control channel on 127.0.0.1, runs PROGRAM (under
#       WINE when given) with KEEPALIVE_PEER_CONTROL=127.0.0.1:PORT in its
#       environment, answers its commands, and removes everything it created
#       when PROGRAM ends; exits with PROGRAM's exit code. Without root or
#       `ip` it exits 77 (skipped), and 1 under CI=true.
#       It also makes the TLS test certificate with the openssl tool (a
#       Windows program under Wine cannot start the Linux one), the same as
#       tests/auto/shared/tlsfixture.h: self-signed EC P-256 for localhost,
#       127.0.0.1 and 127.0.42.1, two days, in a temporary directory removed
#       at the end, named to PROGRAM by KEEPALIVE_TLS_CERT and
#       KEEPALIVE_TLS_KEY (Wine's drive Z: paths under WINE). Without the
#       openssl tool they are not set, and tls-server fails.
#   peerhelper.py peer
#       the peer itself, started by `run` inside the namespace (internal).
#
# Control protocol, one line per command and one answer line ("ok ..." or
# "error TEXT"):
#   setup [routed] a fresh namespace (the previous one removed): veth pair
#                  qxfh<pid> (host, 10.214.N.M+1/30) and qxfp<pid> (namespace,
#                  10.214.N.M+2/30) with permanent neighbour entries, and the
#                  peer process listening there; routed: a router namespace
#                  between them (host 10.214.N.M+1 - router - peer
#                  10.215.N.M+2, a route to the peer's /30 on the host's end).
#                  -> ok PEER_ADDRESS PEER_PORT HOST_ADDRESS HOST_PROBES
#   connect PORT   the peer connects to HOST_ADDRESS:PORT (a server on the
#                  Windows side)
#   wait [N]       until the peer has N connections (default 1; accepted,
#                  or the one made by connect, which replaces the others)
#   send N         the peer sends N bytes of the test pattern (byte i is
#                  (7 i + 3) mod 256) on its newest connection and waits
#                  until they are all sent
#   echo           the peer answers everything it receives from now on
#   silence        the peer's link goes down: the peer's host is gone, it
#                  drops every segment and never answers
#   reset          the peer closes every connection with SO_LINGER {1, 0}: a RST
#   close          the peer closes every connection in an orderly way (FIN),
#                  after reading everything it was sent
#   unreachable    (routed) the router answers for the peer with ICMP host
#                  unreachable (an `unreachable` route)
#   stop / cont    SIGSTOP / SIGCONT to the peer process: a hung peer whose
#                  kernel still acknowledges
#   usertimeout MS TCP_USER_TIMEOUT on the Windows program's end of the
#                  peer's newest connection, or of s_server's (s_client's)
#                  while there is one (see shorten_retransmissions())
#   tls-server     `openssl s_server` in the namespace on PEER_ADDRESS with
#                  the test certificate, a third-party TLS peer (the same
#                  link, the same faults) -> ok PORT
#   tls-client PORT
#                  `openssl s_client` in the namespace connects to
#                  HOST_ADDRESS:PORT (a TLS server on the program's side)
#                  and finishes its handshake; it replaces s_server
#   tls-send N     s_server (or s_client) sends N bytes of the test pattern
#                  to its other end
#   kill-connections
#                  `ss -K` in the namespace: the peer's kernel aborts its
#                  connections, a RST to the other end
#   tls-exit       s_server (or s_client) is killed: its kernel closes the
#                  connection with a FIN and no TLS close_notify
#   teardown       the namespace and the peer removed
#
# Everything is bounded in time; the namespace carries the helper's pid in its
# name, and leftovers of killed runs (whose pid is gone) are removed at start.

import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIPPED = 77
COMMAND_TIMEOUT = 10
SYS_PIDFD_GETFD = 438  # x86-64, Linux 5.6+
TCP_USER_TIMEOUT = 18
TLS_PORT = 4433


def pattern(count):
    return bytes(((i * 7 + 3) & 0xFF) for i in range(count))


def ip(*arguments, check=True):
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")
    return result


# --- the peer, inside the namespace --------------------------------------------------

def peer_main():
    """Listens on the namespace's address; acts on commands read from stdin.

    Holds every connection it accepted (several at once: deadpeer-demo
    connects three clients); reset, close, forget and echo act on all of
    them, send and remote-port on the newest."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((os.environ["PEER_ADDRESS"], 0))
    listener.listen(8)
    print(f"port {listener.getsockname()[1]}", flush=True)
    connections = []
    held = []
    echo = False
    commands = sys.stdin.buffer

    def answer(text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def newest():
        if not connections:
            raise ValueError("no connection")
        return connections[-1]

    def drain(connection):
        # Everything received is read first: unread data would turn a close
        # into a RST.
        connection.setblocking(False)
        try:
            while connection.recv(65536):
                pass
        except (BlockingIOError, ConnectionError):
            pass
        connection.setblocking(True)

    while True:
        readable, _, _ = select.select([listener, commands] + connections, [], [], 1.0)
        if listener in readable:
            connections.append(listener.accept()[0])
        for connection in [c for c in connections if c in readable]:
            try:
                data = connection.recv(65536)
            except OSError:
                data = b""
            if not data:
                connection.close()
                connections.remove(connection)
            elif echo:
                connection.sendall(data)
        if commands in readable:
            line = commands.readline().decode().strip()
            if not line:
                return
            verb, _, argument = line.partition(" ")
            try:
                if verb == "connect":
                    for connection in connections:
                        connection.close()
                    connection = socket.create_connection(
                        (os.environ["HOST_ADDRESS"], int(argument)), timeout=COMMAND_TIMEOUT)
                    connection.settimeout(None)
                    connections = [connection]
                    answer("ok")
                elif verb == "connections":
                    answer(f"ok {len(connections)}")
                elif verb == "send":
                    newest().sendall(pattern(int(argument)))
                    answer("ok")
                elif verb == "echo":
                    echo = True
                    answer("ok")
                elif verb == "reset":
                    newest()
                    for connection in connections:
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              bytes([1, 0, 0, 0, 0, 0, 0, 0]))
                        connection.close()
                    connections = []
                    answer("ok")
                elif verb == "close":
                    newest()
                    for connection in connections:
                        drain(connection)
                        connection.shutdown(socket.SHUT_WR)
                        connection.close()
                    connections = []
                    answer("ok")
                elif verb == "forget":
                    # The link is down: the sockets stay open (a close would
                    # queue a FIN) until the namespace goes.
                    held.extend(connections)
                    connections = []
                    answer("ok")
                elif verb == "remote-port":
                    current = connections[-1] if connections else (held[-1] if held else None)
                    answer(f"ok {current.getpeername()[1]}")
                else:
                    answer(f"error unknown peer command {verb}")
            except (OSError, AttributeError, ValueError) as error:
                answer(f"error {verb}: {error}")


# --- the controller, in the host's namespace -----------------------------------------

class Namespace:
    def __init__(self, credentials=None):
        self.pid = os.getpid()
        # (CERT, KEY): the test certificate's files, for s_server.
        self.credentials = credentials
        self.name = f"qtka-xf-{self.pid}"
        self.router = f"qtka-xr-{self.pid}"
        self.host_link = f"qxfh{self.pid}"
        self.peer_link = f"qxfp{self.pid}"
        self.router_host_link = f"qxfr{self.pid}"
        self.router_peer_link = f"qxfq{self.pid}"
        subnet = 4 * (self.pid % 60)  # a /30 of its own per helper
        third = (self.pid // 60) % 250
        self.host_address = f"10.214.{third}.{subnet + 1}"
        self.router_host_address = f"10.214.{third}.{subnet + 2}"
        self.peer_net = f"10.215.{third}.{subnet}"
        self.router_peer_address = f"10.215.{third}.{subnet + 1}"
        self.direct_peer_address = f"10.214.{third}.{subnet + 2}"
        self.routed_peer_address = f"10.215.{third}.{subnet + 2}"
        self.peer_address = self.direct_peer_address
        self.peer = None
        self.peer_port = 0
        self.tls_peer = None
        self.exists = False
        self.routed = False

    def setup(self, routed=False):
        """The peer's namespace, joined to the host by a veth pair; with
        routed, a router namespace between them (host - router - peer), so
        that the router can answer for a vanished peer with ICMP."""
        self.teardown()
        ip("netns", "add", self.name)
        self.exists = True
        self.routed = routed
        if routed:
            ip("netns", "add", self.router)
            self.peer_address = self.routed_peer_address
            self.link("", self.host_link, self.host_address, "01",
                      self.router, self.router_host_link, self.router_host_address, "03")
            self.link(self.router, self.router_peer_link, self.router_peer_address, "04",
                      self.name, self.peer_link, self.peer_address, "02")
            ip("route", "add", f"{self.peer_net}/30", "via", self.router_host_address,
               "dev", self.host_link)
            ip("-n", self.name, "route", "add", "default", "via", self.router_peer_address)
            subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw",
                            "net.ipv4.ip_forward=1"], check=True, timeout=COMMAND_TIMEOUT)
            ip("-n", self.router, "link", "set", "lo", "up")
        else:
            self.peer_address = self.direct_peer_address
            self.link("", self.host_link, self.host_address, "01",
                      self.name, self.peer_link, self.peer_address, "02")
        ip("-n", self.name, "link", "set", "lo", "up")
        environment = dict(os.environ, PEER_ADDRESS=self.peer_address,
                           HOST_ADDRESS=self.host_address)
        self.peer = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, os.path.abspath(__file__),
             "peer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)
        line = self.read_peer()
        if not line.startswith("port "):
            raise RuntimeError(f"peer did not start: {line!r}")
        self.peer_port = int(line.split()[1])
        with open("/proc/sys/net/ipv4/tcp_keepalive_probes") as file:
            probes = int(file.read().strip())
        return f"ok {self.peer_address} {self.peer_port} {self.host_address} {probes}"

    def link(self, ns_a, dev_a, address_a, mac_a, ns_b, dev_b, address_b, mac_b):
        """A veth pair between two namespaces ("" is the host's), addressed
        in one /30, up, with permanent neighbour entries: without address
        resolution a busy socket towards a downed link would die of
        EHOSTUNREACH instead of a silent-peer timeout."""
        def at(ns):
            return ["-n", ns] if ns else []
        mac = "02:14:00:00:00:"
        ip(*at(ns_a), "link", "add", dev_a, "address", mac + mac_a, "type", "veth", "peer",
           "name", dev_b, "address", mac + mac_b, "netns", ns_b)
        for ns, dev, address in ((ns_a, dev_a, address_a), (ns_b, dev_b, address_b)):
            ip(*at(ns), "address", "add", f"{address}/30", "dev", dev)
            ip(*at(ns), "link", "set", dev, "up")
        ip(*at(ns_a), "neigh", "replace", address_b, "lladdr", mac + mac_b, "dev", dev_a, "nud",
           "permanent")
        ip(*at(ns_b), "neigh", "replace", address_a, "lladdr", mac + mac_a, "dev", dev_b, "nud",
           "permanent")

    def read_peer(self):
        ready, _, _ = select.select([self.peer.stdout], [], [], COMMAND_TIMEOUT)
        if not ready:
            raise RuntimeError("the peer did not answer")
        return self.peer.stdout.readline().decode().strip()

    def tell_peer(self, line):
        self.peer.stdin.write((line + "\n").encode())
        self.peer.stdin.flush()
        return self.read_peer()

    def shorten_retransmissions(self, milliseconds):
        """TCP_USER_TIMEOUT on the Windows program's end of the connection.

        Wine refuses TCP_MAXRT, so the host kernel's retransmission limit
        (tcp_retries2, about 15 minutes) ends a connection with data in
        flight. This shortens it for that one socket, from outside: the
        socket is the host kernel's, held by wineserver and the program, and
        pidfd_getfd() gives a second descriptor of it. The program then sees
        what it sees at the end of the kernel's own limit (WSAETIMEDOUT).
        The connection is s_server's (s_client's) while there is one, else
        the peer's newest.
        """
        reply = self.tls_remote_port() if self.tls_peer else self.tell_peer("remote-port")
        if not reply.startswith("ok "):
            return reply
        port = int(reply.split()[1])
        listing = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
        owners = re.findall(r"pid=(\d+),fd=(\d+)", listing)
        if not owners:
            return f"error no process holds the socket of local port {port}: {listing!r}"
        pid, fd = (int(value) for value in owners[0])
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = os.pidfd_open(pid)
        try:
            duplicate = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
            if duplicate < 0:
                return f"error pidfd_getfd: {os.strerror(ctypes.get_errno())}"
            with socket.socket(fileno=duplicate) as held:
                held.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, milliseconds)
        finally:
            os.close(pidfd)
        return "ok"

    def tls_remote_port(self):
        """The peer's remote-port for s_server's (s_client's) connection:
        the port of the program's end."""
        listing = subprocess.run(
            ["ip", "netns", "exec", self.name, "ss", "-Htnp", "state", "established"],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
        for line in listing.splitlines():
            if f"pid={self.tls_peer.pid}," in line:
                return f"ok {line.split()[3].rpartition(':')[2]}"
        return f"error the TLS peer has no connection: {listing!r}"

    def start_tls_server(self):
        """openssl s_server on the peer's address; -quiet: it forwards its
        stdin to the client byte for byte and takes no commands from it."""
        if not self.credentials:
            return "error no test certificate (no openssl tool at the start)"
        self.stop_tls_peer()
        certificate, key = self.credentials
        port = TLS_PORT
        self.tls_peer = subprocess.Popen(
            ["ip", "netns", "exec", self.name, "openssl", "s_server", "-quiet", "-accept",
             f"{self.peer_address}:{port}", "-cert", certificate, "-key", key],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            listening = subprocess.run(
                ["ip", "netns", "exec", self.name, "ss", "-Htln", f"( sport = :{port} )"],
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
            if listening.strip():
                return f"ok {port}"
            if self.tls_peer.poll() is not None:
                return f"error openssl s_server exited with {self.tls_peer.returncode}"
            time.sleep(0.05)
        return "error openssl s_server is not listening"

    def start_tls_client(self, port):
        """openssl s_client connected to a server on the host's address;
        -quiet: it forwards its stdin byte for byte and ignores its EOF."""
        self.stop_tls_peer()
        self.tls_peer = subprocess.Popen(
            ["ip", "netns", "exec", self.name, "openssl", "s_client", "-quiet", "-connect",
             f"{self.host_address}:{port}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            connected = subprocess.run(
                ["ip", "netns", "exec", self.name, "ss", "-Htn", "state", "established",
                 f"( dport = :{port} )"],
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
            if connected.strip():
                return "ok"
            if self.tls_peer.poll() is not None:
                return f"error openssl s_client exited with {self.tls_peer.returncode}"
            time.sleep(0.05)
        return "error openssl s_client did not connect"

    def wait_until_read(self):
        """Until every connection in the namespace has an empty receive
        queue (bounded: at most COMMAND_TIMEOUT)."""
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            listing = subprocess.run(
                ["ip", "netns", "exec", self.name, "ss", "-Htn", "state", "established"],
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
            if all(line.split()[0] == "0" for line in listing.splitlines() if line.strip()):
                return
            time.sleep(0.05)

    def stop_tls_peer(self):
        if self.tls_peer:
            self.tls_peer.send_signal(signal.SIGCONT)
            self.tls_peer.kill()
            self.tls_peer.wait(COMMAND_TIMEOUT)
            self.tls_peer = None

    def teardown(self):
        self.stop_tls_peer()
        if self.peer:
            self.peer.send_signal(signal.SIGCONT)
            self.peer.kill()
            self.peer.wait(COMMAND_TIMEOUT)
            self.peer = None
        if self.exists:
            # The host's end of the veth pair (and the route through it) goes
            # with its other end.
            ip("netns", "del", self.name, check=False)
            if self.routed:
                ip("netns", "del", self.router, check=False)
            ip("link", "del", self.host_link, check=False)
            self.exists = False

    def command(self, line):
        verb, _, argument = line.partition(" ")
        if verb == "setup":
            return self.setup(routed=argument == "routed")
        if verb == "teardown":
            self.teardown()
            return "ok"
        if not self.peer:
            return "error no namespace (send setup first)"
        if verb == "silence":
            ip("-n", self.name, "link", "set", self.peer_link, "down")
            return self.tell_peer("forget")
        if verb == "unreachable":
            if not self.routed:
                return "error unreachable needs setup routed"
            # The router answers for the vanished peer with ICMP host unreachable.
            ip("-n", self.router, "route", "replace", "unreachable", f"{self.peer_address}/32")
            return "ok"
        if verb == "stop":
            self.peer.send_signal(signal.SIGSTOP)
            return "ok"
        if verb == "cont":
            self.peer.send_signal(signal.SIGCONT)
            return "ok"
        if verb == "wait":
            wanted = int(argument or "1")
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while time.monotonic() < deadline:
                reply = self.tell_peer("connections")
                if reply.startswith("ok ") and int(reply.split()[1]) >= wanted:
                    return "ok"
                time.sleep(0.05)
            return f"error the peer does not have {wanted} connection(s)"
        if verb == "tls-server":
            return self.start_tls_server()
        if verb == "tls-client":
            return self.start_tls_client(int(argument))
        if verb == "tls-send":
            if not self.tls_peer:
                return "error no tls-server or tls-client"
            self.tls_peer.stdin.write(pattern(int(argument)))
            self.tls_peer.stdin.flush()
            return "ok"
        if verb == "tls-exit":
            if not self.tls_peer:
                return "error no tls-server or tls-client"
            # Only a FIN is an orderly exit: a kernel that closes a connection
            # with unread bytes (a late TLS 1.3 session ticket) sends a RST.
            self.wait_until_read()
            self.stop_tls_peer()
            return "ok"
        if verb == "kill-connections":
            subprocess.run(["ip", "netns", "exec", self.name, "ss", "-HK", "state", "established"],
                           capture_output=True, check=True, timeout=COMMAND_TIMEOUT)
            return "ok"
        if verb == "usertimeout":
            return self.shorten_retransmissions(int(argument))
        if verb in ("connect", "send", "echo", "reset", "close"):
            return self.tell_peer(line)
        return f"error unknown command {verb}"


def make_certificate(directory):
    """The TLS test certificate and its key in directory, made as
    tests/auto/shared/tlsfixture.h makes them: (CERT, KEY), or None without
    the openssl tool."""
    certificate = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", certificate,
             "-days", "2", "-subj", "/CN=qt-keepalive-test", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.42.1"],
            capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"peerhelper: no TLS test certificate: {error}", flush=True)
        return None
    return certificate, key


def remove_leftovers():
    listed = ip("netns", "list", check=False).stdout
    for kind, name in re.findall(r"^qtka-(xf|xr)-(\d+)", listed, re.MULTILINE):
        if not os.path.exists(f"/proc/{name}"):
            ip("netns", "del", f"qtka-{kind}-{name}", check=False)
            ip("link", "del", f"qxfh{name}", check=False)
            print(f"removed the leftover namespace qtka-{kind}-{name}")


def serve(control, namespace, done):
    control.settimeout(0.5)
    while not done.is_set():
        try:
            connection, _ = control.accept()
        except socket.timeout:
            continue
        with connection, connection.makefile("rwb") as stream:
            for raw in stream:
                line = raw.decode().strip()
                try:
                    reply = namespace.command(line)
                except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                    reply = f"error {line}: {error}"
                print(f"peerhelper: {line} -> {reply}", flush=True)
                stream.write((reply + "\n").encode())
                stream.flush()


def run_main(wine, program):
    unavailable = None
    if os.geteuid() != 0:
        unavailable = "needs root for network namespaces and veth devices"
    elif subprocess.run(["which", "ip"], capture_output=True).returncode != 0:
        unavailable = "needs iproute2 (ip)"
    if unavailable:
        if os.environ.get("CI") == "true":
            print(f"FAIL (CI=true, no skipping): {unavailable}")
            return 1
        print(f"SKIP {unavailable}")
        return SKIPPED
    remove_leftovers()
    directory = tempfile.mkdtemp(prefix="qtka-tls-")
    credentials = make_certificate(directory)
    namespace = Namespace(credentials)
    control = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    control.bind(("127.0.0.1", 0))
    control.listen(1)
    done = threading.Event()
    server = threading.Thread(target=serve, args=(control, namespace, done), daemon=True)
    server.start()
    environment = dict(os.environ,
                       KEEPALIVE_PEER_CONTROL=f"127.0.0.1:{control.getsockname()[1]}")
    if credentials:
        # Wine's drive Z: is the host's root.
        drive = "Z:" if wine else ""
        environment["KEEPALIVE_TLS_CERT"] = drive + credentials[0]
        environment["KEEPALIVE_TLS_KEY"] = drive + credentials[1]
    command = ([wine] if wine else []) + program
    status = 1
    try:
        status = subprocess.run(command, env=environment).returncode
    finally:
        done.set()
        server.join(5)
        namespace.teardown()
        control.close()
        shutil.rmtree(directory, ignore_errors=True)
    return status


def main():
    arguments = sys.argv[1:]
    if arguments[:1] == ["peer"]:
        peer_main()
        return 0
    if arguments[:1] != ["run"]:
        print(__doc__ or "usage: peerhelper.py run [--wine WINE] -- PROGRAM [ARGS...]")
        return 2
    arguments = arguments[1:]
    wine = None
    if arguments[:1] == ["--wine"] and len(arguments) > 1:
        wine = arguments[1]
        arguments = arguments[2:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        print("peerhelper.py run: no program given")
        return 2
    return run_main(wine, arguments)


if __name__ == "__main__":
    sys.exit(main())
