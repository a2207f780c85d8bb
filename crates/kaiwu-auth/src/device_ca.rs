//! Per-tenant certificate authorities for device client certificates (MQTT over TLS with a
//! client certificate instead of an access token). Each tenant's CA is created on first use
//! under `<dir>/<tenant>/` (ECDSA P-256; the key readable by the owner only) and signs device
//! certificates from certificate signing requests: subject CN = the device id whatever the
//! request asked, client authentication only, one year. The broker trusts every tenant's CA and
//! identifies a device by its certificate's SHA-256 fingerprint, which the registry keeps, so
//! issuing a new certificate retires the old one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Largest accepted certificate signing request (PEM).
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// Validity of a device certificate, days.
const DEVICE_DAYS: i64 = 365;
/// Validity of a tenant CA, days.
const CA_DAYS: i64 = 3650;

/// A signed device certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub certificate: String,
    /// The tenant CA that signed it, PEM (what the device trusts nothing of; for its records).
    pub ca: String,
    /// Hex SHA-256 of the certificate's DER: how the broker recognises it.
    pub sha256: String,
    /// End of validity, epoch ms.
    pub not_after_ms: i64,
}

struct TenantCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    key: KeyPair,
}

/// The CAs of all tenants, under one directory.
pub struct DeviceCa {
    dir: PathBuf,
    cas: Mutex<HashMap<String, Arc<TenantCa>>>,
    /// Bumped whenever a CA is added, so trust stores know to rebuild.
    generation: AtomicU64,
}

impl std::fmt::Debug for DeviceCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn ca_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Ca {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Civil date of an epoch day (proleptic Gregorian), for certificate validity.
fn ymd(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

fn validity(params: &mut CertificateParams, days: i64) -> i64 {
    let today = kaiwu_core::now_ms().div_euclid(86_400_000);
    // A day of slack before now for devices whose clocks run behind.
    let (y, m, d) = ymd(today - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(today + days);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    (today + days) * 86_400_000
}

impl DeviceCa {
    /// The CAs under `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| ca_err(dir, e))?;
        let ca = Self {
            dir: dir.to_owned(),
            cas: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        };
        for entry in std::fs::read_dir(dir).map_err(|e| ca_err(dir, e))? {
            let entry = entry.map_err(|e| ca_err(dir, e))?;
            if let Some(t) = entry.file_name().to_str().filter(|_| entry.path().is_dir()) {
                ca.tenant(t)?;
            }
        }
        Ok(ca)
    }

    /// Changes whenever a tenant CA is added.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// DER of every tenant CA certificate: the broker's trust anchors for client certificates.
    pub fn roots(&self) -> Vec<Vec<u8>> {
        self.cas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.cert_der.clone())
            .collect()
    }

    /// The CA certificate of `tenant` (PEM), created on first use.
    pub fn ca_pem(&self, tenant: &str) -> Result<String> {
        Ok(self.tenant(tenant)?.cert_pem.clone())
    }

    fn tenant(&self, tenant: &str) -> Result<Arc<TenantCa>> {
        kaiwu_core::validate_tenant_id(tenant).map_err(|e| Error::Csr(e.to_string()))?;
        let mut cas = self.cas.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cas.get(tenant) {
            return Ok(c.clone());
        }
        let dir = self.dir.join(tenant);
        let (cert_path, key_path) = (dir.join("ca-cert.pem"), dir.join("ca-key.pem"));
        let ca = if cert_path.exists() && key_path.exists() {
            let cert_pem =
                std::fs::read_to_string(&cert_path).map_err(|e| ca_err(&cert_path, e))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(|e| ca_err(&key_path, e))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| ca_err(&key_path, e))?;
            let der =
                rustls_pem_der(&cert_pem).ok_or_else(|| ca_err(&cert_path, "no certificate"))?;
            TenantCa {
                cert_pem,
                cert_der: der,
                key,
            }
        } else {
            let key = KeyPair::generate().map_err(|e| ca_err(&key_path, e))?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, format!("Kaiwu device CA {tenant}"));
            dn.push(DnType::OrganizationName, "Kaiwu");
            dn.push(DnType::OrganizationalUnitName, tenant);
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            validity(&mut params, CA_DAYS);
            let cert = params
                .self_signed(&key)
                .map_err(|e| ca_err(&cert_path, e))?;
            std::fs::create_dir_all(&dir).map_err(|e| ca_err(&dir, e))?;
            write_private(&key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, cert.pem()).map_err(|e| ca_err(&cert_path, e))?;
            tracing::info!(tenant, path = %cert_path.display(), "created the tenant's device CA");
            TenantCa {
                cert_pem: cert.pem(),
                cert_der: cert.der().to_vec(),
                key,
            }
        };
        let ca = Arc::new(ca);
        cas.insert(tenant.to_owned(), ca.clone());
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(ca)
    }

    /// Sign `csr_pem` as the client certificate of `device` in `tenant`.
    pub fn sign(&self, tenant: &str, device: &str, csr_pem: &str) -> Result<Issued> {
        if csr_pem.len() > MAX_CSR_BYTES {
            return Err(Error::Csr(format!("larger than {MAX_CSR_BYTES} bytes")));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| Error::Csr(e.to_string()))?;
        let ca = self.tenant(tenant)?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca.key)
            .map_err(|e| ca_err(&self.dir.join(tenant), e))?;
        let p = &mut csr.params;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device);
        dn.push(DnType::OrganizationalUnitName, tenant);
        p.distinguished_name = dn;
        p.subject_alt_names.clear();
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| Error::Csr(e.to_string()))?;
        serial[0] &= 0x7f;
        p.serial_number = Some(serial.to_vec().into());
        let not_after_ms = validity(p, DEVICE_DAYS);
        let cert = csr
            .signed_by(&issuer)
            .map_err(|e| Error::Csr(e.to_string()))?;
        Ok(Issued {
            certificate: cert.pem(),
            ca: ca.cert_pem.clone(),
            sha256: fingerprint(cert.der()),
            not_after_ms,
        })
    }
}

/// Hex SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The DER of the first certificate in a PEM text.
fn rustls_pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ca_err(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| ca_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(cn: &str) -> String {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn signs_with_the_device_id_and_reloads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DeviceCa::open(dir.path()).unwrap();
        assert!(ca.roots().is_empty());
        let issued = ca
            .sign("acme", "press-1", &csr("whatever-they-asked"))
            .unwrap();
        assert!(
            issued
                .certificate
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(issued.sha256.len(), 64);
        assert_eq!(ca.roots().len(), 1);
        assert!(ca.generation() > 0);
        let again = DeviceCa::open(dir.path()).unwrap();
        assert_eq!(again.ca_pem("acme").unwrap(), issued.ca);
        let other = again.sign("acme", "press-1", &csr("x")).unwrap();
        assert_ne!(
            other.sha256, issued.sha256,
            "each issue is a new certificate"
        );
        assert!(matches!(
            ca.sign("acme", "d", "not a csr"),
            Err(Error::Csr(_))
        ));
        assert!(matches!(
            ca.sign("../etc", "d", &csr("x")),
            Err(Error::Csr(_))
        ));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(ymd(0), (1970, 1, 1));
        assert_eq!(ymd(19_723), (2024, 1, 1));
        assert_eq!(ymd(20_513), (2026, 3, 1));
    }
}
