//! Listeners. An unspecified IPv6 address (`[::]`) also accepts IPv4 (dual-stack), whatever the
//! OS default for IPV6_V6ONLY is.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;

use crate::{Error, Result};

/// Bind a TCP listener for `what` on `addr`.
pub(crate) fn bind(what: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let err = |source| Error::Listen {
        what,
        addr: addr.to_string(),
        source,
    };
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        sock.set_only_v6(false).map_err(err)?;
    }
    sock.set_reuse_address(true).map_err(err)?;
    sock.set_nonblocking(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    sock.listen(1024).map_err(err)?;
    tokio::net::TcpListener::from_std(sock.into()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dual_stack_accepts_ipv4() {
        let Ok(l) = bind("test", "[::]:0".parse().unwrap()) else {
            return; // No IPv6 on this host: nothing to prove.
        };
        let port = l.local_addr().unwrap().port();
        let c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
        assert!(c.is_ok(), "IPv4 client refused by [::] listener");
    }

    #[test]
    fn taken_port_is_a_clear_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let a = bind("http", "127.0.0.1:0".parse().unwrap()).unwrap();
        let e = bind("http", a.local_addr().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot listen for http on 127.0.0.1:"), "{e}");
    }
}
