//! Kaiwu's benchmark suite: each scenario runs Kaiwu and a real peer alternately in the same run
//! and reports medians, the Kaiwu/peer ratio, CPU seconds per million points, peak RSS and
//! bytes per point. Scenarios whose feature has not landed are listed as pending, not faked.

mod brokers;
mod charts;
mod hist;
mod http;
mod http_load;
mod idle_mqtt;
mod kaiwu_run;
mod modbus_poll;
mod modbus_raw;
mod mqtt_ingest;
mod mqtt_load;
mod node_poll;
mod peers;
mod pg_wire;
mod progress;
mod query;
mod report;
mod rest_reads;
mod storage;
mod sys;
mod tsbs;

use progress::{Spinner, say};

use clap::{Args, Parser, Subcommand};

/// Command line of `kaiwu-bench`.
#[derive(Debug, Parser)]
#[command(name = "kaiwu-bench", about = "Kaiwu benchmarks against real peers")]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the scenarios and whether each has landed.
    List,
    /// Storage ingest of TSBS cpu-only data; DuckDB and PostgreSQL COPY beside it.
    StorageIngest(storage::Opts),
    /// TSBS query subset (lastpoint, single-groupby-1-1-1, double-groupby-1, high-cpu-all,
    /// cpu-max-all-1); DuckDB beside it.
    TsbsQuery(QueryOpts),
    /// MQTT ingest (ThingsBoard Scenario B profile): QoS 1 telemetry from thousands of devices
    /// to the kaiwu binary; Mosquitto as a relay beside it.
    MqttIngest(mqtt_ingest::Opts),
    /// Resident memory per idle MQTT connection, Kaiwu and Mosquitto.
    IdleMqtt(idle_mqtt::Opts),
    /// Modbus raw reads (libmodbus beside them), the node polling Modbus registers and
    /// subscribing to OPC UA items.
    ModbusPoll(modbus_poll::Opts),
    /// REST reads of latest values and shadows; PostgreSQL beside them.
    RestReads(rest_reads::Opts),
    /// Internal: the Modbus simulator process of modbus-poll.
    #[command(hide = true)]
    ModbusServer(modbus_raw::ServerArgs),
    /// Internal: the Kaiwu Modbus read loop process of modbus-poll.
    #[command(hide = true)]
    ModbusRead(modbus_raw::ReadArgs),
    /// Run every landed scenario; print the pending ones.
    All(AllOpts),
    /// Redraw the SVG charts of docs/benchmarks.md from its tables (docs/bench/*.svg).
    Charts,
}

#[derive(Debug, Args)]
struct QueryOpts {
    #[command(flatten)]
    opts: query::Opts,
    /// Write the results to docs/benchmarks.md (this scenario's section).
    #[arg(long)]
    write_docs: bool,
}

#[derive(Debug, Args)]
struct AllOpts {
    /// Small sizes: everything finishes in well under 3 minutes.
    #[arg(long)]
    quick: bool,
    /// Write the results to docs/benchmarks.md.
    #[arg(long)]
    write_docs: bool,
}

/// A scenario of the suite.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) what: &'static str,
    /// `None` when landed, else why it is pending.
    pub(crate) pending: Option<&'static str>,
}

pub(crate) const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "mqtt-ingest",
        what: "a. MQTT ingest (ThingsBoard Scenario B profile); Mosquitto relay beside it",
        pending: None,
    },
    Scenario {
        name: "storage-ingest",
        what: "b. storage ingest of TSBS cpu-only data; DuckDB and PostgreSQL beside it",
        pending: None,
    },
    Scenario {
        name: "tsbs-query",
        what: "c. TSBS query subset; DuckDB beside it",
        pending: None,
    },
    Scenario {
        name: "modbus-poll",
        what: "d. Modbus polling and OPC UA subscriptions; libmodbus beside them",
        pending: None,
    },
    Scenario {
        name: "publish-to-alarm",
        what: "e. publish-to-alarm latency",
        pending: Some("no alarm rules yet"),
    },
    Scenario {
        name: "rest-reads",
        what: "f. REST reads of latest values and shadows; PostgreSQL beside them",
        pending: None,
    },
    Scenario {
        name: "idle-mqtt",
        what: "g. idle MQTT connections: RSS per connection; Mosquitto beside it",
        pending: None,
    },
];

/// Run one command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::List => {
            for s in SCENARIOS {
                let status = s
                    .pending
                    .map_or("landed".to_owned(), |p| format!("pending: {p}"));
                println!("{:<18} {:<72} {status}", s.name, s.what);
            }
            Ok(())
        }
        Cmd::StorageIngest(o) => scenario("storage-ingest", || storage::run(&o)),
        Cmd::TsbsQuery(q) => scenario("tsbs-query", || run_query(&q.opts, q.write_docs)),
        Cmd::MqttIngest(o) => scenario("mqtt-ingest", || mqtt_ingest::run(&o)),
        Cmd::IdleMqtt(o) => scenario("idle-mqtt", || idle_mqtt::run(&o)),
        Cmd::ModbusPoll(o) => scenario("modbus-poll", || modbus_poll::run(&o)),
        Cmd::RestReads(o) => scenario("rest-reads", || rest_reads::run(&o)),
        Cmd::ModbusServer(a) => modbus_raw::serve(&a),
        Cmd::ModbusRead(a) => modbus_raw::read_loop(&a),
        Cmd::All(a) => run_all(&a),
        Cmd::Charts => {
            let path = report::redraw_charts()?;
            say!("[charts] redrew the charts of {}", path.display());
            Ok(())
        }
    }
}

/// Run one scenario under its spinner.
fn scenario(name: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let _spinner = Spinner::start(name);
    f()
}

fn run_all(a: &AllOpts) -> anyhow::Result<()> {
    for s in SCENARIOS.iter().filter(|s| s.pending.is_some()) {
        say!(
            "[all] {} pending: {}",
            s.name,
            s.pending.unwrap_or_default()
        );
    }
    let (quick, write_docs) = (a.quick, a.write_docs);
    scenario("storage-ingest", || {
        storage::run(&storage::Opts {
            quick,
            write_docs,
            seed: 1,
            ..storage::Opts::default()
        })
    })?;
    scenario("tsbs-query", || {
        let q = query::Opts {
            quick,
            seed: 1,
            ..query::Opts::default()
        };
        run_query(&q, write_docs)
    })?;
    scenario("mqtt-ingest", || {
        mqtt_ingest::run(&mqtt_ingest::Opts {
            quick,
            write_docs,
            ..mqtt_ingest::Opts::default()
        })
    })?;
    scenario("modbus-poll", || {
        modbus_poll::run(&modbus_poll::Opts {
            quick,
            write_docs,
            ..modbus_poll::Opts::default()
        })
    })?;
    scenario("rest-reads", || {
        rest_reads::run(&rest_reads::Opts {
            quick,
            write_docs,
            ..rest_reads::Opts::default()
        })
    })?;
    scenario("idle-mqtt", || {
        idle_mqtt::run(&idle_mqtt::Opts {
            quick,
            write_docs,
            ..idle_mqtt::Opts::default()
        })
    })
}

fn run_query(o: &query::Opts, write_docs: bool) -> anyhow::Result<()> {
    let table = query::run(o)?;
    if write_docs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let body = format!(
            "## TSBS query subset (scenario c)\n\n- Date: {}\n- Machine: {}\n- Command: `cargo run --release -p kaiwu-bench -- {}`\n\n{table}\n{}",
            report::date_utc(),
            sys::machine(),
            args.join(" "),
            query::NOTES
        );
        let path = report::write_section("tsbs-query", &body)?;
        say!("[tsbs-query] wrote {}", path.display());
    }
    Ok(())
}
