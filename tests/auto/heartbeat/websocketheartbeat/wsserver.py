#!/usr/bin/env python3
# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# A third-party WebSocket server for tst_websocketheartbeat: Python's
# websockets package on 127.0.0.1, a port of its choice. It echoes text
# messages and answers pings by itself (the package does); it pings nothing
# (ping_interval=None). Reports on stdout, one line each, flushed:
#
#   listening PORT
#   connected PEERPORT
#
#   wsserver.py [--stream MS]   with --stream, every connection is also sent
#                               "tick N" every MS milliseconds

import argparse
import asyncio
import sys

import websockets


def report(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, default=0)
    args = parser.parse_args()

    async def stream(connection):
        tick = 0
        while True:
            await asyncio.sleep(args.stream / 1000)
            tick += 1
            await connection.send(f"tick {tick}")

    async def serve(connection, *_):  # websockets 10 passes the path too
        report(f"connected {connection.remote_address[1]}")
        streaming = asyncio.create_task(stream(connection)) if args.stream > 0 else None
        try:
            async for message in connection:
                await connection.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            if streaming:
                streaming.cancel()

    async with websockets.serve(serve, "127.0.0.1", 0, ping_interval=None) as server:
        report(f"listening {server.sockets[0].getsockname()[1]}")
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
