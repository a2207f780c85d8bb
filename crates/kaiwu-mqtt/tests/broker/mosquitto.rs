//! Tests driven by the mosquitto command-line clients (MQTT 3.1.1 and, with `-V 5`, 5).

use bytes::Bytes;
use kaiwu_mqtt::broker::{BrokerConfig, DeliverError, Delivered};
use kaiwu_mqtt::codec::QoS;

use crate::common::*;

const VERSIONS: [&str; 2] = ["mqttv311", "mqttv5"];

#[test]
fn qos_0_1_2_round_trip() {
    let b = TestBroker::start();
    for v in VERSIONS {
        let id = format!("rt-sub-{v}");
        let sub = spawn(mosquitto(
            "mosquitto_sub",
            &b,
            &[
                "-V", v, "-i", &id, "-q", "2", "-t", "rt/#", "-v", "-C", "3", "-F", "%t %q %p",
            ],
        ));
        b.wait_subscribed(&id, "rt/#");
        for qos in ["0", "1", "2"] {
            let out = finish(spawn(mosquitto(
                "mosquitto_pub",
                &b,
                &[
                    "-V",
                    v,
                    "-q",
                    qos,
                    "-t",
                    &format!("rt/{qos}"),
                    "-m",
                    &format!("m{qos}"),
                ],
            )));
            assert!(out.status.success(), "{out:?}");
        }
        let out = finish(sub);
        assert_eq!(stdout(&out), "rt/0 0 m0\nrt/1 1 m1\nrt/2 2 m2\n", "{v}");
    }
}

#[test]
fn granted_qos_caps_delivery() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &[
            "-i", "cap", "-q", "1", "-t", "cap/#", "-C", "1", "-F", "%q %p",
        ],
    ));
    b.wait_subscribed("cap", "cap/#");
    finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-q", "2", "-t", "cap/x", "-m", "hi"],
    )));
    assert_eq!(stdout(&finish(sub)), "1 hi\n");
}

#[test]
fn telemetry_is_consumed_not_routed() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "spy", "-t", "#", "-v", "-C", "1"],
    ));
    b.wait_subscribed("spy", "#");
    for v in VERSIONS {
        let out = finish(spawn(mosquitto(
            "mosquitto_pub",
            &b,
            &[
                "-V",
                v,
                "-i",
                "dev1",
                "-q",
                "1",
                "-t",
                TELEMETRY,
                "-m",
                "{\"t\":1}",
            ],
        )));
        assert!(out.status.success(), "{out:?}");
    }
    // QoS 0 followed at once by DISCONNECT is still processed.
    finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-i", "dev1", "-q", "0", "-t", TELEMETRY, "-m", "q0"],
    )));
    finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-t", "other/x", "-m", "routed"],
    )));
    assert_eq!(stdout(&finish(sub)), "other/x routed\n");
    assert_eq!(
        b.hooks.telemetry_payloads(),
        vec!["{\"t\":1}", "{\"t\":1}", "q0"]
    );
}

#[test]
fn retained_delivered_on_subscribe_and_deleted_by_empty_payload() {
    let b = TestBroker::start();
    for v in VERSIONS {
        let topic = format!("ret/{v}");
        finish(spawn(mosquitto(
            "mosquitto_pub",
            &b,
            &["-V", v, "-r", "-q", "1", "-t", &topic, "-m", "kept"],
        )));
        let out = finish(spawn(mosquitto(
            "mosquitto_sub",
            &b,
            &["-V", v, "-t", &topic, "-C", "1", "-F", "%r %t %p"],
        )));
        assert_eq!(stdout(&out), format!("1 {topic} kept\n"));
    }
    // Delete one; a later subscriber's first message is then a live one.
    finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-r", "-t", "ret/mqttv311", "-n"],
    )));
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &["-i", "late", "-t", "ret/mqttv311", "-C", "1", "-F", "%r %p"],
    ));
    b.wait_subscribed("late", "ret/mqttv311");
    finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-t", "ret/mqttv311", "-m", "live"],
    )));
    assert_eq!(stdout(&finish(sub)), "0 live\n");
}

#[test]
fn connect_refused_for_bad_credentials() {
    let b = TestBroker::start();
    let out = finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-u", "nobody", "-P", "x", "-t", "a", "-m", "x"],
    )));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("bad user name or password"), "{err}");
    let out = finish(spawn(mosquitto(
        "mosquitto_pub",
        &b,
        &["-V", "mqttv5", "-u", "banned", "-t", "a", "-m", "x"],
    )));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("banned"), "{err}");
}

/// Messages published while a persistent session is offline are delivered when it comes
/// back, also after a broker restart on the same state dir.
#[test]
fn persistent_session_queue_survives_disconnect_and_restart() {
    let b = TestBroker::persistent(BrokerConfig::default());
    for v in VERSIONS {
        let id = format!("durable-{v}");
        let mut args = vec!["-V", v, "-i", &id, "-c", "-q", "1", "-t", "dur/#", "-E"];
        if v == "mqttv5" {
            args.extend(["-x", "3600"]);
        }
        let out = finish(spawn(mosquitto("mosquitto_sub", &b, &args)));
        assert!(out.status.success(), "{out:?}");
        wait_until("offline", || !b.broker.is_connected(&id));
    }
    for i in 0..3 {
        finish(spawn(mosquitto(
            "mosquitto_pub",
            &b,
            &["-q", "1", "-t", "dur/a", "-m", &format!("before-{i}")],
        )));
    }
    let b = b.restart();
    b.publish("dur/b", "after-restart", QoS::AtLeastOnce, false);
    for v in VERSIONS {
        let id = format!("durable-{v}");
        let mut args = vec![
            "-V", v, "-i", &id, "-c", "-q", "1", "-t", "dur/#", "-C", "4",
        ];
        args.extend(["-F", "%t %p"]);
        if v == "mqttv5" {
            args.extend(["-x", "3600"]);
        }
        let out = finish(spawn(mosquitto("mosquitto_sub", &b, &args)));
        assert_eq!(
            stdout(&out),
            "dur/a before-0\ndur/a before-1\ndur/a before-2\ndur/b after-restart\n",
            "{v}"
        );
    }
}

#[test]
fn platform_publish_and_targeted_deliver() {
    let b = TestBroker::start();
    let sub = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &[
            "-V",
            "mqttv5",
            "-i",
            "devA",
            "-q",
            "1",
            "-t",
            "v1/devices/me/rpc/request/+",
            "-C",
            "1",
            "-v",
        ],
    ));
    let other = spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &[
            "-i",
            "devB",
            "-q",
            "1",
            "-t",
            "v1/devices/me/rpc/request/+",
            "-t",
            "cmd/#",
            "-C",
            "1",
            "-v",
        ],
    ));
    b.wait_subscribed("devA", "v1/devices/me/rpc/request/+");
    b.wait_subscribed("devB", "cmd/#");
    let deliver = |id: &str, topic: &str| {
        b.rt.block_on(b.broker.deliver(
            id,
            topic,
            Bytes::from_static(b"{\"method\":\"reboot\"}"),
            QoS::AtLeastOnce,
            false,
        ))
    };
    // Only devA gets the RPC although devB has the same subscription.
    assert!(matches!(
        deliver("devA", "v1/devices/me/rpc/request/1"),
        Ok(Delivered::Sent)
    ));
    assert_eq!(
        stdout(&finish(sub)),
        "v1/devices/me/rpc/request/1 {\"method\":\"reboot\"}\n"
    );
    assert!(matches!(
        deliver("devB", "not/subscribed"),
        Err(DeliverError::NotSubscribed { .. })
    ));
    assert!(matches!(
        deliver("ghost", "v1/devices/me/rpc/request/1"),
        Err(DeliverError::Offline(_))
    ));
    b.publish("cmd/x", "through-tree", QoS::AtMostOnce, false);
    assert_eq!(stdout(&finish(other)), "cmd/x through-tree\n");
}

#[test]
fn deliver_queues_for_offline_persistent_session() {
    let b = TestBroker::persistent(BrokerConfig::default());
    let out = finish(spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &[
            "-i",
            "sleepy",
            "-c",
            "-q",
            "1",
            "-t",
            "v1/devices/me/attributes",
            "-E",
        ],
    )));
    assert!(out.status.success());
    wait_until("offline", || !b.broker.is_connected("sleepy"));
    let r = b.rt.block_on(b.broker.deliver(
        "sleepy",
        "v1/devices/me/attributes",
        Bytes::from_static(b"{\"a\":1}"),
        QoS::AtLeastOnce,
        false,
    ));
    assert!(matches!(r, Ok(Delivered::Queued)), "{r:?}");
    let r = b.rt.block_on(b.broker.deliver(
        "sleepy",
        "v1/devices/me/attributes",
        Bytes::from_static(b"qos0"),
        QoS::AtMostOnce,
        false,
    ));
    assert!(matches!(r, Err(DeliverError::Offline(_))), "{r:?}");
    let out = finish(spawn(mosquitto(
        "mosquitto_sub",
        &b,
        &[
            "-i",
            "sleepy",
            "-c",
            "-q",
            "1",
            "-t",
            "v1/devices/me/attributes",
            "-C",
            "1",
        ],
    )));
    assert_eq!(stdout(&out), "{\"a\":1}\n");
}

#[test]
fn subscription_to_forbidden_filter_fails_in_suback() {
    let b = TestBroker::start();
    for v in VERSIONS {
        let out = finish(spawn(mosquitto(
            "mosquitto_sub",
            &b,
            &["-V", v, "-t", "forbidden/#", "-E"],
        )));
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            err.contains("denied") || err.contains("not authori"),
            "{v}: {err}"
        );
    }
}
