//! The OPC UA client: one session, driven by our own task so a dead server ends it.

use std::{
    future::Future,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use opcua::{
    client::{
        ClientBuilder, IdentityToken, Session, SessionActivity, SessionEventLoop, SessionPollResult,
    },
    crypto::{CertificateStore, SecurityPolicy, X509},
    types::{EndpointDescription, MessageSecurityMode, StatusCode},
};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
};

use crate::{
    convert::status_name,
    error::{Error, Result},
    types::{ClientOptions, Identity, Security},
};

/// Consecutive failed keep-alives after which the session counts as dead.
const MAX_FAILED_KEEP_ALIVES: u64 = 3;

/// Connection state shared with the driver task and subscription forwarders.
pub(crate) struct Shared {
    pub(crate) connected: AtomicBool,
    /// Flips to true once the session is over; forwarders then drop their senders.
    pub(crate) dead: watch::Sender<bool>,
}

/// A connected OPC UA session. Drop it and connect again after any error.
pub struct Client {
    pub(crate) session: Arc<Session>,
    pub(crate) shared: Arc<Shared>,
    driver: JoinHandle<()>,
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
    pub(crate) next_handle: AtomicU32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Client {
    /// Picks the server endpoint matching `security`, opens the channel and
    /// activates the session, all within `opts.timeout`.
    pub async fn connect(opts: ClientOptions) -> Result<Client> {
        let endpoint = opts.endpoint.trim().to_owned();
        if !endpoint.starts_with("opc.tcp://") {
            return Err(Error::Config(format!(
                "endpoint {endpoint:?} must start with opc.tcp://"
            )));
        }
        prepare_pki(&opts.pki_dir)?;
        let mut ua = ClientBuilder::new()
            .application_name(opts.application_name.clone())
            .application_uri(format!("urn:kaiwu:{}", uri_safe(&opts.application_name)))
            .product_uri("urn:kaiwu")
            .create_sample_keypair(true)
            .pki_dir(opts.pki_dir.clone())
            .trust_server_certs(opts.trust_server_certs)
            // Reconnects are the platform connector's job; see the crate docs.
            .session_retry_limit(0)
            .request_timeout(opts.timeout)
            .keep_alive_interval(
                opts.timeout
                    .clamp(Duration::from_secs(1), Duration::from_secs(5)),
            )
            .max_failed_keep_alive_count(MAX_FAILED_KEEP_ALIVES)
            .client()
            .map_err(|errs| Error::Config(errs.join("; ")))?;

        let chosen = bounded(
            "get endpoints",
            &endpoint,
            opts.timeout,
            ua.get_server_endpoints_from_url(endpoint.as_str()),
        )
        .await?
        .map_err(|e| Error::Connect {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        })
        .and_then(|eps| pick_endpoint(eps, &endpoint, opts.security))?;

        let server_cert = X509::from_byte_string(&chosen.server_certificate)
            .ok()
            .map(|c| CertificateStore::cert_file_name(&c));
        let token = match &opts.identity {
            Identity::Anonymous => IdentityToken::Anonymous,
            Identity::UserPassword { user, password } => {
                IdentityToken::UserName(user.clone(), password.clone().into())
            }
        };
        let (session, event_loop) =
            ua.connect_to_endpoint_directly(chosen, token)
                .map_err(|e| Error::Connect {
                    endpoint: endpoint.clone(),
                    message: e.to_string(),
                })?;
        session.disable_reconnects();

        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            dead: watch::channel(false).0,
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        let driver = tokio::spawn(drive(
            event_loop,
            shared.clone(),
            ready_tx,
            endpoint.clone(),
        ));
        let client = Client {
            session,
            shared,
            driver,
            endpoint: endpoint.clone(),
            timeout: opts.timeout,
            next_handle: AtomicU32::new(1),
        };
        match bounded("connect", &endpoint, opts.timeout, ready_rx).await? {
            Ok(Ok(())) => Ok(client),
            Ok(Err(code)) => Err(connect_error(
                &opts,
                &endpoint,
                code,
                server_cert.as_deref(),
            )),
            Err(_) => Err(Error::Connect {
                endpoint,
                message: "session task ended".into(),
            }),
        }
    }

    /// False once the session ended (server gone, keep-alives failed, closed).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// The endpoint URL this client was given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Closes the session politely (bounded by the timeout) and stops the driver.
    pub async fn disconnect(self) {
        let _ = tokio::time::timeout(self.timeout, self.session.disconnect()).await;
    }

    pub(crate) fn ensure_connected(&self) -> Result<()> {
        if self.is_connected() {
            Ok(())
        } else {
            Err(Error::NotConnected(self.endpoint.clone()))
        }
    }

    /// Runs a request with an outer bound, in case the inner request timeout never fires.
    pub(crate) async fn request<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, opcua::types::Error>>,
    ) -> Result<T> {
        self.ensure_connected()?;
        let limit = self.timeout + Duration::from_secs(1);
        bounded(op, &self.endpoint, limit, fut)
            .await?
            .map_err(|e| Error::Service {
                op,
                message: e.to_string(),
            })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.driver.abort();
        self.shared.connected.store(false, Ordering::Release);
        self.shared.dead.send_replace(true);
    }
}

/// Drives the session until it ends. With reconnects disabled, a closed
/// transport ends the stream instead of starting async-opcua's retry loop.
async fn drive(
    event_loop: SessionEventLoop<opcua::client::transport::TcpConnector>,
    shared: Arc<Shared>,
    ready: oneshot::Sender<Result<(), StatusCode>>,
    endpoint: String,
) {
    let mut ready = Some(ready);
    let mut failed_keep_alives = 0;
    let stream = event_loop.enter();
    futures::pin_mut!(stream);
    let end = loop {
        match stream.next().await {
            Some(Ok(SessionPollResult::Reconnected(_))) => {
                shared.connected.store(true, Ordering::Release);
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
            }
            Some(Ok(SessionPollResult::SessionActivity(SessionActivity::KeepAliveSucceeded))) => {
                failed_keep_alives = 0;
            }
            // A silent peer keeps the socket open; give up ourselves rather than
            // rely on async-opcua's polite close, which must talk to that peer.
            Some(Ok(SessionPollResult::SessionActivity(SessionActivity::KeepAliveFailed(
                code,
            )))) => {
                failed_keep_alives += 1;
                if failed_keep_alives >= MAX_FAILED_KEEP_ALIVES {
                    break code;
                }
            }
            Some(Ok(SessionPollResult::ConnectionLost(code))) => break code,
            Some(Ok(_)) => {}
            Some(Err(code)) => break code,
            None => break StatusCode::BadConnectionClosed,
        }
    };
    shared.connected.store(false, Ordering::Release);
    shared.dead.send_replace(true);
    match ready.take() {
        Some(r) => {
            let _ = r.send(Err(end));
        }
        None => tracing::warn!(endpoint = %endpoint, status = %end, "opc ua session ended"),
    }
}

pub(crate) async fn bounded<T>(
    op: &'static str,
    endpoint: &str,
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout {
            op,
            endpoint: endpoint.to_owned(),
            ms: limit.as_millis(),
        })
}

fn policy_and_mode(s: Security) -> (SecurityPolicy, MessageSecurityMode) {
    match s {
        Security::None => (SecurityPolicy::None, MessageSecurityMode::None),
        Security::Sign => (SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign),
        Security::SignAndEncrypt => (
            SecurityPolicy::Basic256Sha256,
            MessageSecurityMode::SignAndEncrypt,
        ),
    }
}

/// Chooses the server endpoint for our security and points it at the URL we
/// were given, since servers often advertise a host name we cannot reach.
fn pick_endpoint(
    eps: Vec<EndpointDescription>,
    endpoint: &str,
    security: Security,
) -> Result<EndpointDescription> {
    let (policy, mode) = policy_and_mode(security);
    let offered: Vec<String> = eps
        .iter()
        .map(|e| {
            let p = SecurityPolicy::from_uri(e.security_policy_uri.as_ref());
            format!("{}/{}", p.to_str(), e.security_mode)
        })
        .collect();
    let mut chosen = eps
        .into_iter()
        .filter(|e| {
            e.security_mode == mode
                && SecurityPolicy::from_uri(e.security_policy_uri.as_ref()) == policy
        })
        .max_by_key(|e| e.security_level)
        .ok_or_else(|| Error::NoMatchingEndpoint {
            endpoint: endpoint.to_owned(),
            security: format!("{security} (offered: {})", offered.join(", ")),
        })?;
    chosen.endpoint_url = endpoint.into();
    Ok(chosen)
}

fn connect_error(
    opts: &ClientOptions,
    endpoint: &str,
    code: StatusCode,
    server_cert: Option<&str>,
) -> Error {
    let endpoint = endpoint.to_owned();
    let rejected_dir = opts.pki_dir.join("rejected");
    // async-opcua files an untrusted server certificate under rejected/ by name.
    let in_rejected = server_cert.is_some_and(|f| rejected_dir.join(f).exists());
    if opts.security != Security::None && in_rejected {
        return Error::ServerCertRejected {
            endpoint,
            rejected_dir,
        };
    }
    let auth = [
        StatusCode::BadUserAccessDenied,
        StatusCode::BadIdentityTokenRejected,
        StatusCode::BadIdentityTokenInvalid,
    ];
    if auth.iter().any(|c| same(code, *c)) {
        return Error::AuthRejected {
            endpoint,
            identity: opts.identity.to_string(),
            status: status_name(code),
        };
    }
    let cert_trouble = [
        StatusCode::BadSecurityChecksFailed,
        StatusCode::BadCertificateUntrusted,
        StatusCode::BadCertificateInvalid,
    ];
    let message = if cert_trouble.iter().any(|c| same(code, *c)) {
        format!(
            "{}; the server may not trust our certificate {}",
            status_name(code),
            opts.pki_dir.join("own").join("cert.der").display()
        )
    } else {
        status_name(code)
    };
    Error::Connect { endpoint, message }
}

/// Same code, ignoring the info bits in the low half.
fn same(a: StatusCode, b: StatusCode) -> bool {
    a.bits() & 0xFFFF_0000 == b.bits() & 0xFFFF_0000
}

fn prepare_pki(dir: &Path) -> Result<()> {
    for sub in ["own", "private", "trusted", "rejected"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            what: format!("create pki folder {}", path.display()),
            source,
        })?;
    }
    Ok(())
}

pub(crate) fn uri_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "client".into() } else { s }
}
