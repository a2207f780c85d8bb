//! The MQTT port is bound and reported from the first release so that deployments and tests can
//! rely on the address; until the embedded broker lands, a client's CONNECT is answered with the
//! protocol's own "server unavailable" refusal (3.1.1 return code 3, MQTT 5 reason 0x88) instead
//! of a silent hang.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A CONNECT larger than this is not read: the answer does not depend on its tail.
const MAX_CONNECT: usize = 64 * 1024;

pub(crate) async fn run(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(async move {
                    if let Err(e) =
                        tokio::time::timeout(Duration::from_secs(10), refuse(stream)).await
                    {
                        tracing::debug!(%peer, error = %e, "mqtt client gave up");
                    }
                    tracing::info!(%peer, "mqtt connection refused: broker not available in this build");
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "mqtt accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn refuse(mut s: TcpStream) -> std::io::Result<()> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await?;
    if b[0] != 0x10 {
        return Ok(()); // Not CONNECT: the spec says close.
    }
    let mut len = 0usize;
    for i in 0..4 {
        s.read_exact(&mut b).await?;
        len |= usize::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut head = vec![0u8; len.min(MAX_CONNECT).min(16)];
    s.read_exact(&mut head).await?;
    let level = protocol_level(&head);
    let connack: &[u8] = if level == Some(5) {
        &[0x20, 0x03, 0x00, 0x88, 0x00]
    } else {
        &[0x20, 0x02, 0x00, 0x03]
    };
    s.write_all(connack).await?;
    s.shutdown().await
}

/// The protocol level byte after the length-prefixed protocol name.
fn protocol_level(head: &[u8]) -> Option<u8> {
    let n = usize::from(u16::from_be_bytes([*head.first()?, *head.get(1)?]));
    head.get(2 + n).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_parsing_is_bounded() {
        assert_eq!(protocol_level(&[0, 4, b'M', b'Q', b'T', b'T', 5]), Some(5));
        assert_eq!(protocol_level(&[0, 4, b'M', b'Q', b'T', b'T', 4]), Some(4));
        assert_eq!(protocol_level(&[0, 200, 1]), None);
        assert_eq!(protocol_level(&[]), None);
    }
}
