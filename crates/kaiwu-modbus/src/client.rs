//! Async Modbus client: one outstanding request per connection, buffers reused across requests.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Framing;
use crate::error::{Error, Result};
use crate::frame::{
    self, Header, MAX_RTU_FRAME, MAX_WRITE_COILS, MAX_WRITE_REGISTERS, Request, Response,
};
use crate::plan::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::value::Area;

/// Byte stream the client talks over (TCP socket, serial port, pty, test duplex).
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A Modbus client over one connection. After an error for which
/// [`Error::is_connection`] is true, drop the client and connect again: a late answer may
/// still be in flight.
pub struct Client {
    stream: Box<dyn Stream>,
    framing: Framing,
    timeout: Duration,
    transaction: u16,
    wbuf: Vec<u8>,
    rbuf: Box<[u8; RBUF]>,
    /// Bytes of `rbuf` received but not yet consumed.
    filled: usize,
    /// Register bytes / packed coils of the write being built.
    scratch: Vec<u8>,
    /// Silence kept between frames on a serial line (zero elsewhere).
    frame_gap: Duration,
    /// When the last frame on the line ended.
    last_frame: Option<Instant>,
}

/// Room for the largest frame of either framing, plus a little slack for reads that run ahead.
const RBUF: usize = 2 * MAX_RTU_FRAME;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("framing", &self.framing)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `addr` ("host:port", "[::1]:502"); `timeout` bounds the connect and each
    /// request.
    pub async fn connect(addr: &str, framing: Framing, timeout: Duration) -> Result<Client> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        // Request/response traffic: Nagle would add a delay to every request.
        stream.set_nodelay(true)?;
        Ok(Client::from_stream(stream, framing, timeout))
    }

    /// Opens serial port `path` (e.g. "/dev/ttyUSB0") for Modbus RTU with the bus's line
    /// settings; `timeout` bounds each request.
    pub fn open_serial(
        path: &str,
        settings: &crate::SerialSettings,
        timeout: Duration,
    ) -> Result<Client> {
        let port = crate::SerialPort::open(path, settings)?;
        let mut c = Client::from_stream(port, Framing::RtuOverTcp, timeout);
        c.frame_gap = settings.frame_gap();
        Ok(c)
    }

    /// Client over an already open byte stream.
    pub fn from_stream<S>(s: S, framing: Framing, timeout: Duration) -> Client
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Client {
            stream: Box::new(s),
            framing,
            timeout,
            transaction: 0,
            wbuf: Vec::with_capacity(MAX_RTU_FRAME),
            rbuf: Box::new([0; RBUF]),
            filled: 0,
            scratch: Vec::with_capacity(MAX_RTU_FRAME),
            frame_gap: Duration::ZERO,
            last_frame: None,
        }
    }

    /// Reads `count` (1..=125) input or holding registers into `out` (replacing its contents).
    pub async fn read_registers(
        &mut self,
        unit: u8,
        area: Area,
        start: u16,
        count: u16,
        out: &mut Vec<u16>,
    ) -> Result<()> {
        if area.is_bit() {
            return Err(Error::invalid(format!("read_registers on {area:?} area")));
        }
        check_range("read", start, count, MAX_READ_REGISTERS)?;
        let req = Request::Read { area, start, count };
        match self.call(unit, &req).await? {
            Response::ReadRegisters { area: a, data }
                if a == area && data.len() == 2 * usize::from(count) =>
            {
                out.clear();
                out.extend(frame::registers(data));
                Ok(())
            }
            other => Err(mismatch(&req, &other)),
        }
    }

    /// Reads `count` (1..=2000) coils or discrete inputs into `out` (replacing its contents).
    pub async fn read_bits(
        &mut self,
        unit: u8,
        area: Area,
        start: u16,
        count: u16,
        out: &mut Vec<bool>,
    ) -> Result<()> {
        if !area.is_bit() {
            return Err(Error::invalid(format!("read_bits on {area:?} area")));
        }
        check_range("read", start, count, MAX_READ_BITS)?;
        let req = Request::Read { area, start, count };
        match self.call(unit, &req).await? {
            Response::ReadBits { area: a, packed }
                if a == area && packed.len() == usize::from(count.div_ceil(8)) =>
            {
                out.clear();
                out.extend((0..usize::from(count)).map(|i| frame::packed_bit(packed, i)));
                Ok(())
            }
            other => Err(mismatch(&req, &other)),
        }
    }

    /// FC 5: writes one coil.
    pub async fn write_coil(&mut self, unit: u8, addr: u16, v: bool) -> Result<()> {
        let req = Request::WriteCoil { addr, value: v };
        match self.call(unit, &req).await? {
            Response::WriteCoil { addr: a, value } if a == addr && value == v => Ok(()),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// FC 6: writes one holding register.
    pub async fn write_register(&mut self, unit: u8, addr: u16, v: u16) -> Result<()> {
        let req = Request::WriteRegister { addr, value: v };
        match self.call(unit, &req).await? {
            Response::WriteRegister { addr: a, value } if a == addr && value == v => Ok(()),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// FC 16: writes 1..=123 holding registers from `start`.
    pub async fn write_registers(&mut self, unit: u8, start: u16, v: &[u16]) -> Result<()> {
        let count = count_of(v.len(), MAX_WRITE_REGISTERS)?;
        check_range("write", start, count, MAX_WRITE_REGISTERS)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(v.iter().flat_map(|r| r.to_be_bytes()));
        let req = Request::WriteRegisters {
            start,
            data: &scratch,
        };
        let res = match self.call(unit, &req).await {
            Ok(Response::WriteRegisters { start: s, count: c }) if s == start && c == count => {
                Ok(())
            }
            Ok(other) => Err(mismatch(&req, &other)),
            Err(e) => Err(e),
        };
        self.scratch = scratch;
        res
    }

    /// FC 15: writes 1..=1968 coils from `start`.
    pub async fn write_coils(&mut self, unit: u8, start: u16, v: &[bool]) -> Result<()> {
        let count = count_of(v.len(), MAX_WRITE_COILS)?;
        check_range("write", start, count, MAX_WRITE_COILS)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        frame::pack_bits(v.iter().copied(), &mut scratch);
        let req = Request::WriteCoils {
            start,
            count,
            packed: &scratch,
        };
        let res = match self.call(unit, &req).await {
            Ok(Response::WriteCoils { start: s, count: c }) if s == start && c == count => Ok(()),
            Ok(other) => Err(mismatch(&req, &other)),
            Err(e) => Err(e),
        };
        self.scratch = scratch;
        res
    }

    /// Sends `req` and waits for its response; exception responses become errors. The
    /// response borrows the receive buffer.
    async fn call(&mut self, unit: u8, req: &Request<'_>) -> Result<Response<'_>> {
        self.transaction = self.transaction.wrapping_add(1);
        let header = Header {
            transaction: if self.framing == Framing::Tcp {
                self.transaction
            } else {
                0
            },
            unit,
        };
        self.wbuf.clear();
        frame::encode_request(&mut self.wbuf, self.framing, header, req)?;
        // Bytes of an earlier, abandoned exchange must not be read as this answer.
        self.filled = 0;
        let timeout = self.timeout;
        let len = tokio::time::timeout(timeout, self.exchange())
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        let frame = frame::decode_response(&self.rbuf[..len], self.framing)?
            .ok_or_else(|| Error::protocol("response frame vanished"))?;
        self.filled = 0;
        if frame.header != header {
            return Err(Error::protocol(format!(
                "response for transaction {} unit {} to request {} unit {}",
                frame.header.transaction, frame.header.unit, header.transaction, header.unit
            )));
        }
        match frame.body {
            Response::Exception { function, code } if function == req.function() => {
                Err(Error::Exception { function, code })
            }
            body => Ok(body),
        }
    }

    /// Writes the request in `wbuf` and reads until `rbuf` starts with a complete response;
    /// returns that response's length.
    async fn exchange(&mut self) -> Result<usize> {
        if let Some(last) = self.last_frame.filter(|_| !self.frame_gap.is_zero()) {
            // RTU frames on a line are delimited by silence: keep it before sending.
            tokio::time::sleep_until((last + self.frame_gap).into()).await;
        }
        self.stream.write_all(&self.wbuf).await?;
        self.stream.flush().await?;
        loop {
            if let Some(f) = frame::split_response(&self.rbuf[..self.filled], self.framing)? {
                self.last_frame = Some(Instant::now());
                return Ok(f.len);
            }
            let n = self.stream.read(&mut self.rbuf[self.filled..]).await?;
            if n == 0 {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the modbus server",
                )));
            }
            self.filled += n;
        }
    }
}

/// Checks `start..start + count` is a valid request range of at most `max` items.
fn check_range(op: &str, start: u16, count: u16, max: u16) -> Result<()> {
    if count == 0 || count > max {
        return Err(Error::invalid(format!(
            "{op} of {count} items (1..={max} per request)"
        )));
    }
    if u32::from(start) + u32::from(count) > 0x1_0000 {
        return Err(Error::invalid(format!(
            "{op} of {count} items from address {start} runs past 65535"
        )));
    }
    Ok(())
}

fn count_of(len: usize, max: u16) -> Result<u16> {
    u16::try_from(len)
        .ok()
        .filter(|&c| (1..=max).contains(&c))
        .ok_or_else(|| Error::invalid(format!("write of {len} items (1..={max} per request)")))
}

fn mismatch(req: &Request<'_>, resp: &Response<'_>) -> Error {
    Error::protocol(format!(
        "response does not match request: sent {req:?}, got {resp:?}"
    ))
}
