//! Schema migrations, applied in order inside one transaction each; `user_version` records how
//! far a database has come. Never edit a released migration: append a new one.

use rusqlite::Connection;

use crate::Result;

const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    r#"
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(id),
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        clearance INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        tokens_after_ms INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX users_by_tenant ON users(tenant);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(id),
        username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        roles TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER
    );
    CREATE INDEX api_keys_by_tenant ON api_keys(tenant);
    CREATE TABLE device_types (
        tenant TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE device_type_versions (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, id, version)
    );
    CREATE TABLE property_usage (
        tenant TEXT NOT NULL,
        type_id TEXT NOT NULL,
        property TEXT NOT NULL,
        first_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, type_id, property)
    );
    CREATE TABLE assets (
        tenant TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        description TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, parent) REFERENCES assets(tenant, id)
    );
    CREATE INDEX assets_by_parent ON assets(tenant, parent);
    CREATE TABLE devices (
        tenant TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        asset TEXT,
        labels TEXT NOT NULL,
        token_hash TEXT UNIQUE,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, type) REFERENCES device_types(tenant, id),
        FOREIGN KEY (tenant, asset) REFERENCES assets(tenant, id)
    );
    CREATE INDEX devices_by_type ON devices(tenant, type);
    CREATE INDEX devices_by_asset ON devices(tenant, asset);
    "#,
    // 2: retention policies; type_id '' is the tenant default
    r#"
    CREATE TABLE retention (
        tenant TEXT NOT NULL REFERENCES tenants(id),
        type_id TEXT NOT NULL,
        keep_days INTEGER NOT NULL,
        PRIMARY KEY (tenant, type_id)
    );
    "#,
    // 3: device shadows (attributes; presence is kept in memory by the node)
    r#"
    CREATE TABLE shadows (
        tenant TEXT NOT NULL,
        device TEXT NOT NULL,
        reported TEXT NOT NULL,
        desired TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, device),
        FOREIGN KEY (tenant, device) REFERENCES devices(tenant, id) ON DELETE CASCADE
    );
    "#,
    // 4: southbound connectors (`doc` is the whole JSON config, checked by kaiwu-connect);
    // fingerprints of device client certificates
    r#"
    CREATE TABLE connectors (
        tenant TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        doc TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    ALTER TABLE devices ADD COLUMN cert_sha256 TEXT;
    CREATE UNIQUE INDEX devices_by_cert ON devices(cert_sha256);
    "#,
];

/// Bring the database up to the latest schema.
pub(crate) fn run(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(crate::Error::Invalid(format!(
            "registry schema {current} is newer than this build understands ({}); upgrade kaiwu",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
        tracing::info!(version = i + 1, "registry schema migrated");
    }
    Ok(())
}

/// Latest schema version this build knows.
#[cfg(test)]
pub(crate) fn latest() -> usize {
    MIGRATIONS.len()
}
