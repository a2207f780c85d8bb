//! Kaiwu's benchmark suite: each scenario runs Kaiwu and a real peer alternately in the same run
//! and reports medians, the Kaiwu/peer ratio, CPU seconds per million points, peak RSS and
//! bytes per point. Scenarios whose feature has not landed are listed as pending, not faked.

mod brokers;
mod hist;
mod http;
mod idle_mqtt;
mod kaiwu_run;
mod mqtt_ingest;
mod mqtt_load;
mod peers;
mod query;
mod report;
mod storage;
mod sys;
mod tsbs;

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
    /// Run every landed scenario; print the pending ones.
    All(AllOpts),
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
        name: "modbus-polling",
        what: "d. Modbus polling",
        pending: Some("no Modbus connector yet"),
    },
    Scenario {
        name: "publish-to-alarm",
        what: "e. publish-to-alarm latency",
        pending: Some("no alarm rules yet"),
    },
    Scenario {
        name: "rest-reads",
        what: "f. REST reads",
        pending: Some("not written yet"),
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
        Cmd::StorageIngest(o) => storage::run(&o),
        Cmd::TsbsQuery(q) => run_query(&q.opts, q.write_docs),
        Cmd::MqttIngest(o) => mqtt_ingest::run(&o),
        Cmd::IdleMqtt(o) => idle_mqtt::run(&o),
        Cmd::All(a) => {
            for s in SCENARIOS.iter().filter(|s| s.pending.is_some()) {
                eprintln!(
                    "[all] {} pending: {}",
                    s.name,
                    s.pending.unwrap_or_default()
                );
            }
            let o = storage::Opts {
                quick: a.quick,
                write_docs: a.write_docs,
                seed: 1,
                ..storage::Opts::default()
            };
            storage::run(&o)?;
            let q = query::Opts {
                quick: a.quick,
                seed: 1,
                ..query::Opts::default()
            };
            run_query(&q, a.write_docs)?;
            mqtt_ingest::run(&mqtt_ingest::Opts {
                quick: a.quick,
                write_docs: a.write_docs,
                ..mqtt_ingest::Opts::default()
            })?;
            idle_mqtt::run(&idle_mqtt::Opts {
                quick: a.quick,
                write_docs: a.write_docs,
                ..idle_mqtt::Opts::default()
            })
        }
    }
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
        eprintln!("[tsbs-query] wrote {}", path.display());
    }
    Ok(())
}
