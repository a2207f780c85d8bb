"""Many ThingsBoard-style devices publishing QoS 1 telemetry as fast as PUBACKs allow, on
Eclipse paho-mqtt (MQTT 3.1.1). Prints one line "ack <id>" per PUBACK received, so a test can
tell exactly which points the platform acknowledged before it was killed.

Usage: mqtt_publishers.py <host> <port> <first id> <token>...
Each token is one device/connection; ids are first, first+1, ... spread over the devices. Runs
until the connection drops or stdin closes.
"""
import sys
import threading

import paho.mqtt.client as mqtt

BASE_TS = 1_700_000_000_000
WINDOW = 8


def main():
    host, port, first, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    lock = threading.Lock()
    next_id = [first]
    stop = threading.Event()
    out_lock = threading.Lock()

    def run(i, token):
        inflight = threading.Semaphore(WINDOW)
        ids = {}
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"crash-{i}",
                        protocol=mqtt.MQTTv311)
        c.username_pw_set(token)
        connected = threading.Event()

        def on_connect(client, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                connected.set()

        def on_publish(client, userdata, mid, reason_code, properties):
            # The publisher records mid -> id under out_lock; wait for it.
            with out_lock:
                pid = ids.pop(mid, None)
                if pid is not None:
                    sys.stdout.write(f"ack {pid}\n")
                    sys.stdout.flush()
            inflight.release()

        def on_disconnect(client, userdata, flags, reason_code, properties):
            stop.set()

        c.on_connect = on_connect
        c.on_publish = on_publish
        c.on_disconnect = on_disconnect
        c.connect(host, port, keepalive=30)
        c.loop_start()
        if not connected.wait(30):
            stop.set()
            return
        while not stop.is_set():
            if not inflight.acquire(timeout=0.5):
                continue
            with lock:
                pid = next_id[0]
                next_id[0] += 1
            body = '{"ts": %d, "values": {"v": %d}}' % (BASE_TS + pid, pid)
            with out_lock:
                info = c.publish("v1/devices/me/telemetry", body, qos=1)
                ids[info.mid] = pid
        c.loop_stop()

    threads = [threading.Thread(target=run, args=(i, t), daemon=True) for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    watcher = threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True)
    watcher.start()
    stop.wait()
    for t in threads:
        t.join(5)


if __name__ == "__main__":
    main()
