//! Client certificates on the mqtts listener: optional (devices may log in with an access
//! token instead), and when presented they must chain to one of the tenants' device CAs. New
//! tenant CAs appear while the node runs, so the trust store is rebuilt when the CA set changes.

use std::sync::{Arc, Mutex, PoisonError};

use kaiwu_auth::DeviceCa;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

/// Verifies client certificates against the current tenant CAs.
pub(crate) struct DeviceCertVerifier {
    ca: Arc<DeviceCa>,
    provider: Arc<CryptoProvider>,
    algs: WebPkiSupportedAlgorithms,
    /// The verifier for the CA generation it was built for.
    inner: Mutex<Option<(u64, Arc<dyn ClientCertVerifier>)>>,
}

impl std::fmt::Debug for DeviceCertVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceCertVerifier")
    }
}

impl DeviceCertVerifier {
    pub(crate) fn new(ca: Arc<DeviceCa>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            algs: provider.signature_verification_algorithms,
            ca,
            provider,
            inner: Mutex::new(None),
        }
    }

    fn current(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let generation = self.ca.generation();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((g, v)) = inner.as_ref()
            && *g == generation
        {
            return Ok(v.clone());
        }
        let mut roots = RootCertStore::empty();
        for der in self.ca.roots() {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| rustls::Error::General(format!("device CA: {e}")))?;
        }
        let v: Arc<dyn ClientCertVerifier> = if roots.is_empty() {
            WebPkiClientVerifier::no_client_auth()
        } else {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| rustls::Error::General(format!("device CA: {e}")))?
        };
        *inner = Some((generation, v.clone()));
        Ok(v)
    }
}

impl ClientCertVerifier for DeviceCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a device has one certificate and sends it.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let v = self.current()?;
        if !v.offer_client_auth() {
            return Err(rustls::Error::General(
                "no device certificate has been issued on this node".into(),
            ));
        }
        v.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
