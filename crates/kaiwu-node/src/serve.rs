//! `kaiwu serve` and `kaiwu demo`: open the data dir, bootstrap, bind, announce, serve until
//! SIGINT/SIGTERM, then drain and stop.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use kaiwu_api::{ApiConfig, AppState};
use kaiwu_auth::JwtKey;
use kaiwu_bus::{Bus, MemoryBus};
use kaiwu_registry::Registry;
use kaiwu_tsdb::Tsdb;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;

use crate::config::{HttpConfig, MqttConfig};
use crate::datadir::DataDir;
use crate::device_api::{DeviceHooks, MqttLink};
use crate::{Config, Error, LogFormat, Result, bootstrap, demo, listen};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The platform.
    Serve,
    /// The platform with demo content.
    Demo,
}

/// Install the global log subscriber (stderr; stdout carries only the announcements).
pub fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match cfg.log_format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

/// Run a node until it is told to stop.
pub async fn serve(cfg: Config, mode: Mode) -> Result<()> {
    let dir = DataDir::open(&cfg.data_dir)?;
    let metrics = PrometheusBuilder::new().install_recorder().ok();
    metrics::gauge!("kaiwu_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let reg = Arc::new(Registry::open(&dir.registry_db(), bus.clone())?);
    let env_pw = std::env::var("KAIWU_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let first = bootstrap::first_start(&reg, env_pw)?;
    let seeded = match mode {
        Mode::Demo => Some(demo::seed(&reg)?),
        Mode::Serve => None,
    };
    let jwt = JwtKey::load_or_create(&dir.jwt_key())?;
    let tsdb = open_tsdb(&dir, &cfg).await?;

    let demo = mode == Mode::Demo;
    let http = bind_default(
        demo,
        "http",
        cfg.http_addr()?,
        cfg.http.addr == HttpConfig::default().addr,
    )?;
    let mqtt = bind_default(
        demo,
        "mqtt",
        cfg.mqtt_addr()?,
        cfg.mqtt.addr == MqttConfig::default().addr,
    )?;
    let http_addr = local(&http)?;
    let mqtt_addr = local(&mqtt)?;
    let device_ca = Arc::new(kaiwu_auth::DeviceCa::open(
        &dir.path().join("pki").join("device-ca"),
    )?);
    let mqtts = match cfg.mqtts_addr()? {
        Some(a) => {
            let acceptor = crate::tls::acceptor(
                dir.path(),
                cfg.mqtts.cert.as_deref(),
                cfg.mqtts.key.as_deref(),
                device_ca.clone(),
            )?;
            let l = listen::bind("mqtts", a)?;
            Some((local(&l)?, l, acceptor))
        }
        None => None,
    };
    let mqtts_addr = mqtts.as_ref().map(|m| m.0);

    let api = ApiConfig {
        max_body_bytes: cfg.http.max_body_bytes,
        token_ttl_secs: cfg.http.token_ttl_secs,
    };
    let catalog = Arc::new(crate::catalog::NodeCatalog {
        registry: reg.clone(),
        tsdb: tsdb.clone(),
    });
    let query = kaiwu_query::QueryEngine::new(catalog, kaiwu_query::QueryLimits::default())
        .map_err(|e| Error::Config(format!("query engine: {e}")))?;
    let state = AppState::new(
        reg.clone(),
        tsdb.clone(),
        Arc::new(query),
        jwt,
        api,
        metrics,
    );
    state.set_device_ca(device_ca);
    let hooks = Arc::new(DeviceHooks::new(reg.clone(), state.ingest()));
    let broker_cfg = kaiwu_mqtt::broker::BrokerConfig {
        max_packet_size: cfg.mqtt.max_packet_size,
        state_dir: Some(dir.path().join("mqtt")),
        ..Default::default()
    };
    let broker = kaiwu_mqtt::broker::Broker::open(broker_cfg, hooks.clone())
        .map_err(|e| Error::Config(format!("mqtt broker: {e}")))?;
    let _ = hooks.broker.set(broker.clone());
    // Sparkplug edge nodes wait for the primary host's retained STATE before publishing.
    hooks.announce_host().await;
    state.set_device_link(Arc::new(MqttLink(hooks)));
    let connectors =
        kaiwu_connect::Connectors::new(reg.clone(), state.ingest(), dir.path().join("pki"));
    state.set_connectors(connectors.clone());
    let plant = match demo {
        true => Some(crate::plant::start(&reg, dir.path(), mqtt_addr).await?),
        false => None,
    };
    let running = connectors
        .start_all()
        .map_err(|e| Error::Config(format!("connectors: {e}")))?;
    tracing::info!(connectors = running, "connectors started");
    let app = kaiwu_api::router(state.clone());
    let mut endpoints =
        serde_json::json!({"http": http_addr.to_string(), "mqtt": mqtt_addr.to_string()});
    if let Some(a) = mqtts_addr {
        endpoints["mqtts"] = serde_json::json!(a.to_string());
    }
    dir.write_atomic(&dir.endpoints(), endpoints.to_string().as_bytes())?;

    // Signal handlers exist before anyone can learn the node is ready, so a SIGTERM sent right
    // after the ready line drains cleanly instead of killing the process.
    let stop = shutdown_signal()?;
    if let Some(f) = &first {
        announce_first_start(f);
    }
    state.set_ready(true);
    let tls_part = mqtts_addr
        .map(|a| format!(" mqtts={a}"))
        .unwrap_or_default();
    announce(&format!(
        "kaiwu ready http={http_addr} mqtt={mqtt_addr}{tls_part}"
    ));
    if let (Some(s), Some(p)) = (seeded, &plant) {
        announce_demo(&s, http_addr, first.as_ref(), p);
    }
    tracing::info!(%http_addr, %mqtt_addr, data_dir = %dir.path().display(), "node ready");

    let mqtt_task = {
        let b = broker.clone();
        tokio::spawn(async move { b.serve(mqtt).await })
    };
    let mqtts_task =
        mqtts.map(|(_, l, acceptor)| tokio::spawn(crate::tls::serve(l, acceptor, broker.clone())));
    let flusher = tokio::spawn(flush_loop(tsdb.clone()));
    let retention = tokio::spawn(retention_loop(reg.clone(), tsdb.clone()));
    let drain = state.clone();
    axum::serve(http, app)
        .with_graceful_shutdown(async move {
            stop.await;
            drain.set_ready(false);
            tracing::info!("shutting down: draining requests");
        })
        .await
        .map_err(|e| Error::Io {
            what: "http server".into(),
            source: e,
        })?;
    connectors.shutdown();
    if let Some(p) = plant {
        p.stop().await;
    }
    broker.shutdown().await;
    mqtt_task.abort();
    if let Some(t) = mqtts_task {
        t.abort();
    }
    flusher.abort();
    retention.abort();
    drop(state);
    // Leave the WAL short for the next start; a failure here loses nothing (the WAL has it all).
    if let Err(e) = tsdb.flush().await {
        tracing::warn!(error = %e, "final flush failed; data stays in the write-ahead log");
    }
    let _ = std::fs::remove_file(dir.endpoints());
    tracing::info!("stopped");
    Ok(())
}

async fn open_tsdb(dir: &DataDir, cfg: &Config) -> Result<Arc<Tsdb>> {
    let opts = cfg.tsdb.options()?;
    let path = dir.path().to_owned();
    let (db, report) = tokio::task::spawn_blocking(move || Tsdb::open(&path, opts))
        .await
        .map_err(|e| Error::Config(format!("storage recovery task failed: {e}")))?
        .map_err(|e| Error::DataDir {
            path: dir.path().display().to_string(),
            reason: format!("time-series storage: {e}"),
        })?;
    tracing::info!(
        replayed = report.replayed,
        segments = report.segments,
        orphans_removed = report.orphans_removed,
        torn_wal_bytes = report.torn_wal_bytes,
        "time-series storage opened"
    );
    for q in &report.quarantined {
        tracing::error!(path = %q.display(), "damaged storage file quarantined; its data is not served");
    }
    Ok(Arc::new(db))
}

/// Flush memory to Parquet when it is due, and compact busy windows now and then; errors are
/// logged and retried (the WAL keeps everything until a flush succeeds).
async fn flush_loop(tsdb: Arc<Tsdb>) {
    // Replaced segments outlive any query that may still read them (queries time out at 30 s).
    const GRACE: std::time::Duration = std::time::Duration::from_secs(120);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut since_compaction = 0u32;
    loop {
        tick.tick().await;
        if tsdb.flush_due()
            && let Err(e) = tsdb.flush().await
        {
            tracing::error!(error = %e, "flush failed; will retry");
        }
        since_compaction += 1;
        if since_compaction >= 60 {
            since_compaction = 0;
            if let Err(e) = tsdb.compact(GRACE).await {
                tracing::error!(error = %e, "compaction failed; will retry");
            }
        }
    }
}

/// Apply every tenant's retention policy once a minute.
async fn retention_loop(reg: Arc<Registry>, tsdb: Arc<Tsdb>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let r = reg.clone();
        let policies = match tokio::task::spawn_blocking(move || r.all_retention()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "retention policies unreadable");
                continue;
            }
            Err(_) => continue,
        };
        let keep = |tenant: &str, ty: &str| {
            policies
                .get(tenant)
                .and_then(|p| p.days_for(ty))
                .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400))
        };
        if let Err(e) = tsdb.enforce_retention(kaiwu_core::now_ms(), keep).await {
            tracing::error!(error = %e, "retention failed; will retry");
        }
    }
}

/// Bind; in demo mode a busy default port falls back to a free one (the point of the demo is
/// to start, even where another broker already holds 1883).
fn bind_default(
    demo: bool,
    what: &'static str,
    addr: SocketAddr,
    is_default: bool,
) -> Result<TcpListener> {
    match listen::bind(what, addr) {
        Err(Error::Listen { source, .. })
            if demo && is_default && source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            let mut any = addr;
            any.set_port(0);
            tracing::warn!(%addr, "default {what} port busy; demo uses a free port instead");
            listen::bind(what, any)
        }
        r => r,
    }
}

fn local(l: &TcpListener) -> Result<SocketAddr> {
    l.local_addr().map_err(|e| Error::Io {
        what: "reading bound address".into(),
        source: e,
    })
}

pub(crate) fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn announce_first_start(f: &bootstrap::FirstStart) {
    match &f.generated_password {
        Some(pw) => announce(&format!(
            "first start: created tenant `default` and user `admin` with password {pw} (shown only now; set KAIWU_ADMIN_PASSWORD to choose it)"
        )),
        None => announce(
            "first start: created tenant `default` and user `admin` with the password from KAIWU_ADMIN_PASSWORD",
        ),
    }
}

fn announce_demo(
    s: &demo::Seeded,
    http: SocketAddr,
    first: Option<&bootstrap::FirstStart>,
    plant: &kaiwu_sim::Plant,
) {
    let host = match http.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => format!("[::1]:{}", http.port()),
        ip if ip.is_unspecified() => format!("127.0.0.1:{}", http.port()),
        _ => http.to_string(),
    };
    let known = first.and_then(|f| f.generated_password.as_deref());
    let login = match known {
        Some(pw) => format!("user admin, password {pw}"),
        None => "user admin with the password you set (forgot it? stop and run `kaiwu admin reset-password --username admin`)".into(),
    };
    let pw = known.unwrap_or("...");
    announce(&format!(
        "demo: {} device types, {} assets, {} devices in tenant `default`\n\
         api: http://{host}/api (OpenAPI document: http://{host}/api/openapi.json)\n\
         login: {login}\n\
         plant: mills on Modbus TCP {mb}, energy meter on Modbus RTU over TCP {rtu}, packaging line on OPC UA {ua}, compressors over MQTT\n\
         try: TOKEN=$(curl -s -X POST http://{host}/api/auth/login -H 'content-type: application/json' -d '{{\"username\":\"admin\",\"password\":\"{pw}\"}}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n\
         then: curl -s http://{host}/api/query -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' -d '{{\"sql\":\"SELECT device, max(ts) AS newest, avg(spindle_speed) AS speed, max(vibration) AS vibration FROM cnc_mill GROUP BY device\"}}'",
        s.types,
        s.assets,
        s.devices,
        mb = plant.modbus_tcp_addr(),
        rtu = plant.modbus_rtu_addr(),
        ua = plant.opcua_endpoint(),
    ));
}

/// Register SIGINT and SIGTERM now; the returned future completes on the first of them.
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    let io = |source| Error::Io {
        what: "installing signal handlers".into(),
        source,
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = io;
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
