"""A fast counting SMTP sink for benchmarks: accepts every message, keeps nothing, counts.

aiosmtpd parses each command through several layers of coroutines and tops out well below what a sender can do
over a pool of connections, so it would measure itself. This sink is one asyncio.Protocol that answers with
constant replies. The count is served over SMTP itself: the extra command `XCOUNT` replies `250 <count>`.

    python bench/smtp_sink.py --port 2525        # prints "listening on 127.0.0.1:<port>" then serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

EHLO_REPLY = b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 52428800\r\n"
DATA_END = b"\r\n.\r\n"


class Counter:
    messages = 0


class SinkProtocol(asyncio.Protocol):
    def __init__(self, counter: type[Counter] | Counter = Counter) -> None:
        self.counter = counter
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        replies: list[bytes] = []
        while buffer:
            if self.in_data:
                end = buffer.find(DATA_END)
                if end < 0:
                    break
                buffer = buffer[end + 5 :]
                self.in_data = False
                self.counter.messages += 1
                replies.append(b"250 2.0.0 queued\r\n")
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                break
            line, buffer = buffer[:end], buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"DATA":
                self.in_data = True
                replies.append(b"354 go ahead\r\n")
                # The terminator is "\r\n.\r\n"; restoring the DATA line's CRLF also catches an empty body.
                buffer = b"\r\n" + buffer
            elif verb in (b"EHLO", b"HELO"):
                replies.append(EHLO_REPLY if verb == b"EHLO" else b"250 sink\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            elif verb == b"XCOU":
                replies.append(b"250 %d\r\n" % self.counter.messages)
            else:
                replies.append(b"250 ok\r\n")
        self.buffer = buffer
        if replies:
            self.transport.write(b"".join(replies))


async def start_sink(host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, host, port, backlog=512)
    return server, server.sockets[0].getsockname()[1]


async def read_count(host: str, port: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readline()
    writer.write(b"XCOUNT\r\n")
    reply = await reader.readline()
    writer.write(b"QUIT\r\n")
    writer.close()
    return int(reply.split()[1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server, port = await start_sink(args.host, args.port)
    print(f"listening on {args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    print(f"received {Counter.messages} messages", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
