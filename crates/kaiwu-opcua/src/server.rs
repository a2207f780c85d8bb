//! A small OPC UA server for the plant simulator and tests: variables in folders
//! under Objects, values pushed with [`SimServer::set`], optional methods.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use opcua::{
    crypto::SecurityPolicy,
    nodes::{MethodBuilder, NodeType, VariableBuilder},
    server::{
        ANONYMOUS_USER_TOKEN_ID, ServerBuilder, ServerHandle, ServerUserToken,
        diagnostics::NamespaceMetadata,
        node_manager::memory::{SimpleNodeManager, simple_node_manager},
    },
    types::{
        Argument, DataEncoding, DataValue, DateTime, LocalizedText, MessageSecurityMode, NodeId,
        NumericRange, ObjectId, QualifiedName, StatusCode, TimestampsToReturn, Variant,
    },
};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    convert::{data_type_id, date_time_from_ms, from_variant, natural_variant, to_variant},
    error::{Error, Result},
    node_id::to_node_id,
    types::{DataType, Status, Val},
};

/// How the simulator listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Port 0 picks a free port; see [`SimServer::local_addr`].
    pub addr: SocketAddr,
    /// Server certificate and key are generated here on first start.
    pub pki_dir: PathBuf,
    pub namespace_uri: String,
    pub allow_anonymous: bool,
    pub users: Vec<(String, String)>,
    /// Also offer security None besides Basic256Sha256 Sign and SignAndEncrypt.
    pub security_none: bool,
}

/// One variable of the simulator.
#[derive(Debug, Clone)]
pub struct VarSpec {
    /// String id in our namespace, e.g. `ns=2;s=Mill1.Speed`.
    pub node: String,
    pub browse_name: String,
    /// Folder under Objects, created if missing; `a/b` nests folders.
    pub parent_folder: String,
    /// Also fixes the data type: Bool→Boolean, Int→Int64, Float→Double,
    /// String→String, Null→BaseDataType. Use [`SimServer::add_variable`] for others.
    pub initial: Val,
    pub writable: bool,
}

/// A method on an object or folder of the simulator.
#[derive(Debug, Clone)]
pub struct MethodSpec {
    /// Node id of the owning object or folder, e.g. `ns=2;s=Mill1`.
    pub object: String,
    pub node: String,
    pub browse_name: String,
    pub inputs: Vec<(String, DataType)>,
    pub outputs: Vec<(String, DataType)>,
}

/// A running simulator server. Dropping it stops it too, without waiting.
pub struct SimServer {
    handle: ServerHandle,
    nm: Arc<SimpleNodeManager>,
    task: Option<JoinHandle<()>>,
    addr: SocketAddr,
    url: String,
    ns: u16,
    types: Mutex<HashMap<NodeId, DataType>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer").field("url", &self.url).finish()
    }
}

impl SimServer {
    /// Binds `opts.addr`, builds the address space and starts serving.
    pub async fn start(opts: ServerOptions, vars: Vec<VarSpec>) -> Result<SimServer> {
        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| Error::Io {
                what: format!("bind opc ua server to {}", opts.addr),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            what: "read bound address".into(),
            source,
        })?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let url = format!("opc.tcp://{host}:{}/", addr.port());
        let (server, handle) = builder(&opts, host, addr.port(), &url)
            .build()
            .map_err(Error::Server)?;
        let nm = handle
            .node_managers()
            .get_of_type::<SimpleNodeManager>()
            .ok_or_else(|| Error::Server("simple node manager missing".into()))?;
        let ns = handle
            .get_namespace_index(&opts.namespace_uri)
            .ok_or_else(|| Error::Server(format!("namespace {} missing", opts.namespace_uri)))?;
        let task = tokio::spawn(async move {
            if let Err(e) = server.run_with(listener).await {
                tracing::error!(error = %e, "opc ua server stopped");
            }
        });
        let sim = SimServer {
            handle,
            nm,
            task: Some(task),
            addr,
            url,
            ns,
            types: Mutex::new(HashMap::new()),
        };
        for v in vars {
            let t = DataType::of(&v.initial);
            sim.add_variable(v, t)?;
        }
        Ok(sim)
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `opc.tcp://host:port/`.
    pub fn endpoint_url(&self) -> String {
        self.url.clone()
    }

    /// Index of our namespace; node ids of variables must use it.
    pub fn namespace_index(&self) -> u16 {
        self.ns
    }

    /// Adds a variable with an explicit data type (e.g. Int32, Float).
    pub fn add_variable(&self, v: VarSpec, data_type: DataType) -> Result<()> {
        let id = self.own_node(&v.node)?;
        let value = match &v.initial {
            Val::Null => Variant::Empty,
            val => to_variant(val, data_type).ok_or_else(|| Error::Conversion {
                node: v.node.clone(),
                value: val.to_string(),
                data_type: data_type.to_string(),
            })?,
        };
        let mut space = self.nm.address_space().write();
        let folder = ensure_folder(&mut space, self.ns, &v.parent_folder);
        let name = v.browse_name.as_str();
        let mut b = VariableBuilder::new(&id, QualifiedName::new(self.ns, name), name)
            .data_type(data_type_id(data_type))
            .value_rank(-1)
            .value(value)
            .organized_by(folder);
        if v.writable {
            b = b.writable();
        }
        if !b.insert(&mut *space) {
            return Err(Error::Server(format!("node {} already exists", v.node)));
        }
        self.lock_types().insert(id, data_type);
        Ok(())
    }

    /// Creates the folder path under Objects if missing; returns its node id string.
    pub fn ensure_folder(&self, path: &str) -> String {
        let mut space = self.nm.address_space().write();
        ensure_folder(&mut space, self.ns, path).to_string()
    }

    /// Pushes a new Good value; subscribed clients get a data change.
    ///
    /// async-opcua's server samples by source timestamp: a change stamped less
    /// than a client's sampling interval after the previous one is held back
    /// and re-stamped onto the sampling grid. Use increasing, current times.
    pub fn set(&self, node: &str, value: Val, source_ts_ms: i64) -> Result<()> {
        self.set_with_status(node, value, source_ts_ms, Status::Good)
    }

    /// Like [`SimServer::set`] with a chosen quality (Uncertain and Bad use
    /// UncertainLastUsableValue and BadSensorFailure).
    pub fn set_with_status(
        &self,
        node: &str,
        value: Val,
        source_ts_ms: i64,
        status: Status,
    ) -> Result<()> {
        let id = to_node_id(node)?;
        let t = *self
            .lock_types()
            .get(&id)
            .ok_or_else(|| Error::UnknownNode(node.to_owned()))?;
        let variant = match &value {
            Val::Null => Variant::Empty,
            v => to_variant(v, t).ok_or_else(|| Error::Conversion {
                node: node.to_owned(),
                value: v.to_string(),
                data_type: t.to_string(),
            })?,
        };
        let code = match status {
            Status::Good => StatusCode::Good,
            Status::Uncertain => StatusCode::UncertainLastUsableValue,
            Status::Bad => StatusCode::BadSensorFailure,
        };
        let dv = DataValue {
            value: Some(variant),
            status: Some(code),
            source_timestamp: Some(date_time_from_ms(source_ts_ms)),
            server_timestamp: Some(DateTime::now()),
            ..Default::default()
        };
        self.nm
            .set_value(self.handle.subscriptions(), &id, None, dv)
            .map_err(|c| Error::Server(format!("set {node}: {c}")))
    }

    /// Current value of a variable (e.g. what a client wrote).
    pub fn get(&self, node: &str) -> Option<Val> {
        let id = to_node_id(node).ok()?;
        let space = self.nm.address_space().read();
        match space.find(&id)? {
            NodeType::Variable(v) => {
                let dv = v.value(
                    TimestampsToReturn::Neither,
                    &NumericRange::None,
                    &DataEncoding::Binary,
                    0.0,
                );
                Some(dv.value.as_ref().map(from_variant).unwrap_or(Val::Null))
            }
            _ => None,
        }
    }

    /// Adds a method whose body is `f`. Inputs must match the declared count and
    /// types (else BadArgumentsMissing, BadTooManyArguments, BadTypeMismatch);
    /// outputs are converted to the declared output types; an `Err` from `f`
    /// becomes BadInvalidArgument for the caller.
    pub fn add_method<F>(&self, spec: MethodSpec, f: F) -> Result<()>
    where
        F: Fn(&[Val]) -> std::result::Result<Vec<Val>, String> + Send + Sync + 'static,
    {
        let object = to_node_id(&spec.object)?;
        let id = self.own_node(&spec.node)?;
        {
            let mut space = self.nm.address_space().write();
            if !space.node_exists(&object) {
                return Err(Error::UnknownNode(spec.object.clone()));
            }
            let name = spec.browse_name.as_str();
            let mut b = MethodBuilder::new(&id, QualifiedName::new(self.ns, name), name)
                .component_of(object)
                .executable(true)
                .user_executable(true);
            if !spec.inputs.is_empty() {
                let in_id = NodeId::new(self.ns, format!("{}#InputArguments", spec.node));
                b = b.input_args(&mut *space, &in_id, &arguments(&spec.inputs));
            }
            if !spec.outputs.is_empty() {
                let out_id = NodeId::new(self.ns, format!("{}#OutputArguments", spec.node));
                b = b.output_args(&mut *space, &out_id, &arguments(&spec.outputs));
            }
            if !b.insert(&mut *space) {
                return Err(Error::Server(format!("node {} already exists", spec.node)));
            }
        }
        let inputs: Vec<DataType> = spec.inputs.iter().map(|(_, t)| *t).collect();
        let outputs: Vec<DataType> = spec.outputs.iter().map(|(_, t)| *t).collect();
        let method = spec.node.clone();
        self.nm
            .inner()
            .add_method_callback(id, move |args: &[Variant]| {
                check_inputs(args, &inputs)?;
                let vals: Vec<Val> = args.iter().map(from_variant).collect();
                let outs = f(&vals).map_err(|msg| {
                    tracing::info!(method = %method, error = %msg, "simulated method refused call");
                    StatusCode::BadInvalidArgument
                })?;
                outs.iter()
                    .enumerate()
                    .map(|(i, v)| match outputs.get(i) {
                        Some(t) => to_variant(v, *t).ok_or(StatusCode::BadTypeMismatch),
                        None => Ok(natural_variant(v)),
                    })
                    .collect()
            });
        Ok(())
    }

    /// Stops serving: closes client connections and the listening port.
    pub async fn stop(mut self) {
        self.handle.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        // Connections close gracefully first; abort if that stalls.
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }

    fn own_node(&self, node: &str) -> Result<NodeId> {
        let id = to_node_id(node)?;
        if id.namespace != self.ns {
            return Err(Error::InvalidNodeId {
                input: node.to_owned(),
                reason: format!("must be in the server's namespace ns={}", self.ns),
            });
        }
        Ok(id)
    }

    fn lock_types(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, DataType>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.types.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.handle.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn builder(opts: &ServerOptions, host: String, port: u16, url: &str) -> ServerBuilder {
    let mut ids: Vec<String> = Vec::new();
    if opts.allow_anonymous {
        ids.push(ANONYMOUS_USER_TOKEN_ID.to_owned());
    }
    let mut b = ServerBuilder::new()
        .application_name("Kaiwu OPC UA simulator")
        .application_uri("urn:kaiwu:simulator")
        .product_uri("urn:kaiwu:simulator")
        .create_sample_keypair(true)
        .pki_dir(opts.pki_dir.clone())
        // The simulator is for demos and tests: any client certificate is accepted.
        .trust_client_certs(true)
        .host(host)
        .port(port)
        .discovery_urls(vec![url.to_owned()])
        .with_node_manager(simple_node_manager(
            NamespaceMetadata {
                namespace_uri: opts.namespace_uri.clone(),
                ..Default::default()
            },
            "kaiwu-sim",
        ));
    for (i, (user, pass)) in opts.users.iter().enumerate() {
        let id = format!("user{i}");
        b = b.add_user_token(
            id.clone(),
            ServerUserToken::user_pass(user.as_str(), pass.as_str()),
        );
        ids.push(id);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let policy = SecurityPolicy::Basic256Sha256;
    b = b
        .add_endpoint("sign", ("/", policy, MessageSecurityMode::Sign, &ids[..]))
        .add_endpoint(
            "sign_encrypt",
            ("/", policy, MessageSecurityMode::SignAndEncrypt, &ids[..]),
        );
    if opts.security_none {
        let none = (
            "/",
            SecurityPolicy::None,
            MessageSecurityMode::None,
            &ids[..],
        );
        b = b.add_endpoint("none", none);
    }
    b
}

fn ensure_folder(
    space: &mut opcua::server::address_space::AddressSpace,
    ns: u16,
    path: &str,
) -> NodeId {
    let mut parent: NodeId = ObjectId::ObjectsFolder.into();
    let mut acc = String::new();
    for seg in path.split('/').map(str::trim).filter(|s| !s.is_empty()) {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(seg);
        let id = NodeId::new(ns, acc.clone());
        if !space.node_exists(&id) {
            space.add_folder(&id, QualifiedName::new(ns, seg), seg, &parent);
        }
        parent = id;
    }
    parent
}

/// Refuses wrong argument counts and types, as strict real servers do.
fn check_inputs(args: &[Variant], declared: &[DataType]) -> std::result::Result<(), StatusCode> {
    if args.len() < declared.len() {
        return Err(StatusCode::BadArgumentsMissing);
    }
    if args.len() > declared.len() {
        return Err(StatusCode::BadTooManyArguments);
    }
    for (a, t) in args.iter().zip(declared) {
        // Exact type: converting our view back must give the same Variant.
        if *t != DataType::Any && to_variant(&from_variant(a), *t).as_ref() != Some(a) {
            return Err(StatusCode::BadTypeMismatch);
        }
    }
    Ok(())
}

fn arguments(args: &[(String, DataType)]) -> Vec<Argument> {
    args.iter()
        .map(|(name, t)| Argument {
            name: name.as_str().into(),
            data_type: data_type_id(*t),
            value_rank: -1,
            array_dimensions: None,
            description: LocalizedText::null(),
        })
        .collect()
}
