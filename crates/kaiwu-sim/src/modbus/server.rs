//! The two Modbus servers of the plant and the banks the plant task writes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use kaiwu_modbus::{Bank, Framing, Server, SharedBank};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{BANK_SIZE, METER, MILLS, PointValue, modbus_layout, point, store};
use crate::error::{Error, Result};

/// The running Modbus servers and the banks the plant task writes.
#[derive(Debug)]
pub(crate) struct ModbusServers {
    pub(crate) tcp_addr: SocketAddr,
    pub(crate) rtu_addr: SocketAddr,
    /// Banks of the mills, in [`MILLS`] order.
    pub(crate) mills: Vec<SharedBank>,
    pub(crate) meter: SharedBank,
    tasks: [JoinHandle<()>; 2],
}

impl ModbusServers {
    /// Binds both servers; the banks start zeroed, except writable points at their defaults.
    pub(crate) async fn start(
        tcp: SocketAddr,
        rtu: SocketAddr,
        defaults: &[(&str, &str, PointValue)],
    ) -> Result<ModbusServers> {
        let (tcp_layout, _) = modbus_layout();
        let tcp_l = bind("modbus tcp", tcp).await?;
        let rtu_l = bind("modbus rtu-over-tcp", rtu).await?;
        let tcp_addr = local(&tcp_l, "modbus tcp")?;
        let rtu_addr = local(&rtu_l, "modbus rtu-over-tcp")?;
        let mut mills = Vec::new();
        let mut units = HashMap::new();
        for (device, unit) in MILLS {
            let mut bank = Bank::new(BANK_SIZE);
            for (_, prop, v) in defaults.iter().filter(|(d, _, _)| *d == device) {
                if let Some(p) = point(&tcp_layout, device, prop) {
                    store(&mut bank, p, *v)?;
                }
            }
            let bank = Arc::new(RwLock::new(bank));
            units.insert(unit, Arc::clone(&bank));
            mills.push(bank);
        }
        let meter = Arc::new(RwLock::new(Bank::new(BANK_SIZE)));
        let tcp_task = Server::spawn(tcp_l, Framing::Tcp, units);
        let rtu_task = Server::spawn(
            rtu_l,
            Framing::RtuOverTcp,
            HashMap::from([(METER.1, Arc::clone(&meter))]),
        );
        tracing::info!(%tcp_addr, %rtu_addr, "modbus simulators listening");
        Ok(ModbusServers {
            tcp_addr,
            rtu_addr,
            mills,
            meter,
            tasks: [tcp_task, rtu_task],
        })
    }

    /// Stops both servers and closes their connections.
    pub(crate) fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { what, addr, source })
}

fn local(l: &TcpListener, what: &'static str) -> Result<SocketAddr> {
    l.local_addr()
        .map_err(|source| Error::LocalAddr { what, source })
}
