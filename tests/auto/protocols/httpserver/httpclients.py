#!/usr/bin/env python3
# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# A third-party HTTP client for tst_httpserver: Python's http.client holding
# keep-alive connections to HOST:PORT, driven by commands on stdin and
# reporting on stdout, one line each, flushed.
#
#   httpclients.py HOST PORT
#
# Commands (ID names a connection; it connects on its first request):
#   get ID PATH        one GET on ID's connection
#   every ID MS PATH   a GET on ID every MS milliseconds, until `stop ID`
#   stop ID
#   close ID           the client closes ID's connection (FIN)
#   quit
#
# Reports:
#   ready                          once, when commands are read
#   response ID LOCALPORT STATUS CONNECTION BODY   (CONNECTION: the header's
#                                  value, "-" when absent or keep-alive;
#                                  BODY with \n as "\n")
#   error ID LOCALPORT TEXT        a request failed (the connection is dropped)
#   closed ID LOCALPORT            the server closed an idle connection (EOF)
#   reset ID LOCALPORT             the server reset an idle connection
#   unsolicited ID LOCALPORT N     an idle connection received N bytes unasked
#
# Between requests every connection is watched, so that a close by the
# server is reported when it happens, not at the next request.

import http.client
import selectors
import socket
import sys
import time

REQUEST_TIMEOUT_S = 10


class Connection:
    def __init__(self, ident, host, port):
        self.ident = ident
        self.http = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
        self.local_port = 0
        self.watched = None  # the socket registered with the selector
        self.every_s = None
        self.path = "/"
        self.due = 0.0


def report(*words):
    print(" ".join(str(w) for w in words), flush=True)


class Clients:
    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.connections = {}
        self.selector = selectors.DefaultSelector()

    def connection(self, ident):
        if ident not in self.connections:
            self.connections[ident] = Connection(ident, self.host, self.port)
        return self.connections[ident]

    def unwatch(self, conn):
        if conn.watched is not None:
            self.selector.unregister(conn.watched)
            conn.watched = None

    def watch(self, conn):
        sock = conn.http.sock
        if sock is not None and conn.watched is None:
            self.selector.register(sock, selectors.EVENT_READ, conn)
            conn.watched = sock

    def drop(self, conn):
        self.unwatch(conn)
        conn.http.close()
        conn.every_s = None

    def get(self, conn, path):
        self.unwatch(conn)
        try:
            if conn.http.sock is None:
                conn.http.connect()
                conn.local_port = conn.http.sock.getsockname()[1]
            conn.http.request("GET", path)
            response = conn.http.getresponse()
            body = response.read().decode("utf-8", "replace").replace("\n", "\\n")
            # HTTP/1.1 keeps the connection without the header (Qt 6.4) or
            # with "keep-alive" (Qt 6.11): both are "-".
            connection = response.getheader("Connection", "-")
            if connection.lower() == "keep-alive":
                connection = "-"
            report("response", conn.ident, conn.local_port, response.status, connection, body)
        except (OSError, http.client.HTTPException) as error:
            report("error", conn.ident, conn.local_port,
                   "%s: %s" % (type(error).__name__, error))
            self.drop(conn)
            return
        # http.client closes the connection itself after "Connection: close".
        self.watch(conn)

    def on_readable(self, conn):
        try:
            data = conn.watched.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except ConnectionResetError:
            report("reset", conn.ident, conn.local_port)
            self.drop(conn)
            return
        if data:
            report("unsolicited", conn.ident, conn.local_port, len(data))
            self.unwatch(conn)
        else:
            report("closed", conn.ident, conn.local_port)
            self.drop(conn)

    def command(self, line):
        words = line.split()
        if not words:
            return True
        if words[0] == "quit":
            return False
        conn = self.connection(words[1])
        if words[0] == "get":
            self.get(conn, words[2])
        elif words[0] == "every":
            conn.every_s = int(words[2]) / 1000.0
            conn.path = words[3]
            conn.due = time.monotonic()
        elif words[0] == "stop":
            conn.every_s = None
        elif words[0] == "close":
            self.drop(conn)
        return True

    def run(self):
        stdin = sys.stdin.buffer.raw
        self.selector.register(stdin, selectors.EVENT_READ, None)
        pending = b""
        report("ready")
        while True:
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if conn.every_s is not None and conn.due <= now:
                    self.get(conn, conn.path)
                    conn.due = max(conn.due + conn.every_s, time.monotonic())
            dues = [c.due for c in self.connections.values() if c.every_s is not None]
            timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
            for key, _ in self.selector.select(timeout):
                if key.data is not None:
                    if key.data.watched is not None:
                        self.on_readable(key.data)
                    continue
                chunk = stdin.read(4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if not self.command(line.decode()):
                        return


if __name__ == "__main__":
    Clients(sys.argv[1], int(sys.argv[2])).run()
