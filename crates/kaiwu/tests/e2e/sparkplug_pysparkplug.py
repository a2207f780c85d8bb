"""A Sparkplug B edge node built with PyPI's pysparkplug (a third-party implementation).

Usage: sparkplug_pysparkplug.py <host> <port> <token> <group> <node>

Connects (MQTT 3.1.1, the access token as username), births node metric Temperature (Double)
and device press1 with Pressure (Double) and Count (Int64), then publishes DDATA Pressure=2.5
and NDATA Temperature=21.5 and prints {"published": true}. Prints {"dcmd": [[name, value], ...]}
for each DCMD to press1 it receives. Exits on stdin EOF.
"""
import json
import sys
import threading
import time

from pysparkplug import Client, DataType, Device, EdgeNode, Metric, get_current_timestamp

OUT = threading.Lock()


def out(obj):
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main(host, port, token, group, node):
    def on_dcmd(_edge, message):
        out({"dcmd": [[m.name, m.value] for m in message.payload.metrics]})

    t = get_current_timestamp()
    client = Client(client_id="e2e-pysparkplug", username=token)
    edge = EdgeNode(
        group,
        node,
        [Metric(timestamp=t, name="Temperature", datatype=DataType.DOUBLE, value=20.5)],
        client=client,
    )
    edge.register(
        Device(
            "press1",
            [
                Metric(timestamp=t, name="Pressure", datatype=DataType.DOUBLE, value=1.5),
                Metric(timestamp=t, name="Count", datatype=DataType.INT64, value=7),
            ],
            cmd_callback=on_dcmd,
        )
    )
    edge.connect(host, port=port, blocking=False)
    deadline = time.time() + 30
    while not edge._connected:
        if time.time() > deadline:
            raise SystemExit("edge node did not connect")
        time.sleep(0.05)
    # The births go out from the connect callback; give them a moment on the wire first.
    time.sleep(0.5)
    now = get_current_timestamp()
    edge.update_device(
        "press1", [Metric(timestamp=now, name="Pressure", datatype=DataType.DOUBLE, value=2.5)]
    )
    edge.update([Metric(timestamp=now, name="Temperature", datatype=DataType.DOUBLE, value=21.5)])
    out({"published": True})
    for _ in sys.stdin:
        pass
    edge.disconnect()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
