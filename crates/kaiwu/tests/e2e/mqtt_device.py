"""A ThingsBoard-style device driven by the end-to-end tests, on Eclipse paho-mqtt.

Usage: mqtt_device.py <host> <port> <token> <scenario>

Scenarios:
  pubacks  MQTT 5, QoS 1: valid telemetry, a malformed payload, a foreign topic, valid telemetry
           again, all on one connection; prints {"codes": [<PUBACK reason code per publish>]}.
  serve    MQTT 3.1.1: subscribes to attribute updates and RPC requests, prints "ready", answers
           every RPC with {"ok": true, "method": m, "params": p}, prints each attribute update
           as a JSON line; reports attributes it is given on stdin lines; exits on stdin EOF.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt


def out(obj):
    print(json.dumps(obj), flush=True)


def pubacks(host, port, token):
    codes = {}
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-pubacks",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(token)

    def on_publish(client, userdata, mid, reason_code, properties):
        codes[mid] = reason_code.value
        if len(codes) == 4:
            done.set()

    c.on_publish = on_publish
    c.connect(host, port)
    c.loop_start()
    mids = []
    for topic, body in [
        ("v1/devices/me/telemetry", '{"spindle_speed": 1000}'),
        ("v1/devices/me/telemetry", "this is not json"),
        ("v1/devices/other/telemetry", '{"spindle_speed": 1}'),
        ("v1/devices/me/telemetry", '{"ts": 1700000000000, "values": {"spindle_speed": 2000}}'),
    ]:
        mids.append(c.publish(topic, body, qos=1).mid)
    if not done.wait(30):
        raise SystemExit(f"no PUBACK for some publishes: {codes}")
    c.disconnect()
    c.loop_stop()
    out({"codes": [codes[m] for m in mids]})


def serve(host, port, token):
    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-serve",
                    protocol=mqtt.MQTTv311)
    c.username_pw_set(token)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe([("v1/devices/me/attributes", 1), ("v1/devices/me/rpc/request/+", 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        ready.set()

    def on_message(client, userdata, msg):
        body = json.loads(msg.payload)
        if msg.topic.startswith("v1/devices/me/rpc/request/"):
            n = msg.topic.rsplit("/", 1)[1]
            answer = {"ok": True, "method": body.get("method"), "params": body.get("params")}
            client.publish(f"v1/devices/me/rpc/response/{n}", json.dumps(answer), qos=1)
        else:
            out({"attributes": body})

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not ready.wait(30):
        raise SystemExit("no SUBACK")
    out("ready")
    for line in sys.stdin:
        c.publish("v1/devices/me/attributes", line.strip(), qos=1).wait_for_publish(30)
        out("reported")
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    host, port, token, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    {"pubacks": pubacks, "serve": serve}[scenario](host, port, token)
