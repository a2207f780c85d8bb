//! SimServer + Client over loopback. Waits are bounded, never timed assertions.

use std::{net::SocketAddr, path::Path, time::Duration};

use kaiwu_opcua::{
    Client, ClientOptions, DataType, Error, Identity, MethodSpec, Monitored, Sample, Security,
    ServerOptions, SimServer, Status, Val, VarSpec,
};
use tokio::sync::mpsc;

const NS_URI: &str = "urn:kaiwu:test:plant";
const WAIT: Duration = Duration::from_secs(30);
const SPEED: &str = "ns=2;s=Mill1.Speed";
const SETPOINT: &str = "ns=2;s=Mill1.Setpoint";
const COUNT: &str = "ns=2;s=Mill1.Count";
const RUNNING: &str = "ns=2;s=Mill1.Running";

fn var(node: &str, name: &str, initial: Val, writable: bool) -> VarSpec {
    VarSpec {
        node: node.into(),
        browse_name: name.into(),
        parent_folder: "Mill1".into(),
        initial,
        writable,
    }
}

async fn start(dir: &Path, addr: SocketAddr, secure_only: bool) -> SimServer {
    let opts = ServerOptions {
        addr,
        pki_dir: dir.join("server-pki"),
        namespace_uri: NS_URI.into(),
        allow_anonymous: !secure_only,
        users: vec![("operator".into(), "s3cret".into())],
        security_none: !secure_only,
    };
    let vars = vec![
        var(SPEED, "Speed", Val::Float(1.5), false),
        var(SETPOINT, "Setpoint", Val::Float(0.0), true),
        var(RUNNING, "Running", Val::Bool(true), false),
    ];
    let server = SimServer::start(opts, vars).await.expect("server starts");
    assert_eq!(
        server.namespace_index(),
        2,
        "tests assume our namespace is ns=2"
    );
    server
        .add_variable(var(COUNT, "Count", Val::Int(0), true), DataType::Int32)
        .expect("add Int32 var");
    server
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

fn opts(dir: &Path, server: &SimServer, security: Security, identity: Identity) -> ClientOptions {
    ClientOptions {
        endpoint: server.endpoint_url(),
        security,
        identity,
        pki_dir: dir.join("client-pki"),
        trust_server_certs: true,
        timeout: Duration::from_secs(10),
        application_name: "kaiwu-test".into(),
    }
}

fn operator(password: &str) -> Identity {
    Identity::UserPassword {
        user: "operator".into(),
        password: password.into(),
    }
}

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("fits")
}

async fn next_sample(rx: &mut mpsc::Receiver<Sample>) -> Sample {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("sample within bound")
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_anonymous_browse_read_write_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), false).await;
    server
        .add_method(
            MethodSpec {
                object: "ns=2;s=Mill1".into(),
                node: "ns=2;s=Mill1.Add".into(),
                browse_name: "Add".into(),
                inputs: vec![("a".into(), DataType::Int32), ("b".into(), DataType::Int32)],
                outputs: vec![("sum".into(), DataType::Int32)],
            },
            |args| match args {
                [Val::Int(a), Val::Int(b)] => Ok(vec![Val::Int(a + b)]),
                _ => Err(format!("expected two ints, got {args:?}")),
            },
        )
        .expect("add method");
    let o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    let client = Client::connect(o).await.expect("connect");
    assert!(client.is_connected());

    let top = client.browse(None).await.expect("browse objects");
    let mill = top
        .iter()
        .find(|e| e.browse_name == "Mill1")
        .expect("folder Mill1 under Objects");
    assert_eq!(mill.node_class, "Object");
    let vars = client
        .browse(Some(&mill.node_id))
        .await
        .expect("browse mill");
    let speed = vars.iter().find(|e| e.node_id == SPEED).expect("Speed");
    assert_eq!(speed.node_class, "Variable");
    assert_eq!(speed.data_type.as_deref(), Some("Double"));
    let count = vars.iter().find(|e| e.node_id == COUNT).expect("Count");
    assert_eq!(count.data_type.as_deref(), Some("Int32"));

    server
        .set(SPEED, Val::Float(42.5), 1_700_000_000_123)
        .expect("set");
    let read = client
        .read(&[
            SPEED.to_string(),
            RUNNING.to_string(),
            "ns=2;s=Nope".to_string(),
        ])
        .await
        .expect("read");
    assert_eq!(read[0].value, Val::Float(42.5));
    assert_eq!(read[0].status, Status::Good);
    assert_eq!(read[0].source_ts_ms, Some(1_700_000_000_123));
    assert!(read[0].server_ts_ms.is_some());
    assert_eq!(read[1].value, Val::Bool(true));
    assert_eq!(read[2].status, Status::Bad, "unknown node reads Bad");

    client
        .write(SETPOINT, Val::Float(12.25))
        .await
        .expect("write double");
    assert_eq!(server.get(SETPOINT), Some(Val::Float(12.25)));
    client
        .write(SETPOINT, Val::Int(3))
        .await
        .expect("int to double");
    assert_eq!(server.get(SETPOINT), Some(Val::Float(3.0)));
    client.write(COUNT, Val::Int(7)).await.expect("write int32");
    assert_eq!(server.get(COUNT), Some(Val::Int(7)));
    let err = client
        .write(COUNT, Val::Float(2.5))
        .await
        .expect_err("fraction");
    assert!(matches!(err, Error::Conversion { .. }), "{err}");
    let err = client
        .write(RUNNING, Val::Bool(false))
        .await
        .expect_err("read-only");
    assert!(matches!(err, Error::BadStatus { .. }), "{err}");
    assert!(err.to_string().contains("Bad"), "{err}");
    assert_eq!(server.get(RUNNING), Some(Val::Bool(true)));

    let out = client
        .call(
            "ns=2;s=Mill1",
            "ns=2;s=Mill1.Add",
            vec![Val::Int(2), Val::Int(40)],
        )
        .await
        .expect("call");
    assert_eq!(out, vec![Val::Int(42)]);
    let err = client
        .call("ns=2;s=Mill1", "ns=2;s=Mill1.Add", vec![Val::Int(2)])
        .await
        .expect_err("missing argument");
    assert!(err.to_string().contains("BadArgumentsMissing"), "{err}");
    let err = client
        .call(
            "ns=2;s=Mill1",
            "ns=2;s=Mill1.Add",
            vec![Val::Int(2), "x".into()],
        )
        .await
        .expect_err("not a number");
    assert!(matches!(err, Error::Conversion { .. }), "{err}");

    client.disconnect().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_delivers_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), false).await;
    let o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    let client = Client::connect(o).await.expect("connect");
    let (tx, mut rx) = mpsc::channel(64);
    let items = [
        Monitored {
            node: SPEED.into(),
            sampling_ms: 100.0,
            deadband_abs: None,
        },
        Monitored {
            node: "ns=2;s=Missing".into(),
            sampling_ms: 100.0,
            deadband_abs: Some(0.5),
        },
    ];
    client
        .subscribe(100.0, &items, tx)
        .await
        .expect("subscribe");
    let mut seen_missing = false;
    let mut seen_initial = false;
    while !(seen_missing && seen_initial) {
        let s = next_sample(&mut rx).await;
        match s.node.as_str() {
            SPEED => seen_initial = true,
            _ => {
                assert_eq!(s.status, Status::Bad);
                seen_missing = true;
            }
        }
    }
    // async-opcua's server re-times changes closer than the sampling interval
    // to the previous source timestamp, so use one clearly after the initial value.
    let ts = now_ms() + 1_000;
    server.set(SPEED, Val::Float(99.0), ts).expect("set");
    loop {
        let s = next_sample(&mut rx).await;
        if s.node == SPEED && s.value == Val::Float(99.0) {
            assert_eq!(s.source_ts_ms, Some(ts));
            break;
        }
    }
    client.disconnect().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_user_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), true).await;

    let o = opts(
        dir.path(),
        &server,
        Security::SignAndEncrypt,
        operator("s3cret"),
    );
    let client = Client::connect(o).await.expect("SignAndEncrypt connect");
    let read = client.read(&[SPEED.to_string()]).await.expect("read");
    assert_eq!(read[0].value, Val::Float(1.5));
    client.disconnect().await;

    let o = opts(dir.path(), &server, Security::Sign, operator("s3cret"));
    let client = Client::connect(o).await.expect("Sign connect");
    client.disconnect().await;

    let o = opts(
        dir.path(),
        &server,
        Security::SignAndEncrypt,
        operator("wrong"),
    );
    let err = Client::connect(o).await.expect_err("wrong password");
    assert!(matches!(err, Error::AuthRejected { .. }), "{err}");

    let o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    let err = Client::connect(o).await.expect_err("None not offered");
    assert!(matches!(err, Error::NoMatchingEndpoint { .. }), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_server_cert_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), true).await;
    let mut o = opts(
        dir.path(),
        &server,
        Security::SignAndEncrypt,
        operator("s3cret"),
    );
    o.trust_server_certs = false;
    let err = Client::connect(o.clone()).await.expect_err("untrusted");
    assert!(matches!(err, Error::ServerCertRejected { .. }), "{err}");
    assert!(err.to_string().contains("rejected"), "{err}");
    let rejected = o.pki_dir.join("rejected");
    let n = std::fs::read_dir(&rejected).expect("rejected dir").count();
    assert_eq!(n, 1, "server cert stored in {}", rejected.display());
    let err = Client::connect(o.clone())
        .await
        .expect_err("still untrusted");
    assert!(matches!(err, Error::ServerCertRejected { .. }), "{err}");

    // An operator moves it to trusted/: now it connects without auto-trust.
    for entry in std::fs::read_dir(&rejected).expect("rejected dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        std::fs::rename(&path, o.pki_dir.join("trusted").join(name)).expect("move");
    }
    let client = Client::connect(o).await.expect("trusted now");
    client.disconnect().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_dead_server_and_reconnects_on_same_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), false).await;
    let addr = server.local_addr();
    let o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    let client = Client::connect(o.clone()).await.expect("connect");
    let (tx, mut rx) = mpsc::channel(64);
    let item = Monitored {
        node: SPEED.into(),
        sampling_ms: 100.0,
        deadband_abs: None,
    };
    client
        .subscribe(100.0, std::slice::from_ref(&item), tx)
        .await
        .expect("subscribe");
    next_sample(&mut rx).await;

    server.stop().await;
    // The channel closes once the session is seen dead; drain until then.
    tokio::time::timeout(WAIT, async { while rx.recv().await.is_some() {} })
        .await
        .expect("subscription channel closes");
    assert!(!client.is_connected());
    let err = client.read(&[SPEED.to_string()]).await.expect_err("dead");
    assert!(matches!(err, Error::NotConnected(_)), "{err}");
    drop(client);

    let err = Client::connect(o.clone()).await.expect_err("port closed");
    assert!(
        matches!(err, Error::Connect { .. } | Error::Timeout { .. }),
        "{err}"
    );

    let server = start(dir.path(), addr, false).await;
    let client = Client::connect(o).await.expect("reconnect");
    let (tx, mut rx) = mpsc::channel(64);
    client
        .subscribe(100.0, &[item], tx)
        .await
        .expect("subscribe again");
    assert_eq!(next_sample(&mut rx).await.value, Val::Float(1.5));
    client.disconnect().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_endpoint_and_node_ids_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), false).await;
    let mut o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    o.endpoint = "http://127.0.0.1:1/".into();
    let err = Client::connect(o.clone()).await.expect_err("scheme");
    assert!(matches!(err, Error::Config(_)), "{err}");
    o.endpoint = server.endpoint_url();
    let client = Client::connect(o).await.expect("connect");
    let err = client
        .read(&["ns=x;i=".to_string()])
        .await
        .expect_err("bad id");
    assert!(matches!(err, Error::InvalidNodeId { .. }), "{err}");
    assert!(server.set("ns=2;s=Nope", Val::Int(1), 0).is_err());
    assert_eq!(server.get("ns=2;s=Nope"), None);
    client.disconnect().await;
    server.stop().await;
}

/// Forwards TCP to `target` until `frozen` flips, then goes silent without
/// closing: a server that hangs or a cable that was pulled.
async fn freezable_proxy(target: SocketAddr) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let (frozen_tx, frozen) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pipe(ri, wo, frozen.clone()));
            tokio::spawn(pipe(ro, wi, frozen.clone()));
        }
    });
    (addr, frozen_tx)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = frozen.wait_for(|f| *f) => break,
        };
        if *frozen.borrow() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Hold both halves open and silent until the test ends.
    std::future::pending::<()>().await;
    drop((from, to));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_silent_server_through_keep_alives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), loopback(), false).await;
    let (proxy, freeze) = freezable_proxy(server.local_addr()).await;
    let mut o = opts(dir.path(), &server, Security::None, Identity::Anonymous);
    o.endpoint = format!("opc.tcp://{proxy}/");
    o.timeout = Duration::from_secs(2);
    let client = Client::connect(o).await.expect("connect through proxy");
    let (tx, mut rx) = mpsc::channel(64);
    let item = Monitored {
        node: SPEED.into(),
        sampling_ms: 100.0,
        deadband_abs: None,
    };
    client
        .subscribe(100.0, std::slice::from_ref(&item), tx)
        .await
        .expect("subscribe");
    next_sample(&mut rx).await;

    freeze.send_replace(true);
    tokio::time::timeout(Duration::from_secs(90), async {
        while rx.recv().await.is_some() {}
    })
    .await
    .expect("subscription channel closes although the socket stays open");
    assert!(!client.is_connected());
    server.stop().await;
}
