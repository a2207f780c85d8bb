//! `kaiwu`: parses the command line and hands over to `kaiwu-node`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kaiwu_node::{Config, Mode, Overrides};

#[derive(Parser)]
#[command(
    name = "kaiwu",
    version,
    about = "Kaiwu (开物) industrial internet platform"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an all-in-one node with embedded defaults.
    Serve(ServeArgs),
    /// Run a node with a demo plant: device types, an asset tree and devices.
    Demo(ServeArgs),
    /// Run only the simulated plant (Modbus TCP and OPC UA servers, MQTT devices).
    Sim(SimArgs),
    /// Offline administration on a stopped node's data dir.
    Admin(AdminArgs),
}

#[derive(Args)]
struct SimArgs {
    /// The platform's MQTT listener for the simulated MQTT devices (mqtt://host:port).
    #[arg(long)]
    platform: Option<String>,
    /// An MQTT device and its access token, `compressor-01=TOKEN` (repeatable).
    #[arg(long = "device", value_parser = device_token)]
    devices: Vec<(String, String)>,
    /// Modbus TCP server of the CNC mills (units 1 and 2).
    #[arg(long, default_value = "127.0.0.1:5020")]
    modbus_tcp: std::net::SocketAddr,
    /// Modbus RTU-over-TCP server of the energy meter (unit 1).
    #[arg(long, default_value = "127.0.0.1:5021")]
    modbus_rtu: std::net::SocketAddr,
    /// OPC UA server of the packaging line.
    #[arg(long, default_value = "127.0.0.1:4840")]
    opcua: std::net::SocketAddr,
    /// Seed of the signal models.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Model step, milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Speed-up of the developing bearing fault (1 = hours, 60 = minutes).
    #[arg(long, default_value_t = 60.0)]
    fault_growth: f64,
    /// Where the OPC UA server keeps its certificate.
    #[arg(long, default_value = "./kaiwu-sim-pki")]
    pki_dir: PathBuf,
}

fn device_token(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(d, t)| (d.to_owned(), t.to_owned()))
        .ok_or_else(|| format!("`{s}` is not DEVICE=TOKEN"))
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file (see config/kaiwu.example.toml).
    #[arg(long, env = "KAIWU_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./kaiwu-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// HTTP listen address [default: [::]:8080]; port 0 picks a free port.
    #[arg(long)]
    http: Option<String>,
    /// MQTT listen address [default: [::]:1883]; port 0 picks a free port.
    #[arg(long)]
    mqtt: Option<String>,
    /// MQTT over TLS listen address (off by default).
    #[arg(long)]
    mqtts: Option<String>,
}

#[derive(Args)]
struct AdminArgs {
    /// Data directory of the stopped node.
    #[arg(long, env = "KAIWU_DATA_DIR", default_value = "./kaiwu-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a user.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Role to grant (repeatable): platform_admin, tenant_admin, operator, viewer.
        #[arg(long = "role", default_value = "viewer")]
        roles: Vec<String>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set a user's password (and re-enable the account).
    ResetPassword {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

#[derive(Args)]
struct PasswordArgs {
    /// Read the password from the first line of standard input (otherwise one is generated and
    /// printed).
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn read(&self) -> anyhow::Result<Option<String>> {
        if !self.password_stdin {
            return Ok(None);
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

// Many small, short-lived allocations per message (decoded payloads, rows, acknowledgements):
// mimalloc serves them from thread-local pages where glibc malloc took its slow paths.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Library errors already name their cause; one line is the contract.
            eprintln!("kaiwu: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Serve(a) => node(a, Mode::Serve),
        Cmd::Demo(a) => node(a, Mode::Demo),
        Cmd::Sim(a) => sim(a),
        Cmd::Admin(a) => admin(a),
    }
}

fn sim(a: SimArgs) -> anyhow::Result<()> {
    let settings = kaiwu_node::SimSettings {
        modbus_tcp: a.modbus_tcp,
        modbus_rtu: a.modbus_rtu,
        opcua: a.opcua,
        platform: a.platform,
        devices: a.devices,
        seed: a.seed,
        tick_ms: a.tick_ms,
        fault_growth: a.fault_growth,
        pki_dir: a.pki_dir,
    };
    kaiwu_node::init_logging(&Config::load(None, &Overrides::default())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(kaiwu_node::run_sim(settings))?;
    Ok(())
}

fn node(a: ServeArgs, mode: Mode) -> anyhow::Result<()> {
    let flags = Overrides {
        data_dir: a.data_dir,
        http_addr: a.http,
        mqtt_addr: a.mqtt,
        mqtts_addr: a.mqtts,
    };
    let cfg = Config::load(a.config.as_deref(), &flags)?;
    kaiwu_node::init_logging(&cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(kaiwu_node::serve(cfg, mode))?;
    Ok(())
}

fn admin(a: AdminArgs) -> anyhow::Result<()> {
    let generated = match a.cmd {
        AdminCmd::CreateUser {
            username,
            tenant,
            roles,
            password,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.parse())
                .collect::<Result<Vec<_>, _>>()?;
            let pw =
                kaiwu_node::create_user(&a.data_dir, &username, password.read()?, &tenant, roles)?;
            println!("created user `{username}` in tenant `{tenant}`");
            pw
        }
        AdminCmd::ResetPassword { username, password } => {
            let pw = kaiwu_node::reset_password(&a.data_dir, &username, password.read()?)?;
            println!("password of `{username}` reset; earlier login tokens no longer work");
            pw
        }
    };
    if let Some(pw) = generated {
        println!("password: {pw} (shown only now)");
    }
    Ok(())
}
