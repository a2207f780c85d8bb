//! Test broker, test hooks and helpers to run the third-party clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaiwu_mqtt::broker::{
    Broker, BrokerConfig, ConnectInfo, DisconnectCause, Hooks, PublishOutcome,
};
use kaiwu_mqtt::codec::{Publish, QoS, ReasonCode};

/// Generous bound for anything the tests wait for; never an expectation of speed.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) const TELEMETRY: &str = "v1/devices/me/telemetry";

/// Hooks: user "good" (any password) is accepted, everyone else refused. Publishes to the
/// telemetry topic are recorded and consumed (a payload `sleep:<ms>` makes the hook take
/// that long first); `reject/...` is rejected with 0x99; `forbidden/...` may not be used;
/// everything else is routed.
#[derive(Default)]
pub(crate) struct TestHooks {
    pub(crate) telemetry: Mutex<Vec<(String, Bytes)>>,
    pub(crate) events: Mutex<Vec<String>>,
    pub(crate) publish_calls: AtomicUsize,
}

pub(crate) struct TestClient {
    pub(crate) client_id: String,
}

#[async_trait::async_trait]
impl Hooks for TestHooks {
    type Client = TestClient;

    async fn authenticate(&self, info: &ConnectInfo) -> Result<TestClient, ReasonCode> {
        match info.username.as_deref() {
            Some("good") => Ok(TestClient {
                client_id: info.client_id.clone(),
            }),
            Some("banned") => Err(ReasonCode::Banned),
            _ => Err(ReasonCode::BadUserNameOrPassword),
        }
    }

    fn authorize_publish(&self, _: &TestClient, topic: &str) -> bool {
        !topic.starts_with("forbidden/")
    }

    fn authorize_subscribe(&self, _: &TestClient, filter: &str) -> bool {
        !filter.starts_with("forbidden/")
    }

    async fn on_publish(&self, c: &TestClient, topic: &str, p: &Publish) -> PublishOutcome {
        self.publish_calls.fetch_add(1, Ordering::SeqCst);
        if topic == TELEMETRY {
            if let Some(ms) = std::str::from_utf8(&p.payload)
                .ok()
                .and_then(|s| s.strip_prefix("sleep:"))
                .and_then(|s| s.split(',').next())
                .and_then(|s| s.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            self.telemetry
                .lock()
                .unwrap()
                .push((c.client_id.clone(), p.payload.clone()));
            return PublishOutcome::Consumed;
        }
        if topic.starts_with("reject/") {
            return PublishOutcome::Rejected(
                ReasonCode::PayloadFormatInvalid,
                "bad payload".into(),
            );
        }
        PublishOutcome::Route
    }

    async fn on_connected(&self, c: &TestClient, _: &ConnectInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("connected {}", c.client_id));
    }

    async fn on_disconnected(&self, c: &TestClient, cause: &DisconnectCause) {
        let cause = match cause {
            DisconnectCause::Normal => "Normal",
            DisconnectCause::KeepAliveTimeout => "KeepAliveTimeout",
            DisconnectCause::ProtocolError(_) => "ProtocolError",
            DisconnectCause::SessionTakenOver => "SessionTakenOver",
            DisconnectCause::ServerShutdown => "ServerShutdown",
            DisconnectCause::Io(_) => "Io",
        };
        self.events
            .lock()
            .unwrap()
            .push(format!("disconnected {} {cause}", c.client_id));
    }
}

impl TestHooks {
    pub(crate) fn has_event(&self, e: &str) -> bool {
        self.events.lock().unwrap().iter().any(|x| x == e)
    }

    pub(crate) fn telemetry_payloads(&self) -> Vec<String> {
        self.telemetry
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}

/// A broker on 127.0.0.1 with a free port, on its own runtime.
pub(crate) struct TestBroker {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) broker: Broker<TestHooks>,
    pub(crate) hooks: Arc<TestHooks>,
    pub(crate) addr: SocketAddr,
    pub(crate) config: BrokerConfig,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestBroker {
    pub(crate) fn start() -> TestBroker {
        TestBroker::with(BrokerConfig::default())
    }

    pub(crate) fn with(config: BrokerConfig) -> TestBroker {
        TestBroker::open(config, None)
    }

    /// A broker keeping its state in a fresh temporary directory.
    pub(crate) fn persistent(mut config: BrokerConfig) -> TestBroker {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        config.state_dir = Some(dir.path().to_owned());
        TestBroker::open(config, Some(dir))
    }

    fn open(config: BrokerConfig, dir: Option<Arc<tempfile::TempDir>>) -> TestBroker {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hooks = Arc::new(TestHooks::default());
        let broker = Broker::open(config.clone(), hooks.clone()).unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let b = broker.clone();
        rt.spawn(async move { b.serve(listener).await });
        TestBroker {
            rt,
            broker,
            hooks,
            addr,
            config,
            _dir: dir,
        }
    }

    pub(crate) fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Shuts down and opens a new broker (new port, new hooks) on the same state dir.
    pub(crate) fn restart(self) -> TestBroker {
        self.rt.block_on(self.broker.shutdown());
        let TestBroker {
            rt, config, _dir, ..
        } = self;
        rt.shutdown_timeout(Duration::from_secs(5));
        TestBroker::open(config, _dir)
    }

    /// Waits until `client_id` has a subscription to `filter`.
    pub(crate) fn wait_subscribed(&self, client_id: &str, filter: &str) {
        wait_until(&format!("{client_id} subscribed to {filter}"), || {
            self.broker
                .subscriptions(client_id)
                .is_some_and(|s| s.iter().any(|(f, _)| f == filter))
        });
    }

    pub(crate) fn wait_event(&self, e: &str) {
        wait_until(e, || self.hooks.has_event(e));
    }

    pub(crate) fn publish(&self, topic: &str, payload: &str, qos: QoS, retain: bool) {
        self.rt
            .block_on(
                self.broker
                    .publish(topic, Bytes::from(payload.to_owned()), qos, retain),
            )
            .unwrap();
    }
}

/// Polls `cond` until it holds; panics after [`WAIT`].
pub(crate) fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child process to exit (killing it after twice [`WAIT`]) and returns its output.
pub(crate) fn finish(mut child: Child) -> Output {
    // Longer than the scripts' own limits, so a hung script reports where it hung.
    let end = Instant::now() + 2 * WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child process did not finish; stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mosquitto_pub`/`mosquitto_sub` against the broker, user "good" unless `args` sets one.
pub(crate) fn mosquitto(tool: &str, b: &TestBroker, args: &[&str]) -> Command {
    let mut cmd = Command::new(format!("/usr/bin/{tool}"));
    cmd.args(["-h", "127.0.0.1", "-p", &b.port()]);
    if !args.contains(&"-u") {
        cmd.args(["-u", "good"]);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

pub(crate) fn spawn(mut cmd: Command) -> Child {
    cmd.spawn().unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python with paho-mqtt; a clear failure (not a skip) when it is not configured.
pub(crate) fn python() -> PathBuf {
    match std::env::var_os("KW_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "KW_TEST_PYTHON is not set: run the tests through scripts/test, or create the venv \
             (python3 -m venv ~/.cache/kaiwu-venv && ~/.cache/kaiwu-venv/bin/pip install -r \
             scripts/test-requirements.txt) and export KW_TEST_PYTHON=~/.cache/kaiwu-venv/bin/python"
        ),
    }
}

/// Runs a Python script (the paho prelude prepended) with `PORT` in its environment.
pub(crate) fn py(b: &TestBroker, script: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg(format!("{}\n{script}", crate::paho::PRELUDE))
        .env("PORT", b.port())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a Python script to completion; panics with its output if it failed.
pub(crate) fn py_run(b: &TestBroker, script: &str) -> String {
    let out = finish(spawn(py(b, script)));
    assert!(
        out.status.success(),
        "python failed: stdout: {} stderr: {}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}
