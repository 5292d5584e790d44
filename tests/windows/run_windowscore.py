#!/usr/bin/env python3
# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# Cross-compiles the Windows platform core and tst_windowscore.cpp with
# MinGW-w64 (warnings as errors), then runs the program under Wine against
# a peer on 127.0.0.1 served from here (see tst_windowscore.cpp for the
# commands). Registered with ctest as windows_wine (tests/CMakeLists.txt).
#
#   run_windowscore.py --compiler x86_64-w64-mingw32-g++ --source-dir SRC
#                      --work-dir DIR [--wine /usr/lib/wine/wine64]
#
# Exits 0 when the program passed, 1 when it failed, and 77 (skipped) when
# MinGW-w64 or Wine is missing, except under CI=true, where that fails too.

import argparse
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

SKIPPED = 77
# classic BPF "ret #0": the kernel drops every segment that reaches the socket.
SO_ATTACH_FILTER = 26


def skip_or_fail(message):
    if os.environ.get("CI") == "true":
        print(f"FAIL (CI=true, no skipping): {message}")
        return 1
    print(f"SKIP {message}")
    return SKIPPED


def drop_everything(connection):
    instructions = struct.pack("HBBI", 0x06, 0, 0, 0)  # BPF_RET | BPF_K, 0
    buffer = bytes(instructions)

    storage = ctypes.create_string_buffer(buffer)
    program = struct.pack("HL", 1, ctypes.addressof(storage))
    connection.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    return storage  # kept alive until the filter is attached


class Peer:
    """Accepts connections on 127.0.0.1 and acts on each one's command line."""

    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.held = []
        self.errors = []
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                connection, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.handle(connection)
            except OSError as error:
                self.errors.append(str(error))
                print(f"PEER ERROR {error}", flush=True)

    def handle(self, connection):
        connection.settimeout(10)
        command = b""
        while not command.endswith(b"\n") and len(command) < 32:
            chunk = connection.recv(1)
            if not chunk:
                connection.close()
                return
            command += chunk
        command = command.strip().decode()
        connection.sendall(b"ok\n")
        if command == "silent":
            # Let the client acknowledge "ok" first: a dropped ACK would make
            # this side retransmit, and the retransmissions would keep the
            # client's connection from ever being idle.
            time.sleep(0.3)
            drop_everything(connection)
            self.held.append(connection)
        elif command == "reset":
            time.sleep(0.3)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
        elif command == "fin":
            time.sleep(0.3)
            connection.close()
        else:  # hold
            self.held.append(connection)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.server.close()
        for connection in self.held:
            connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compiler", default="x86_64-w64-mingw32-g++")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--wine", default="")
    arguments = parser.parse_args()

    compiler = shutil.which(arguments.compiler)
    if not compiler:
        return skip_or_fail(f"{arguments.compiler} not found (Debian: g++-mingw-w64-x86-64)")
    wine = arguments.wine or shutil.which("wine64") or "/usr/lib/wine/wine64"
    if not os.access(wine, os.X_OK):
        return skip_or_fail("wine64 not found (Debian: wine64, /usr/lib/wine/wine64)")

    source = os.path.abspath(arguments.source_dir)
    work = os.path.abspath(arguments.work_dir)
    os.makedirs(work, exist_ok=True)
    program = os.path.join(work, "tst_windowscore.exe")
    command = [
        compiler, "-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O1",
        f"-I{source}/src/platform",
        f"{source}/src/platform/keepaliveplatformcore.cpp",
        f"{source}/src/platform/keepaliveplatformcore_windows.cpp",
        f"{source}/src/platform/keepaliveplatform_win.cpp",
        f"{source}/tests/windows/tst_windowscore.cpp",
        "-static", "-o", program, "-lws2_32",
    ]
    print("==> " + " ".join(command), flush=True)
    if subprocess.run(command).returncode != 0:
        print("FAIL: the Windows platform core does not build with MinGW-w64 and -Werror")
        return 1

    with open("/proc/sys/net/ipv4/tcp_keepalive_probes") as file:
        host_probes = int(file.read().strip())

    environment = dict(os.environ)
    environment["WINEPREFIX"] = os.path.join(work, "wineprefix")
    environment["WINEDEBUG"] = "-all"
    environment.pop("DISPLAY", None)
    environment.pop("WAYLAND_DISPLAY", None)

    peer = Peer()
    try:
        run = [wine, program, str(peer.port), str(host_probes)]
        print("==> WINEPREFIX=%s WINEDEBUG=-all %s" % (environment["WINEPREFIX"], " ".join(run)),
              flush=True)
        started = time.monotonic()
        try:
            result = subprocess.run(run, env=environment, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=240)
        except subprocess.TimeoutExpired:
            print("FAIL: the program did not finish within 240 s")
            return 1
        output = result.stdout.decode(errors="replace")
        # Wine's own start-up notes ("wine: created the configuration directory").
        print(output, end="", flush=True)
        print(f"(finished in {time.monotonic() - started:.1f} s, exit code {result.returncode})")
    finally:
        peer.stop()
    if peer.errors:
        print("FAIL: the peer failed: " + "; ".join(peer.errors))
        return 1
    if result.returncode != 0 or "\nOK: 0 failed" not in "\n" + output:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
