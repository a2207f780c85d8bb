//! Async Modbus server over TCP (either framing), backed by in-memory register banks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::Framing;
use crate::error::{Error, GATEWAY_TARGET_FAILED, ILLEGAL_DATA_ADDRESS, Result};
use crate::frame::{self, Frame, Header, MAX_RTU_FRAME, Request, Response};
use crate::value::Area;

/// The data of one unit: the four areas, indexed by Modbus address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bank {
    pub coils: Vec<bool>,
    pub discrete: Vec<bool>,
    pub input: Vec<u16>,
    pub holding: Vec<u16>,
}

impl Bank {
    /// A bank with `size` zeroed items in each area (at most 65536 are addressable).
    pub fn new(size: usize) -> Bank {
        Bank {
            coils: vec![false; size],
            discrete: vec![false; size],
            input: vec![0; size],
            holding: vec![0; size],
        }
    }
}

/// A bank shared between the server and the code that simulates or inspects the device.
pub type SharedBank = Arc<RwLock<Bank>>;

/// Modbus server serving FC 1, 2, 3, 4, 5, 6, 15 and 16 from [`Bank`]s.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Serves every connection accepted on `listener` until the returned handle is aborted
    /// (aborting also closes open connections; merely dropping the handle detaches it, as
    /// for any tokio task). Must be called inside a tokio runtime.
    ///
    /// Each unit id in `units` has its own bank. A request for another unit id is answered
    /// with exception 0x0B (gateway target device failed to respond) over TCP framing and not
    /// answered at all over RTU framing, as on a serial bus where no such device listens.
    /// A frame that breaks framing (bad MBAP header, CRC mismatch) closes the connection.
    pub fn spawn(
        listener: TcpListener,
        framing: Framing,
        units: HashMap<u8, SharedBank>,
    ) -> JoinHandle<()> {
        let units = Arc::new(units);
        tokio::spawn(async move {
            // Owned by this task, so aborting it drops (and aborts) every connection task.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            tracing::debug!(%peer, "modbus connection accepted");
                            conns.spawn(serve(stream, framing, Arc::clone(&units)));
                        }
                        Err(error) => {
                            // Usually transient (fd exhaustion, reset before accept).
                            tracing::warn!(%error, "modbus accept failed");
                            tokio::task::yield_now().await;
                        }
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        })
    }
}

async fn serve(mut stream: TcpStream, framing: Framing, units: Arc<HashMap<u8, SharedBank>>) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "modbus set_nodelay failed");
    }
    let mut conn = Conn {
        rbuf: vec![0; 2 * MAX_RTU_FRAME],
        filled: 0,
        wbuf: Vec::with_capacity(MAX_RTU_FRAME + 8),
        scratch: Vec::with_capacity(MAX_RTU_FRAME),
        framing,
    };
    match conn.run(&mut stream, &units).await {
        Ok(()) => tracing::debug!("modbus connection closed"),
        Err(error) => tracing::debug!(%error, "modbus connection dropped"),
    }
}

struct Conn {
    rbuf: Vec<u8>,
    filled: usize,
    wbuf: Vec<u8>,
    scratch: Vec<u8>,
    framing: Framing,
}

impl Conn {
    async fn run(&mut self, stream: &mut TcpStream, units: &HashMap<u8, SharedBank>) -> Result<()> {
        loop {
            let n = stream.read(&mut self.rbuf[self.filled..]).await?;
            if n == 0 {
                return Ok(());
            }
            self.filled += n;
            // Answer every complete frame received so far, then send the answers together.
            let mut used = 0;
            self.wbuf.clear();
            while let Some(f) = frame::split_request(&self.rbuf[used..self.filled], self.framing)? {
                let Frame { header, body, len } = f;
                if let Some(bank) = units.get(&header.unit) {
                    let result = frame::decode_request_pdu(body)
                        .and_then(|req| apply(bank, &req, &mut self.scratch));
                    respond(&mut self.wbuf, self.framing, header, result)?;
                } else if self.framing == Framing::Tcp {
                    let function = body.first().map_or(0, |f| f & 0x7F);
                    let resp = Response::Exception {
                        function,
                        code: GATEWAY_TARGET_FAILED,
                    };
                    frame::encode_response(&mut self.wbuf, self.framing, header, &resp)?;
                }
                used += len;
            }
            self.rbuf.copy_within(used..self.filled, 0);
            self.filled -= used;
            if !self.wbuf.is_empty() {
                stream.write_all(&self.wbuf).await?;
            }
        }
    }
}

/// Encodes the answer to one request: its response, or the exception it earned.
fn respond(
    out: &mut Vec<u8>,
    framing: Framing,
    header: Header,
    result: Result<Response<'_>>,
) -> Result<()> {
    let resp = match result {
        Ok(resp) => resp,
        Err(Error::Exception { function, code }) => Response::Exception {
            function: function & 0x7F,
            code,
        },
        Err(e) => return Err(e),
    };
    frame::encode_response(out, framing, header, &resp)
}

/// Executes `req` against `bank`; read data is returned in `scratch`, in wire form.
fn apply<'s>(
    bank: &SharedBank,
    req: &Request<'_>,
    scratch: &'s mut Vec<u8>,
) -> Result<Response<'s>> {
    let fc = req.function();
    match *req {
        Request::Read { area, start, count } => {
            let b = bank.read().unwrap_or_else(|p| p.into_inner());
            scratch.clear();
            match area {
                Area::Coil | Area::Discrete => {
                    let bits = if area == Area::Coil {
                        &b.coils
                    } else {
                        &b.discrete
                    };
                    let bits = range(bits, fc, start, count)?;
                    frame::pack_bits(bits.iter().copied(), scratch);
                    Ok(Response::ReadBits {
                        area,
                        packed: scratch,
                    })
                }
                Area::Input | Area::Holding => {
                    let regs = if area == Area::Input {
                        &b.input
                    } else {
                        &b.holding
                    };
                    let regs = range(regs, fc, start, count)?;
                    scratch.extend(regs.iter().flat_map(|r| r.to_be_bytes()));
                    Ok(Response::ReadRegisters {
                        area,
                        data: scratch,
                    })
                }
            }
        }
        Request::WriteCoil { addr, value } => {
            let mut b = bank.write().unwrap_or_else(|p| p.into_inner());
            range_mut(&mut b.coils, fc, addr, 1)?[0] = value;
            Ok(Response::WriteCoil { addr, value })
        }
        Request::WriteRegister { addr, value } => {
            let mut b = bank.write().unwrap_or_else(|p| p.into_inner());
            range_mut(&mut b.holding, fc, addr, 1)?[0] = value;
            Ok(Response::WriteRegister { addr, value })
        }
        Request::WriteCoils {
            start,
            count,
            packed,
        } => {
            let mut b = bank.write().unwrap_or_else(|p| p.into_inner());
            let coils = range_mut(&mut b.coils, fc, start, count)?;
            for (i, c) in coils.iter_mut().enumerate() {
                *c = frame::packed_bit(packed, i);
            }
            Ok(Response::WriteCoils { start, count })
        }
        Request::WriteRegisters { start, data } => {
            let count = (data.len() / 2) as u16;
            let mut b = bank.write().unwrap_or_else(|p| p.into_inner());
            let regs = range_mut(&mut b.holding, fc, start, count)?;
            for (r, v) in regs.iter_mut().zip(frame::registers(data)) {
                *r = v;
            }
            Ok(Response::WriteRegisters { start, count })
        }
    }
}

fn bounds(len: usize, fc: u8, start: u16, count: u16) -> Result<std::ops::Range<usize>> {
    let (s, e) = (usize::from(start), usize::from(start) + usize::from(count));
    if e > len {
        return Err(frame::exception_error(fc, ILLEGAL_DATA_ADDRESS));
    }
    Ok(s..e)
}

fn range<T>(items: &[T], fc: u8, start: u16, count: u16) -> Result<&[T]> {
    Ok(&items[bounds(items.len(), fc, start, count)?])
}

fn range_mut<T>(items: &mut [T], fc: u8, start: u16, count: u16) -> Result<&mut [T]> {
    let r = bounds(items.len(), fc, start, count)?;
    Ok(&mut items[r])
}
