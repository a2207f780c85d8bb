//! A minimal blocking HTTP/1.1 client over `TcpStream` for the benchmark's setup calls (login,
//! device types, devices, SQL): JSON in, JSON out, one kept-alive connection per `Http`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// One kept-alive connection to `addr`, reopened when the server closes it.
#[derive(Debug)]
pub(crate) struct Http {
    addr: SocketAddr,
    token: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    pub(crate) fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            token: None,
            conn: None,
        }
    }

    /// The same server with bearer token `token` on every request.
    pub(crate) fn with_token(addr: SocketAddr, token: &str) -> Http {
        Http {
            token: Some(token.to_owned()),
            ..Http::new(addr)
        }
    }

    /// POST `body` as JSON to `path`; the status and the parsed JSON answer (`Null` if empty).
    pub(crate) fn post(&mut self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.send("POST", path, body)
    }

    /// PATCH `body` as JSON to `path`.
    pub(crate) fn patch(&mut self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.send("PATCH", path, body)
    }

    fn send(&mut self, method: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let body = body.to_string();
        let auth = self
            .token
            .as_ref()
            .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}\r\n{body}",
            self.addr,
            body.len()
        );
        // A kept-alive connection the server has meanwhile closed fails at once: retry once
        // on a fresh one.
        match self.exchange(&req) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.conn = None;
                self.exchange(&req)
                    .with_context(|| format!("{method} {path} to {}", self.addr))
            }
        }
    }

    /// GET `path`; the status and the parsed JSON answer (`Null` if empty).
    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<(u16, Value)> {
        let auth = self
            .token
            .as_ref()
            .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}\r\n", self.addr);
        match self.exchange(&req) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.conn = None;
                self.exchange(&req)
                    .with_context(|| format!("GET {path} from {}", self.addr))
            }
        }
    }

    fn exchange(&mut self, req: &str) -> anyhow::Result<(u16, Value)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().context("no connection")?;
        conn.get_mut().write_all(req.as_bytes())?;
        let (status, len, close) = read_head(conn)?;
        let mut body = vec![0; len];
        conn.read_exact(&mut body)?;
        if close {
            self.conn = None;
        }
        let v = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).context("parsing the response body as JSON")?
        };
        Ok((status, v))
    }
}

/// Status line and headers: (status, Content-Length, whether the server closes).
fn read_head(r: &mut impl BufRead) -> anyhow::Result<(u16, usize, bool)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = parse_status(&line).with_context(|| format!("bad status line {line:?}"))?;
    let (mut len, mut close) = (0, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("connection closed inside the response headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok((status, len, close));
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "content-length" => len = v.parse().context("bad Content-Length")?,
            "connection" => close = v.eq_ignore_ascii_case("close"),
            "transfer-encoding" => bail!("chunked responses are not supported by this client"),
            _ => {}
        }
    }
}

fn parse_status(line: &str) -> Option<u16> {
    let mut it = line.split_whitespace();
    it.next().filter(|v| v.starts_with("HTTP/1."))?;
    it.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_headers() {
        let raw = "HTTP/1.1 201 Created\r\ncontent-length: 7\r\nConnection: close\r\n\r\n{\"a\":1}";
        let mut r = BufReader::new(raw.as_bytes());
        assert_eq!(read_head(&mut r).ok(), Some((201, 7, true)));
        assert_eq!(parse_status("garbage"), None);
    }
}
