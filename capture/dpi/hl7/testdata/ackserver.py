# MLLP ACK server for recording hl7/testdata/*.pcap (python3-hl7's hl7.mllp).
# Replies AA, except AE to control ID ERR-1 and AR to control ID REJ-1.
import asyncio
import sys

import hl7
from hl7.mllp import start_hl7_server


async def handle(reader, writer):
    try:
        while not writer.is_closing():
            msg = await reader.readmessage()
            control = str(msg.segment("MSH")(10))
            code = {"ERR-1": "AE", "REJ-1": "AR"}.get(control, "AA")
            writer.writemessage(msg.create_ack(ack_code=code, message_id="ACK-" + control))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def main(port):
    async with await start_hl7_server(handle, host="127.0.0.1", port=port) as server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
