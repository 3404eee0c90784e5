"""Length-prefixed msgpack framing of control messages over asyncio streams."""

from __future__ import annotations

import asyncio
import struct

import msgspec

from headwater.runtime.rpc.messages import AnyMessage, Message

_HEADER = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyMessage)

#: Largest control frame accepted (a deployment descriptor carries pickled operators).
MAX_FRAME = 512 * 1024 * 1024


def encode(message: Message) -> bytes:
    """A framed message, ready to write."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one framed message; raises IncompleteReadError at EOF."""
    header = await reader.readexactly(_HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"control frame too large: {length} bytes")
    return _decoder.decode(await reader.readexactly(length))


class Connection:
    """A framed, ordered message connection (one writer at a time via the event loop)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: Message) -> None:
        """Write a message and wait for the transport to drain."""
        self.writer.write(encode(message))
        await self.writer.drain()

    def send_nowait(self, message: Message) -> None:
        """Queue a message without waiting (transport buffers it)."""
        if not self.writer.is_closing():
            self.writer.write(encode(message))

    async def receive(self) -> Message:
        """The next message; IncompleteReadError when the peer closed."""
        return await read_message(self.reader)

    def close(self) -> None:
        """Close the connection."""
        if not self.writer.is_closing():
            self.writer.close()

    @property
    def peer(self) -> str:
        """host:port of the other side."""
        info = self.writer.get_extra_info("peername")
        return f"{info[0]}:{info[1]}" if info else "?"
