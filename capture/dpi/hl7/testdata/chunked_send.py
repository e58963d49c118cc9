# MLLP client for recording hl7/testdata/*.pcap: sends a large message in
# 512-byte writes (one message across many TCP segments) and then two
# messages in a single write (several messages in one segment), reading the
# ACKs with python3-hl7's hl7.mllp stream reader.
import asyncio
import sys

from hl7.mllp import open_hl7_connection

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def frame(path):
    with open(path, "rb") as f:
        return SB + f.read().replace(b"\n", b"\r").rstrip(b"\r") + b"\r" + EB + CR


async def main(port, big, first, second):
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    writer.transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY
    data = frame(big)
    for i in range(0, len(data), 512):
        writer.write(data[i:i + 512])
        await writer.drain()
        await asyncio.sleep(0.01)
    await reader.readmessage()
    writer.write(frame(first) + frame(second))
    await writer.drain()
    await reader.readmessage()
    await reader.readmessage()
    writer.close()
    await writer.wait_closed()


asyncio.run(main(int(sys.argv[1]), *sys.argv[2:5]))
