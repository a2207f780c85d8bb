"""A Sparkplug B edge node driven by the end-to-end tests, on Eclipse paho-mqtt.

The payloads are protobuf built here by hand from the Sparkplug B schema (sparkplug_b.proto,
Payload and Metric): PyPI's pysparkplug needs paho-mqtt < 2, which the other scenarios cannot
use, and a hand encoder keeps the test independent of Kaiwu's own (Rust) codec.

Usage: mqtt_sparkplug.py <host> <port> <token> <group> <node>

MQTT 5, QoS 1. Registers an NDEATH will, subscribes to its NCMD topic and the host STATE, and
prints {"state": <STATE payload>} once the retained STATE arrives. Then publishes NBIRTH (bdSeq,
Node Control/Rebirth, Uptime alias 1), DBIRTH of device pump1 (Motor/RPM alias 10, Running
alias 11), DDATA and NDATA by alias, and prints {"codes": [<PUBACK reason code per publish>]}.
Then a DDATA with a seq gap: prints {"ncmd": [<metric names>]} for the rebirth request it
gets. A DCMD for pump1 prints {"dcmd": [{"name", "alias", "datatype", "value"}]}. Each stdin line
`ddeath` publishes DDEATH of pump1 and prints {"code": c}. Exits on EOF.
"""
import json
import struct
import sys
import threading

import paho.mqtt.client as mqtt

INT64, DOUBLE, BOOLEAN = 4, 10, 11
T0 = 1_700_000_000_000


OUT = threading.Lock()


def out(obj):
    # One write per line under a lock: the network thread prints too, and lines must not mix.
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def varint(n):
    b = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            b.append(byte | 0x80)
        else:
            b.append(byte)
            return bytes(b)


def field(num, wire, data):
    return varint(num << 3 | wire) + data


def uint(num, n):
    return field(num, 0, varint(n))


def nested(num, data):
    return field(num, 2, varint(len(data)) + data)


def metric(name=None, alias=None, ts=None, datatype=None, value=None):
    b = b""
    if name is not None:
        b += nested(1, name.encode())
    if alias is not None:
        b += uint(2, alias)
    if ts is not None:
        b += uint(3, ts)
    if datatype is not None:
        b += uint(4, datatype)
    if value is not None:
        if datatype == INT64:
            b += uint(11, value)  # long_value
        elif datatype == DOUBLE:
            b += field(13, 1, struct.pack("<d", value))  # double_value
        elif datatype == BOOLEAN:
            b += uint(14, int(value))  # boolean_value
    return b


def payload(seq, metrics, ts=T0):
    b = uint(1, ts)
    for m in metrics:
        b += nested(2, m)
    if seq is not None:
        b += uint(3, seq)
    return b


def read_varint(buf, i):
    shift = n = 0
    while True:
        byte = buf[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return n, i


def fields(buf):
    """(field number, value) of a protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        wire = key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        yield key >> 3, v


def metric_names(buf):
    return [dict(fields(m)).get(1, b"").decode() for num, m in fields(buf) if num == 2]


def decode_metric(buf):
    f = dict(fields(buf))
    value = None
    if 13 in f:
        value = struct.unpack("<d", f[13])[0]
    elif 11 in f:
        value = f[11]
    elif 14 in f:
        value = bool(f[14])
    name = f[1].decode() if 1 in f else None
    return {"name": name, "alias": f.get(2), "datatype": f.get(4), "value": value}


def main(host, port, token, group, node):
    base = f"spBv1.0/{group}"
    acks, cond = {}, threading.Condition()
    state, ncmd = threading.Event(), threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-spb", protocol=mqtt.MQTTv5)
    c.username_pw_set(token)
    c.will_set(f"{base}/NDEATH/{node}", payload(None, [metric("bdSeq", None, T0, INT64, 0)]), qos=1)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(
            [(f"{base}/NCMD/{node}", 1), (f"{base}/DCMD/{node}/pump1", 1), ("spBv1.0/STATE/+", 1)]
        )

    def on_message(client, userdata, msg):
        if msg.topic.startswith("spBv1.0/STATE/"):
            out({"state": json.loads(msg.payload)})
            state.set()
        elif "/DCMD/" in msg.topic:
            out({"dcmd": [decode_metric(m) for num, m in fields(msg.payload) if num == 2]})
        else:
            out({"ncmd": metric_names(msg.payload)})
            ncmd.set()

    def on_publish(client, userdata, mid, reason_code, properties):
        with cond:
            acks[mid] = reason_code.value
            cond.notify_all()

    def publish(topic, body):
        mid = c.publish(topic, body, qos=1).mid
        with cond:
            if not cond.wait_for(lambda: mid in acks, 30):
                raise SystemExit(f"no PUBACK for {topic}")
            return acks.pop(mid)

    c.on_connect, c.on_message, c.on_publish = on_connect, on_message, on_publish
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not state.wait(30):
        raise SystemExit("no STATE")
    codes = [
        publish(f"{base}/NBIRTH/{node}", payload(0, [
            metric("bdSeq", None, T0, INT64, 0),
            metric("Node Control/Rebirth", None, T0, BOOLEAN, False),
            metric("Uptime", 1, T0, INT64, 100)])),
        publish(f"{base}/DBIRTH/{node}/pump1", payload(1, [
            metric("Motor/RPM", 10, T0, DOUBLE, 1200.5),
            metric("Running", 11, T0, BOOLEAN, True)])),
        publish(f"{base}/DDATA/{node}/pump1", payload(2, [
            metric(None, 10, T0 + 1000, None, None) + field(13, 1, struct.pack("<d", 1300.0))])),
        publish(f"{base}/NDATA/{node}", payload(3, [metric(None, 1, T0 + 1000, INT64, 200)])),
    ]
    out({"codes": codes})
    publish(f"{base}/DDATA/{node}/pump1", payload(9, [metric(None, 11, T0 + 2000, BOOLEAN, False)]))
    if not ncmd.wait(30):
        raise SystemExit("no rebirth request after a seq gap")
    for line in sys.stdin:
        if line.strip() == "ddeath":
            out({"code": publish(f"{base}/DDEATH/{node}/pump1", payload(10, []))})
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
