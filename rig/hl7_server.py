#!/usr/bin/python3
"""hl7_server.py HOST PORT: the rig's HL7 interface engine.

An MLLP listener built on python3-hl7's asyncio server (hl7.mllp) that
answers every message with an original-mode ACK (MSA|AA), as an engine in
front of an EHR does. It prints one line per message it acknowledged (the
message control ID only: never the message, which carries the synthetic
patient) and runs until it is terminated.
"""

import asyncio
import signal
import sys

import hl7
from hl7.mllp import start_hl7_server


async def handle(reader, writer):
    peer = writer.get_extra_info("peername")
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            ack = message.create_ack(ack_code="AA")
            writer.writemessage(ack)
            await writer.drain()
            print(f"ack {message.segment('MSH')(10)} to {peer[0]}", flush=True)
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def main(host, port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await start_hl7_server(handle, host, port)
    print(f"listening on {host}:{port} (hl7 {hl7.__version__})", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
