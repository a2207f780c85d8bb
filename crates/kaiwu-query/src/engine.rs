//! The engine: a dedicated runtime, limits, and the two entry points.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::history::{History, HistoryRequest};
use crate::output::QueryOutput;
use crate::session::{Tenant, session};
use crate::{Catalog, Error, Result, guard};

/// Extra time the caller waits beyond the limit before giving up on a query that does not
/// yield; the query's own timer normally fires first.
const GRACE: Duration = Duration::from_millis(200);

/// Longest SQL text accepted.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Limits of one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Wall-clock time from planning to the last row (default 30 s).
    pub timeout: Duration,
    /// Memory one query may hold (default 512 MiB). Queries never spill to disk.
    pub memory_bytes: usize,
    /// Most rows returned as JSON (default 100 000); also the most points per key in history.
    pub max_json_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            max_json_rows: 100_000,
        }
    }
}

/// SQL and history over the time-series engine. Owns a runtime of its own (2 worker threads
/// named `kaiwu-query`) so that CPU-heavy queries never stall the API or ingest.
pub struct QueryEngine {
    inner: Arc<Inner>,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) limits: QueryLimits,
    pub(crate) footers: Arc<datafusion::execution::cache::cache_manager::FileMetadataCache>,
}

impl Inner {
    /// Classifies a DataFusion error, naming this engine's memory limit.
    pub(crate) fn df_err(&self, e: DataFusionError) -> Error {
        Error::from_datafusion(e, self.limits.memory_bytes)
    }

    fn tenant(&self, tenant: &str) -> Arc<Tenant> {
        Arc::new(Tenant {
            id: tenant.to_owned(),
            catalog: Arc::clone(&self.catalog),
        })
    }

    async fn sql(self: Arc<Self>, tenant: Arc<Tenant>, sql: String) -> Result<QueryOutput> {
        guard::check_text(&sql)?;
        let (ctx, _) = session(&tenant, &self.limits, &self.footers).await?;
        let state = ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let stmt = state
            .sql_to_statement(&sql, &dialect)
            .map_err(|e| self.df_err(e))?;
        guard::check_statement(&stmt)?;
        let plan = state
            .statement_to_plan(stmt)
            .await
            .map_err(|e| self.df_err(e))?;
        // Queries only: no CREATE/INSERT/COPY/SET/... (what `sql_with_options` checks).
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| self.df_err(e))?;
        let df = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.df_err(e))?;
        let plan = df
            .create_physical_plan()
            .await
            .map_err(|e| self.df_err(e))?;
        let schema = plan.schema();
        let batches = collect_within(plan, &ctx)
            .await
            .map_err(|e| self.df_err(e))?;
        Ok(QueryOutput { schema, batches })
    }
}

/// Runs `plan` to the end; the collected result counts against the query's memory pool too.
pub(crate) async fn collect_within(
    plan: Arc<dyn ExecutionPlan>,
    ctx: &SessionContext,
) -> datafusion::error::Result<Vec<RecordBatch>> {
    let reservation = MemoryConsumer::new("query result").register(&ctx.runtime_env().memory_pool);
    let mut stream = execute_stream(plan, ctx.task_ctx())?;
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        let b = b?;
        // Slices of shared buffers (rows still in memory) count only their own bytes.
        let bytes = b
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
            .sum();
        reservation.try_grow(bytes)?;
        batches.push(b);
    }
    Ok(batches)
}

/// Aborts the query's task when the caller stops waiting (e.g. the HTTP client went away).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl QueryEngine {
    /// An engine over `catalog`.
    pub fn new(catalog: Arc<dyn Catalog>, limits: QueryLimits) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kaiwu-query")
            // Planning and freeing SQL trees recurse; `guard` bounds their depth to fit.
            .thread_stack_size(16 << 20)
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("query runtime: {e}")))?;
        Ok(QueryEngine {
            inner: Arc::new(Inner {
                catalog,
                limits,
                footers: crate::session::metadata_cache(),
            }),
            runtime: Some(runtime),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryLimits {
        &self.inner.limits
    }

    /// Runs one SQL query (a single SELECT, EXPLAIN, SHOW, ...) over `tenant`'s tables. Like
    /// [`Self::history`], await it inside a Tokio runtime with timers enabled.
    pub async fn sql(&self, tenant: &str, sql: &str) -> Result<QueryOutput> {
        if sql.len() > MAX_SQL_BYTES {
            return Err(Error::Invalid(format!(
                "the SQL text is longer than {MAX_SQL_BYTES} bytes"
            )));
        }
        let inner = Arc::clone(&self.inner);
        let tenant = inner.tenant(tenant);
        let sql = sql.to_owned();
        let id = tenant.id.clone();
        let out = self.run(inner.sql(tenant, sql)).await;
        match &out {
            Ok(o) => tracing::debug!(tenant = %id, rows = o.num_rows(), "query done"),
            Err(e) => tracing::debug!(tenant = %id, error = %e, "query failed"),
        }
        out
    }

    /// History of one device (`GET /api/devices/{id}/telemetry`).
    pub async fn history(
        &self,
        tenant: &str,
        device: &str,
        req: HistoryRequest,
    ) -> Result<History> {
        let inner = Arc::clone(&self.inner);
        let tenant = inner.tenant(tenant);
        self.run(inner.history(tenant, device.to_owned(), req))
            .await
    }

    /// Runs `fut` on the query runtime under the time limit.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let limit = self.inner.limits.timeout;
        let timeout = move || Error::Timeout {
            secs: limit.as_secs_f64(),
        };
        let task = self.handle()?.spawn(async move {
            // Dropping the future on timeout cancels every operator of the query.
            tokio::time::timeout(limit, fut)
                .await
                .unwrap_or_else(|_| Err(timeout()))
        });
        let mut task = AbortOnDrop(task);
        // The caller's own deadline answers on time even when an operator computes for long
        // between two yields (the inner timer cannot fire then); the task is aborted on drop.
        match tokio::time::timeout(limit + GRACE, &mut task.0).await {
            Ok(done) => done.map_err(|e| Error::Internal(format!("query task failed: {e}")))?,
            Err(_) => Err(timeout()),
        }
    }

    fn handle(&self) -> Result<Handle> {
        self.runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| Error::Internal("query runtime is shut down".into()))
    }
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code; this does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
