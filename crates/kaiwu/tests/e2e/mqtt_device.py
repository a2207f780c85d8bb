"""A ThingsBoard-style device driven by the end-to-end tests, on Eclipse paho-mqtt.

Usage: mqtt_device.py <host> <port> <token> <scenario>

Scenarios:
  pubacks  MQTT 5, QoS 1: valid telemetry, a malformed payload, a foreign topic, valid telemetry
           again, all on one connection; prints {"codes": [<PUBACK reason code per publish>]}.
  serve    MQTT 3.1.1: subscribes to attribute updates and RPC requests, prints "ready", answers
           every RPC with {"ok": true, "method": m, "params": p}, prints each attribute update
           as a JSON line; reports attributes it is given on stdin lines; exits on stdin EOF.
  publish  MQTT 5, QoS 1: publishes argv[5] (body) on argv[4] (topic); prints
           {"code": <PUBACK reason code>, "reason": <reason string or null>}.
  gateway  MQTT 5: a ThingsBoard gateway. Subscribes to v1/gateway/rpc, v1/gateway/attributes
           and v1/gateway/attributes/response, prints "ready", answers every RPC with
           {"device": d, "id": n, "data": {"ok": true, "method": m, "params": p}} and prints
           every other message as {"topic": t, "body": b}. Each stdin line is `<topic> <body>`:
           published at QoS 1, answered with {"code": c, "reason": r} once PUBACKed. Exits on EOF.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt


OUT = threading.Lock()


def out(obj):
    # One write per line under a lock: the network thread prints too, and lines must not mix.
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


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


class Acks:
    """PUBACK reason code and reason string per message id, whichever of publish() and the
    callback comes first."""

    def __init__(self):
        self.cond = threading.Condition()
        self.acks = {}

    def on_publish(self, client, userdata, mid, reason_code, properties):
        with self.cond:
            self.acks[mid] = {"code": reason_code.value,
                              "reason": getattr(properties, "ReasonString", None)}
            self.cond.notify_all()

    def publish(self, c, topic, body):
        mid = c.publish(topic, body, qos=1).mid
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.acks, 30):
                raise SystemExit(f"no PUBACK for {topic}")
            return self.acks.pop(mid)


def v5_client(token, client_id):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(token)
    return c


def publish(host, port, token, topic, body):
    acks = Acks()
    connected = threading.Event()
    c = v5_client(token, "e2e-publish")
    c.on_publish = acks.on_publish
    c.on_connect = lambda client, userdata, flags, reason_code, properties: connected.set()
    c.connect(host, port)
    c.loop_start()
    if not connected.wait(30):
        raise SystemExit("no CONNACK")
    out(acks.publish(c, topic, body))
    c.disconnect()
    c.loop_stop()


def gateway(host, port, token):
    acks = Acks()
    ready = threading.Event()
    c = v5_client(token, "e2e-gateway")
    c.on_publish = acks.on_publish

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe([("v1/gateway/rpc", 1), ("v1/gateway/attributes", 1),
                          ("v1/gateway/attributes/response", 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if all(rc.value < 0x80 for rc in reason_codes):
            ready.set()

    def on_message(client, userdata, msg):
        body = json.loads(msg.payload)
        if msg.topic == "v1/gateway/rpc":
            data = body["data"]
            answer = {"device": body["device"], "id": data["id"],
                      "data": {"ok": True, "method": data["method"], "params": data["params"]}}
            # Answered from the network thread: no waiting here (that would block the PUBACK).
            client.publish("v1/gateway/rpc", json.dumps(answer), qos=1)
        else:
            out({"topic": msg.topic, "body": body})

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not ready.wait(30):
        raise SystemExit("no successful SUBACK")
    out("ready")
    for line in sys.stdin:
        topic, body = line.strip().split(" ", 1)
        out(acks.publish(c, topic, body))
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    host, port, token, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    {"pubacks": pubacks, "serve": serve, "publish": publish, "gateway": gateway}[scenario](
        host, port, token, *sys.argv[5:])
