//! TLS for the MQTT listener (`[mqtts]`): the configured certificate and key, or a self-signed
//! pair generated into `<data-dir>/tls/` on first start (names: localhost, 127.0.0.1, ::1 and
//! the host name), so a TLS port works out of the box and clients can pin that certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{Error, Result};

fn tls_err(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("mqtts: {what}"))
}

/// Paths of the generated pair.
pub(crate) fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let d = data_dir.join("tls");
    (d.join("mqtt-cert.pem"), d.join("mqtt-key.pem"))
}

/// The acceptor for `cert`/`key` (PEM files), or for the generated pair when both are unset.
pub(crate) fn acceptor(
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
    device_ca: Arc<kaiwu_auth::DeviceCa>,
) -> Result<TlsAcceptor> {
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_owned(), k.to_owned()),
        (None, None) => ensure_generated(data_dir)?,
        _ => return Err(tls_err("set both mqtts.cert and mqtts.key, or neither")),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect())
        .map_err(|e| tls_err(format!("certificate {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(tls_err(format!("no certificate in {}", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| tls_err(format!("private key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = crate::client_auth::DeviceCertVerifier::new(device_ca, provider.clone());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn ensure_generated(data_dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = generated_paths(data_dir);
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_owned());
        }
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(tls_err)?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| tls_err(format!("{}: {e}", dir.display())))?;
    write_private(&key, ck.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, ck.cert.pem())
        .map_err(|e| tls_err(format!("{}: {e}", cert.display())))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for the mqtts listener");
    Ok((cert, key))
}

/// Write a secret readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))
}

/// Accept TLS connections and hand them to the broker.
pub(crate) async fn serve<H: kaiwu_mqtt::broker::Hooks>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    broker: kaiwu_mqtt::broker::Broker<H>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "mqtts accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, broker) = (acceptor.clone(), broker.clone());
        tokio::spawn(async move {
            let hs = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            match hs.await {
                Ok(Ok(tls)) => {
                    // A verified client certificate is the device's identity, by fingerprint.
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| kaiwu_auth::cert_fingerprint(c.as_ref()));
                    broker.handle_connection(tls, peer, identity).await
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "mqtts handshake failed"),
                Err(_) => tracing::info!(%peer, "mqtts handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_refuses_half_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(kaiwu_auth::DeviceCa::open(&dir.path().join("ca")).unwrap());
        let acceptor = |d: &Path, c: Option<&Path>, k: Option<&Path>| acceptor(d, c, k, ca.clone());
        acceptor(dir.path(), None, None).unwrap();
        let (cert, key) = generated_paths(dir.path());
        let first = std::fs::read(&cert).unwrap();
        acceptor(dir.path(), None, None).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first, "kept across starts");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key readable by the owner only");
        assert!(acceptor(dir.path(), Some(&cert), None).is_err());
        acceptor(dir.path(), Some(&cert), Some(&key)).unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        assert!(acceptor(dir.path(), Some(&junk), Some(&key)).is_err());
    }
}
