//! A closed-loop load generator on tokio: N connections, each sending its next request as soon
//! as the previous answer is in (one outstanding request per connection). The exchange is
//! pluggable: a raw keep-alive HTTP/1.1 GET here, a PostgreSQL prepared statement in
//! `pg_wire`. Latencies go into an HDR-style histogram.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::hist::Histogram;

/// One connection's request/response exchange; `i` numbers the requests of the connection.
pub(crate) trait Exchange: Send + 'static {
    fn call(&mut self, i: u64) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a load run measured over its window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Load {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) p50_us: Option<u64>,
    pub(crate) p99_us: Option<u64>,
    pub(crate) first_error: Option<String>,
}

impl Load {
    pub(crate) fn per_s(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// Drive every connection for `warmup` (not counted) and then `window`.
pub(crate) async fn drive<E: Exchange>(conns: Vec<E>, warmup: Duration, window: Duration) -> Load {
    let hist = Arc::new(Histogram::default());
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None));
    let start = Instant::now() + warmup;
    let end = start + window;
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in conns {
        let (hist, errors, first_error) = (hist.clone(), errors.clone(), first_error.clone());
        tasks.spawn(async move {
            let mut i = 0;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = c.call(i).await;
                i += 1;
                let counted = t >= start && Instant::now() <= end;
                match r {
                    Ok(()) if counted => hist.record(t.elapsed().as_micros() as u64),
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert_with(|| format!("{e:#}"));
                        }
                        // A broken connection stays broken: stop this one.
                        break;
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let first_error = first_error.lock().ok().and_then(|mut f| f.take());
    Load {
        ok: hist.count(),
        errors: errors.load(Ordering::Relaxed),
        seconds: window.as_secs_f64(),
        p50_us: hist.quantile(0.5),
        p99_us: hist.quantile(0.99),
        first_error,
    }
}

/// A kept-alive HTTP/1.1 connection cycling through prepared GET requests.
#[derive(Debug)]
pub(crate) struct HttpGet {
    stream: BufReader<TcpStream>,
    requests: Arc<Vec<Vec<u8>>>,
    offset: u64,
    line: String,
    body: Vec<u8>,
}

impl HttpGet {
    /// `offset` staggers the connections over the request list.
    pub(crate) async fn connect(
        addr: SocketAddr,
        requests: Arc<Vec<Vec<u8>>>,
        offset: u64,
    ) -> anyhow::Result<HttpGet> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(HttpGet {
            stream: BufReader::new(s),
            requests,
            offset,
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// GET requests for `paths` with a bearer token.
    pub(crate) fn requests(addr: SocketAddr, token: &str, paths: &[String]) -> Vec<Vec<u8>> {
        paths
            .iter()
            .map(|p| {
                format!("GET {p} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
                    .into_bytes()
            })
            .collect()
    }
}

impl Exchange for HttpGet {
    async fn call(&mut self, i: u64) -> anyhow::Result<()> {
        let n = self.requests.len() as u64;
        let req = &self.requests[((i + self.offset) % n.max(1)) as usize];
        self.stream.get_mut().write_all(req).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status = self.line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut len = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                bail!("connection closed inside the response headers");
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked responses are not supported by this load generator");
                }
            }
        }
        let len = len.context("response without Content-Length")?;
        self.body.resize(len, 0);
        self.stream.read_exact(&mut self.body).await?;
        if status != "200" {
            bail!(
                "status {status}: {}",
                String::from_utf8_lossy(&self.body[..len.min(200)])
            );
        }
        Ok(())
    }
}
