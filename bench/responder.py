"""A trivial HTTP responder, to measure the load generator's own ceiling when nginx is absent.

It reads each request (head and Content-Length body), answers 200 with a short JSON body and
closes the connection, as gunicorn's sync workers do; it does nothing else, so the rate a client
reaches against it is the client's limit (or at least a lower bound of it, since this responder
is Python too and shares the cores):

    python -m bench.responder --port P
"""

from __future__ import annotations

import argparse
import asyncio

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
          b"Connection: close\r\n\r\n{\"message\": \"ok\"}")


class Answer(asyncio.Protocol):
    """One connection: buffer until the whole request is in, answer, close."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, sep, body = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if len(body) >= length and self.transport is not None:
            self.transport.write(ANSWER)
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.responder")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
