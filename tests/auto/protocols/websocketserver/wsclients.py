#!/usr/bin/env python3
# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# A third-party WebSocket client for tst_websocketserver: Python's websockets
# package holding connections open, driven by commands on stdin and reporting
# on stdout, one line each, flushed.
#
#   wsclients.py [--count N] [--cafile CERT] URL...
#
# Opens N connections (default 1) to each URL, one URL after the other, and
# reads each until it closes. ping_interval=None: this client pings nothing;
# the package answers the server's pings by itself.
#
# Reports:
#   connected LOCALPORT URL   one line per connection, in the order opened
#   ready N                   all N connections are open
#   echo LOCALPORT TEXT       a text message received
#   closed LOCALPORT CODE     a connection ended (1006: without a close frame)
#   error TEXT                a connection could not be opened (exit 1)
#
# Commands:
#   send     every open connection sends "hello LOCALPORT"
#   poke     every open connection sends a 1-byte binary message (no answer)
#   quit

import argparse
import asyncio
import ssl
import sys

import websockets


def report(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def is_open(connection):
    # websockets before 14 (Debian 12's 10.4) has .open; 14 and later, .state.
    if hasattr(connection, "open"):
        return connection.open
    return connection.state is websockets.protocol.State.OPEN


async def read_until_closed(connection, port):
    try:
        async for message in connection:
            if isinstance(message, str):
                report(f"echo {port} {message}")
    except websockets.ConnectionClosed:
        pass
    report(f"closed {port} {connection.close_code}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--cafile")
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    connections = []
    readers = []
    for url in args.urls:
        try:
            opened = await asyncio.gather(
                *(
                    websockets.connect(
                        url,
                        ssl=context if url.startswith("wss:") else None,
                        ping_interval=None,
                        open_timeout=20,
                        close_timeout=1,
                    )
                    for _ in range(args.count)
                )
            )
        except Exception as error:  # report anything that prevents the set-up
            report(f"error {error!r}")
            return 1
        for connection in opened:
            port = connection.local_address[1]
            connections.append((connection, port))
            report(f"connected {port} {url}")
            readers.append(asyncio.create_task(read_until_closed(connection, port)))
    report(f"ready {len(connections)}")

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = await stdin.readline()
        command = line.decode().strip()
        if not line or command == "quit":
            return 0
        for connection, port in connections:
            if not is_open(connection):
                continue
            if command == "send":
                await connection.send(f"hello {port}")
            elif command == "poke":
                await connection.send(b"\x00")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
