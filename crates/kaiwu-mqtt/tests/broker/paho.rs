//! Tests driven by Python paho-mqtt 2.1 (MQTT 3.1.1 and 5).

use std::time::Duration;

use kaiwu_mqtt::broker::BrokerConfig;

use crate::common::*;

/// Python helpers every script gets.
pub(crate) const PRELUDE: &str = r#"
import faulthandler, json, os, sys, time
import paho.mqtt.client as mqtt
# A hung script prints every thread's stack and exits before the test gives up on it.
faulthandler.dump_traceback_later(40, exit=True)
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
PORT = int(os.environ["PORT"])

def out(**kw):
    print(json.dumps(kw), flush=True)

def wait(cond, what, timeout=20):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise SystemExit("timeout waiting for " + what)
        time.sleep(0.01)

class C:
    """A paho client that records what happens to it."""
    def __init__(self, cid, v5=True, user="good", clean=True, keepalive=60, will=None,
                 props=None, inflight=20):
        self.v5 = v5
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             clean_session=None if v5 else clean)
        self.c.max_inflight_messages_set(inflight)
        if user is not None:
            self.c.username_pw_set(user, "pw")
        if will:
            self.c.will_set(*will[:4], properties=will[4] if len(will) > 4 else None)
        self.connack = None
        self.disconnect = None
        self.disconnects = []
        self.acks = []
        self.messages = []
        self.subacks = []
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_publish = self._on_publish
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        kw = {"clean_start": clean, "properties": props} if v5 else {}
        self.c.connect("127.0.0.1", PORT, keepalive, **kw)
        self.c.loop_start()
        wait(lambda: self.connack is not None or self.disconnect is not None, "CONNACK")

    def _on_connect(self, c, ud, flags, rc, props):
        self.connack = {"rc": rc.value, "present": flags.session_present,
                        "assigned": getattr(props, "AssignedClientIdentifier", None),
                        "receive_max": getattr(props, "ReceiveMaximum", None)}
        if rc.value != 0:
            c.disconnect()

    def _on_disconnect(self, c, ud, flags, rc, props):
        self.disconnects.append(rc.value)
        if self.disconnect is None:
            self.disconnect = rc.value

    def _on_publish(self, c, ud, mid, rc, props):
        self.acks.append({"mid": mid, "rc": rc.value,
                          "reason": getattr(props, "ReasonString", None) if props else None})

    def _on_message(self, c, ud, m):
        ids = getattr(m.properties, "SubscriptionIdentifier", None) if m.properties else None
        self.messages.append({"topic": m.topic, "payload": m.payload.decode(), "qos": m.qos,
                              "retain": bool(m.retain), "sub_ids": ids})

    def _on_subscribe(self, c, ud, mid, rcs, props):
        self.subacks.append([r.value for r in rcs])

    def subscribe(self, topic, qos=1, props=None, **opts):
        # Counted before sending: the SUBACK may arrive before the next line runs.
        n = len(self.subacks)
        if self.v5:
            o = mqtt.SubscribeOptions(qos=qos, **opts)
            self.c.subscribe(topic, options=o, properties=props)
        else:
            self.c.subscribe(topic, qos)
        wait(lambda: len(self.subacks) > n, "SUBACK")
        return self.subacks[-1]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()
"#;

#[test]
fn v5_connect_accepted_refused_and_assigned_id() {
    let b = TestBroker::start();
    let out = py_run(
        &b,
        r#"
ok = C("", v5=True)
bad = C("x1", v5=True, user="nope")
banned = C("x2", v5=True, user="banned")
out(ok=ok.connack, bad=bad.connack, banned=banned.connack)
ok.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"]["rc"], 0);
    assert!(
        v["ok"]["assigned"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert_eq!(v["ok"]["receive_max"], 64);
    assert_eq!(v["bad"]["rc"], 0x86);
    assert_eq!(v["banned"]["rc"], 0x8A);
}

#[test]
fn rejected_publish_gets_v5_reason_and_later_messages_flow() {
    let b = TestBroker::start();
    let out = py_run(
        &b,
        &format!(
            r#"
c = C("rej", v5=True)
c.c.publish("reject/x", b"junk", qos=1)
c.c.publish("forbidden/x", b"no", qos=1)
c.c.publish("$SYS/x", b"no", qos=1)
c.c.publish("{TELEMETRY}", b"after", qos=1)
wait(lambda: len(c.acks) == 4, "4 PUBACKs")
out(acks=c.acks, disconnect=c.disconnect)
c.close()
"#
        ),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let acks = v["acks"].as_array().unwrap();
    assert_eq!(acks[0]["rc"], 0x99, "{v}");
    assert_eq!(acks[0]["reason"], "bad payload");
    assert_eq!(acks[1]["rc"], 0x87);
    assert_eq!(acks[2]["rc"], 0x87);
    assert_eq!(acks[3]["rc"], 0);
    assert!(v["disconnect"].is_null());
    assert_eq!(b.hooks.telemetry_payloads(), vec!["after"]);
}

/// Later publishes finish in the hooks first; PUBACKs must still follow arrival order.
#[test]
fn puback_order_under_pipelining() {
    let b = TestBroker::start();
    for v5 in ["True", "False"] {
        let out = py_run(
            &b,
            &format!(
                r#"
c = C("pipe", v5={v5})
mids = [c.c.publish("{TELEMETRY}", ("sleep:%d,%d" % ((20 - i) * 20, i)).encode(), qos=1).mid
        for i in range(20)]
wait(lambda: len(c.acks) == 20, "20 PUBACKs")
out(sent=mids, acked=[a["mid"] for a in c.acks])
c.close()
"#
            ),
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["sent"], v["acked"], "v5={v5}");
    }
    // The hooks did run them concurrently: the shorter, later sleeps finished first.
    let payloads = b.hooks.telemetry_payloads();
    assert_eq!(payloads.len(), 40);
    assert_ne!(payloads[0], "sleep:400,0");
}

#[test]
fn will_on_abrupt_close() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "wsub", "-t", "will/#", "-v", "-C", "1"],
    ));
    b.wait_subscribed("wsub", "will/#");
    let mut victim = spawn(py(
        &b,
        r#"
c = C("victim", v5=False, will=("will/victim", b"gone", 1, False))
out(ready=True)
time.sleep(120)
"#,
    ));
    b.wait_event("connected victim");
    // SIGKILL: the socket is closed by the OS without DISCONNECT.
    victim.kill().unwrap();
    let _ = victim.wait();
    let out = finish(sub);
    assert_eq!(stdout(&out).trim(), "will/victim gone");
    b.wait_event("disconnected victim Io");
}

#[test]
fn will_on_keep_alive_timeout() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "ksub", "-t", "will/#", "-v", "-C", "1"],
    ));
    b.wait_subscribed("ksub", "will/#");
    // The network loop stops after CONNACK, so no PINGREQ is ever sent.
    let mut quiet = spawn(py(
        &b,
        r#"
c = C("quiet", v5=True, keepalive=1, will=("will/quiet", b"silent", 0, False))
c.c.loop_stop()
out(ready=True)
time.sleep(120)
"#,
    ));
    let out = finish(sub);
    let _ = quiet.kill();
    let _ = quiet.wait();
    assert_eq!(stdout(&out).trim(), "will/quiet silent");
    b.wait_event("disconnected quiet KeepAliveTimeout");
}

/// A normal DISCONNECT discards the will; MQTT 5 reason 0x04 publishes it.
#[test]
fn will_on_disconnect_only_with_reason_0x04() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "dsub", "-t", "will/#", "-v", "-C", "2"],
    ));
    b.wait_subscribed("dsub", "will/#");
    py_run(
        &b,
        r#"
c = C("polite", v5=True, will=("will/polite", b"should-not-appear", 0, False))
c.close()
d = C("marker", v5=True)
d.c.publish("will/marker", b"first", qos=1)
wait(lambda: len(d.acks) == 1, "PUBACK")
e = C("withwill", v5=True, will=("will/withwill", b"second", 0, False))
e.c.disconnect(reasoncode=mqtt.ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
e.c.loop_stop()
d.close()
"#,
    );
    let out = finish(sub);
    assert_eq!(stdout(&out), "will/marker first\nwill/withwill second\n");
}

/// MQTT 5 will delay: cancelled by a reconnect in time, published after it otherwise.
#[test]
fn will_delay_interval() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "dlsub", "-t", "will/#", "-v", "-C", "2"],
    ));
    b.wait_subscribed("dlsub", "will/#");
    let script = |cid: &str, delay: u32| {
        format!(
            r#"
wp = Properties(PacketTypes.WILLMESSAGE); wp.WillDelayInterval = {delay}
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 600
c = C("{cid}", v5=True, clean=False, props=cp, will=("will/{cid}", b"late", 0, False, wp))
out(ready=True)
time.sleep(120)
"#
        )
    };
    // Long delay, killed, then the client comes back: the will is cancelled.
    let mut first = spawn(py(&b, &script("dl1", 600)));
    b.wait_event("connected dl1");
    first.kill().unwrap();
    let _ = first.wait();
    b.wait_event("disconnected dl1 Io");
    py_run(
        &b,
        r#"
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 0
c = C("dl1", v5=True, clean=False, props=cp)
c.c.publish("will/marker", b"back", qos=1)
wait(lambda: len(c.acks) == 1, "PUBACK")
c.close()
"#,
    );
    // Short delay, nobody comes back: published once it passed.
    let mut second = spawn(py(&b, &script("dl2", 1)));
    b.wait_event("connected dl2");
    second.kill().unwrap();
    let _ = second.wait();
    let out = finish(sub);
    assert_eq!(stdout(&out), "will/marker back\nwill/dl2 late\n");
}

#[test]
fn session_takeover() {
    let b = TestBroker::start();
    let out = py_run(
        &b,
        r#"
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 600
a = C("same", v5=True, clean=True, props=cp)
a.subscribe("take/#", qos=1)
b = C("same", v5=True, clean=False, props=cp)
wait(lambda: a.disconnect is not None, "first connection dropped")
out(first=a.disconnect, all=a.disconnects, second=b.connack)
a.c.loop_stop()
b.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["first"], 0x8E, "{v}");
    assert_eq!(v["second"]["rc"], 0);
    assert_eq!(v["second"]["present"], true);
    b.wait_event("disconnected same SessionTakenOver");
    let events = b.hooks.events.lock().unwrap().clone();
    let taken = events
        .iter()
        .position(|e| e == "disconnected same SessionTakenOver")
        .unwrap();
    // The old session's hook ran before the new one was announced.
    assert_eq!(events[taken + 1], "connected same");
}

#[test]
fn rate_limit_after_bad_logins() {
    let b = TestBroker::with(BrokerConfig {
        auth_failures: (3, Duration::from_secs(600)),
        ..BrokerConfig::default()
    });
    let out = py_run(
        &b,
        r#"
codes = [C("rl%d" % i, v5=True, user="wrong").connack["rc"] for i in range(3)]
late = C("rl-good", v5=True)
out(codes=codes, late=late.connack["rc"])
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["codes"], serde_json::json!([0x86, 0x86, 0x86]));
    assert_eq!(v["late"], 0x9F);
}

#[test]
fn oversize_packet_is_refused_with_0x95() {
    let b = TestBroker::with(BrokerConfig {
        max_packet_size: 1024,
        ..BrokerConfig::default()
    });
    let out = py_run(
        &b,
        r#"
c = C("big", v5=True)
c.c.publish("big/x", b"x" * 4000, qos=1)
wait(lambda: c.disconnect is not None, "DISCONNECT")
out(disconnect=c.disconnect)
c.c.loop_stop()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["disconnect"], 0x95);
    b.wait_event("disconnected big ProtocolError");
}

/// MQTT 5 subscription options and properties: no-local, retain-as-published, retain
/// handling, subscription identifiers, inbound topic aliases.
#[test]
fn v5_subscription_options_and_topic_alias() {
    let b = TestBroker::start();
    b.publish("opt/kept", "r", kaiwu_mqtt::codec::QoS::AtLeastOnce, true);
    let out = py_run(
        &b,
        r#"
c = C("opts", v5=True)
sp = Properties(PacketTypes.SUBSCRIBE); sp.SubscriptionIdentifier = 7
c.subscribe("opt/#", qos=1, props=sp, noLocal=True, retainAsPublished=True)
wait(lambda: len(c.messages) == 1, "retained on subscribe")
# Retain handling 2: no retained messages for this one.
c.subscribe("opt/kept", qos=1, retainHandling=2)
other = C("other", v5=True)
pp = Properties(PacketTypes.PUBLISH); pp.TopicAlias = 3
other.c.publish("opt/alias", b"one", qos=1, retain=True, properties=pp)
pp2 = Properties(PacketTypes.PUBLISH); pp2.TopicAlias = 3
other.c.publish("", b"two", qos=1, properties=pp2)
c.c.publish("opt/self", b"mine", qos=1)
other.c.publish("opt/end", b"end", qos=1)
wait(lambda: any(m["topic"] == "opt/end" for m in c.messages), "end marker")
out(messages=c.messages)
c.close(); other.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let msgs = v["messages"].as_array().unwrap();
    let topics: Vec<&str> = msgs.iter().map(|m| m["topic"].as_str().unwrap()).collect();
    // opt/self is not echoed (no-local); the alias resolved to opt/alias twice.
    assert_eq!(
        topics,
        ["opt/kept", "opt/alias", "opt/alias", "opt/end"],
        "{v}"
    );
    assert_eq!(msgs[0]["retain"], true);
    assert_eq!(msgs[0]["sub_ids"], serde_json::json!([7]));
    // Retain-as-published keeps the flag on live forwarding.
    assert_eq!(msgs[1]["retain"], true);
    assert_eq!(msgs[2]["payload"], "two");
    assert_eq!(msgs[2]["retain"], false);
}

#[test]
fn qos2_both_directions_with_paho() {
    let b = TestBroker::start();
    let out = py_run(
        &b,
        r#"
s = C("q2sub", v5=False, clean=True)
s.subscribe("q2/#", qos=2)
p = C("q2pub", v5=False)
for i in range(5):
    p.c.publish("q2/x", ("m%d" % i).encode(), qos=2)
wait(lambda: len(s.messages) == 5, "5 messages")
wait(lambda: len(p.acks) == 5, "5 PUBCOMPs")
out(messages=[(m["payload"], m["qos"]) for m in s.messages])
s.close(); p.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["messages"],
        serde_json::json!([["m0", 2], ["m1", 2], ["m2", 2], ["m3", 2], ["m4", 2]])
    );
}

/// MQTT 5 Message Expiry Interval is honoured for messages waiting in an offline session.
#[test]
fn expired_messages_are_not_delivered_from_the_queue() {
    let b = TestBroker::start();
    let out = py_run(
        &b,
        r#"
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 600
s = C("mexp", v5=True, clean=True, props=cp)
s.subscribe("mexp/#", qos=1)
s.close()
p = C("mexp-pub", v5=True)
pp = Properties(PacketTypes.PUBLISH); pp.MessageExpiryInterval = 1
p.c.publish("mexp/a", b"short-lived", qos=1, properties=pp)
p.c.publish("mexp/b", b"lasting", qos=1)
wait(lambda: len(p.acks) == 2, "PUBACKs")
time.sleep(2.5)
s = C("mexp", v5=True, clean=False, props=cp)
wait(lambda: len(s.messages) >= 1, "queued message")
out(present=s.connack["present"], first=s.messages[0]["payload"])
s.close(); p.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["present"], true);
    assert_eq!(v["first"], "lasting");
}

/// An offline MQTT 5 session ends after its Session Expiry Interval.
#[test]
fn session_expires_after_its_interval() {
    let b = TestBroker::start();
    py_run(
        &b,
        r#"
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 1
s = C("sexp", v5=True, clean=True, props=cp)
s.subscribe("sexp/#", qos=1)
s.close()
"#,
    );
    b.wait_event("disconnected sexp Normal");
    wait_until("session expired", || {
        b.broker.subscriptions("sexp").is_none()
    });
    let out = py_run(
        &b,
        r#"
cp = Properties(PacketTypes.CONNECT); cp.SessionExpiryInterval = 1
s = C("sexp", v5=True, clean=False, props=cp)
out(present=s.connack["present"])
s.close()
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["present"], false);
}
