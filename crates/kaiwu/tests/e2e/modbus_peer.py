"""A pymodbus TCP server (third-party peer) with known values in known encodings.

Usage: modbus_peer.py PORT [rtu]
Prints "ready" once listening, then one JSON line per write request it receives:
{"fc": 6, "address": 10, "values": [...]}.

Layout (unit 1; 0-based addresses):
  input 0-1   f32 ABCD   1234.5
  input 2     i16        -123        (scale 0.1 -> -12.3)
  input 3-4   u32 CDAB   70000       (word-swapped)
  input 5-8   f64 ABCD   3.25
  input 9     u16        0b101       (bit 0 and bit 2 set)
  input 10-11 i32 DCBA   -5          (byte- and word-swapped)
  holding 0   u16        100         (writable)
  holding 1-2 f32 CDAB   55.5        (writable)
  coil 0      true                   (writable)
  discrete 0  true
"""

import asyncio
import json
import struct
import sys

from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer


def words(fmt, v, order):
    """Registers of a packed value in the given byte/word order (ABCD = big-endian)."""
    raw = struct.pack(">" + fmt, v)
    regs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        regs = regs[::-1]
    if order in ("BADC", "DCBA"):
        regs = [r[::-1] for r in regs]
    return [int.from_bytes(r, "big") for r in regs]


def main():
    port = int(sys.argv[1])
    framer = FramerType.RTU if len(sys.argv) > 2 and sys.argv[2] == "rtu" else FramerType.SOCKET
    inputs = (
        words("f", 1234.5, "ABCD")
        + words("h", -123, "ABCD")
        + words("I", 70000, "CDAB")
        + words("d", 3.25, "ABCD")
        + [0b101]
        + words("i", -5, "DCBA")
    )
    holding = [100] + words("f", 55.5, "CDAB") + [0] * 20
    # pymodbus' sequential blocks are 1-based internally; address 1 here is wire address 0.
    device = ModbusDeviceContext(
        di=ModbusSequentialDataBlock(1, [True] + [False] * 15),
        co=ModbusSequentialDataBlock(1, [True] + [False] * 15),
        ir=ModbusSequentialDataBlock(1, inputs + [0] * 20),
        hr=ModbusSequentialDataBlock(1, holding),
    )
    context = ModbusServerContext(devices={1: device}, single=False)

    def trace_pdu(sending, pdu):
        if not sending and pdu.function_code in (5, 6, 15, 16):
            vals = list(getattr(pdu, "registers", None) or getattr(pdu, "bits", None) or [])
            line = {"fc": pdu.function_code, "address": pdu.address, "values": [int(v) for v in vals]}
            print(json.dumps(line), flush=True)
        return pdu

    async def run():
        server = ModbusTcpServer(
            context, framer=framer, address=("127.0.0.1", port), trace_pdu=trace_pdu
        )
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.3)
        print("ready", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
