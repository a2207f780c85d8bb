//! Just enough of the PostgreSQL frontend/backend protocol (v3) for the REST-read peer: trust
//! authentication, two named prepared statements, then Bind/Execute/Sync per request, as a
//! pooled client with prepared statements would send them. No TLS, no passwords.

use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::http_load::Exchange;

/// One connection with statements `l` (latest row of a device) and `s` (its shadow document).
#[derive(Debug)]
pub(crate) struct PgConn {
    stream: BufReader<TcpStream>,
    devices: Arc<Vec<String>>,
    offset: u64,
    wbuf: Vec<u8>,
    body: Vec<u8>,
    /// The server process serving this connection (from BackendKeyData).
    pub(crate) backend_pid: Option<u32>,
}

/// Append a message: type byte, then a length that counts itself, then `body`.
fn message(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

impl PgConn {
    /// Connect to 127.0.0.1:5432 as `postgres` to `db` and prepare `latest` and `shadow`
    /// (each with one text parameter, the device id).
    pub(crate) async fn connect(
        db: &str,
        latest: &str,
        shadow: &str,
        devices: Arc<Vec<String>>,
        offset: u64,
    ) -> anyhow::Result<PgConn> {
        let s = TcpStream::connect("127.0.0.1:5432")
            .await
            .context("connecting to PostgreSQL on 127.0.0.1:5432")?;
        s.set_nodelay(true)?;
        let mut c = PgConn {
            stream: BufReader::new(s),
            devices,
            offset,
            wbuf: Vec::new(),
            body: Vec::new(),
            backend_pid: None,
        };
        let mut startup = 196_608u32.to_be_bytes().to_vec(); // protocol 3.0
        for kv in ["user", "postgres", "database", db] {
            cstr(&mut startup, kv);
        }
        startup.push(0);
        let mut msg = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(&startup);
        c.stream.get_mut().write_all(&msg).await?;
        c.until_ready().await?;
        let mut out = Vec::new();
        for (name, sql) in [("l", latest), ("s", shadow)] {
            let mut b = Vec::new();
            cstr(&mut b, name);
            cstr(&mut b, sql);
            b.extend_from_slice(&0u16.to_be_bytes()); // parameter types inferred
            message(&mut out, b'P', &b);
        }
        message(&mut out, b'S', &[]);
        c.stream.get_mut().write_all(&out).await?;
        c.until_ready().await?;
        Ok(c)
    }

    /// Read messages up to ReadyForQuery; returns the number of DataRows seen.
    async fn until_ready(&mut self) -> anyhow::Result<usize> {
        let mut rows = 0;
        let mut error = None;
        loop {
            let kind = self.stream.read_u8().await?;
            let len = self.stream.read_u32().await? as usize;
            self.body.resize(len.saturating_sub(4), 0);
            self.stream.read_exact(&mut self.body).await?;
            match kind {
                b'Z' => break,
                b'D' => rows += 1,
                b'K' if self.body.len() >= 4 => {
                    let pid = [self.body[0], self.body[1], self.body[2], self.body[3]];
                    self.backend_pid = Some(u32::from_be_bytes(pid));
                }
                b'R' if self.body.get(..4) != Some(&[0u8, 0, 0, 0][..]) => {
                    bail!("PostgreSQL asks for a password: the peer needs trust authentication")
                }
                b'E' => {
                    let text: String = self
                        .body
                        .split(|b| *b == 0)
                        .filter(|f| f.first() == Some(&b'M'))
                        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
                        .collect();
                    error.get_or_insert(text);
                }
                _ => {}
            }
        }
        match error {
            Some(e) => bail!("PostgreSQL error: {e}"),
            None => Ok(rows),
        }
    }
}

impl Exchange for PgConn {
    async fn call(&mut self, i: u64) -> anyhow::Result<()> {
        let j = i + self.offset;
        let devices = Arc::clone(&self.devices);
        let dev = &devices[(j / 2 % devices.len().max(1) as u64) as usize];
        // Even requests ask for the latest row, odd ones for the shadow, as the HTTP side does.
        let stmt = if j.is_multiple_of(2) { "l" } else { "s" };
        self.wbuf.clear();
        let mut b = Vec::with_capacity(32 + dev.len());
        cstr(&mut b, ""); // unnamed portal
        cstr(&mut b, stmt);
        b.extend_from_slice(&0u16.to_be_bytes()); // parameters in text
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&(dev.len() as u32).to_be_bytes());
        b.extend_from_slice(dev.as_bytes());
        b.extend_from_slice(&0u16.to_be_bytes()); // results in text
        message(&mut self.wbuf, b'B', &b);
        message(&mut self.wbuf, b'E', &[0, 0, 0, 0, 0]);
        message(&mut self.wbuf, b'S', &[]);
        self.stream.get_mut().write_all(&self.wbuf).await?;
        if self.until_ready().await? == 0 {
            bail!("no row for device {dev}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_count_their_length() {
        let mut out = Vec::new();
        message(&mut out, b'S', &[]);
        assert_eq!(out, [b'S', 0, 0, 0, 4]);
        let mut b = Vec::new();
        cstr(&mut b, "l");
        assert_eq!(b, [b'l', 0]);
    }
}
