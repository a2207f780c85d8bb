"""A pymodbus TCP server (third-party peer) with known values in known encodings.

Usage: modbus_peer.py PORT [rtu]    Modbus TCP, or RTU framing over TCP
       modbus_peer.py serial          RTU on a serial line: a pseudo-terminal pair stands in for
                                      the RS-485 cable; prints {"serial_port": PATH} (the end
                                      the client opens) first, at 19200 baud 8N2
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
import os
import struct
import sys
import threading

from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer


def words(fmt, v, order):
    """Registers of a packed value in the given byte/word order (ABCD = big-endian)."""
    raw = struct.pack(">" + fmt, v)
    regs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        regs = regs[::-1]
    if order in ("BADC", "DCBA"):
        regs = [r[::-1] for r in regs]
    return [int.from_bytes(r, "big") for r in regs]


def null_modem():
    """Two pseudo-terminals joined master to master, like a serial cable: bytes written to one
    slave end are read from the other. Returns the two slave paths."""
    ends = [os.openpty() for _ in range(2)]

    def pump(src, dst):
        while True:
            try:
                data = os.read(src, 4096)
            except OSError:
                return
            if not data:
                return
            os.write(dst, data)

    (ma, sa), (mb, sb) = ends
    for src, dst in ((ma, mb), (mb, ma)):
        threading.Thread(target=pump, args=(src, dst), daemon=True).start()
    # The slave fds stay open here so a master never sees the line hang up.
    return os.ttyname(sa), os.ttyname(sb)


def main():
    serial = sys.argv[1] == "serial"
    port = 0 if serial else int(sys.argv[1])
    rtu = serial or (len(sys.argv) > 2 and sys.argv[2] == "rtu")
    framer = FramerType.RTU if rtu else FramerType.SOCKET
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
        if serial:
            client_end, server_end = null_modem()
            print(json.dumps({"serial_port": client_end}), flush=True)
            server = ModbusSerialServer(
                context, framer=framer, port=server_end, baudrate=19200, parity="N",
                bytesize=8, stopbits=2, trace_pdu=trace_pdu,
            )
        else:
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
