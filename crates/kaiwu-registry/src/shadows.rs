//! Device shadows: attributes reported by the device and desired by the platform, free-form JSON
//! objects kept per device (interfaces.md section 4). Updates merge like JSON Merge Patch
//! (RFC 7396) at the top level: a key set to `null` is removed. Presence (online, last seen) is
//! not stored here: it changes with every message and the node keeps it in memory.

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use kaiwu_core::now_ms;

use crate::{Error, Registry, Result};

/// Largest serialized size of one side (reported or desired) of a shadow.
pub const MAX_SHADOW_BYTES: usize = 64 * 1024;

/// The stored attributes of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shadow {
    /// Reported by the device.
    pub reported: Map<String, Value>,
    /// Desired by the platform.
    pub desired: Map<String, Value>,
    /// Incremented by every change.
    pub version: i64,
    /// Epoch ms of the last change (0: never changed).
    pub updated_ms: i64,
}

fn merge(into: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn parse(s: &str) -> rusqlite::Result<Map<String, Value>> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Registry {
    /// A device's shadow (empty if nothing was ever reported or desired).
    pub fn shadow(&self, tenant: &str, device: &str) -> Result<Shadow> {
        self.device(tenant, device)?;
        let s = self
            .conn()
            .query_row(
                "SELECT reported, desired, version, updated_ms FROM shadows \
                 WHERE tenant = ?1 AND device = ?2",
                [tenant, device],
                |r| {
                    Ok(Shadow {
                        reported: parse(&r.get::<_, String>(0)?)?,
                        desired: parse(&r.get::<_, String>(1)?)?,
                        version: r.get(2)?,
                        updated_ms: r.get(3)?,
                    })
                },
            )
            .optional()?;
        Ok(s.unwrap_or_default())
    }

    /// Merge `patch` into the reported (`desired == false`) or desired attributes; returns the
    /// new shadow. Refused when the result would exceed [`MAX_SHADOW_BYTES`].
    pub fn merge_shadow(
        &self,
        tenant: &str,
        device: &str,
        desired: bool,
        patch: &Map<String, Value>,
    ) -> Result<Shadow> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM devices WHERE tenant = ?1 AND id = ?2",
                [tenant, device],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(Error::not_found("device", device));
        }
        let cur = tx
            .query_row(
                "SELECT reported, desired, version FROM shadows WHERE tenant = ?1 AND device = ?2",
                [tenant, device],
                |r| {
                    Ok((
                        parse(&r.get::<_, String>(0)?)?,
                        parse(&r.get::<_, String>(1)?)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        let (mut reported, mut want, version) = cur.unwrap_or_default();
        merge(if desired { &mut want } else { &mut reported }, patch);
        let (r, d) = (Value::Object(reported), Value::Object(want));
        let (rs, ds) = (r.to_string(), d.to_string());
        if rs.len().max(ds.len()) > MAX_SHADOW_BYTES {
            return Err(Error::Invalid(format!(
                "device {device}: shadow attributes would exceed {MAX_SHADOW_BYTES} bytes"
            )));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO shadows (tenant, device, reported, desired, version, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, device) DO UPDATE SET \
             reported = ?3, desired = ?4, version = ?5, updated_ms = ?6",
            params![tenant, device, rs, ds, version + 1, now],
        )?;
        tx.commit()?;
        let (Value::Object(reported), Value::Object(desired)) = (r, d) else {
            return Err(Error::Invalid("shadow is not an object".into()));
        };
        Ok(Shadow {
            reported,
            desired,
            version: version + 1,
            updated_ms: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::registry_with_device;

    fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn merges_removes_and_bounds() {
        let (reg, t, d) = registry_with_device();
        assert_eq!(reg.shadow(&t, &d).unwrap().version, 0);
        reg.merge_shadow(&t, &d, false, &obj(json!({"fw": "1.0", "mode": 2})))
            .unwrap();
        let s = reg
            .merge_shadow(&t, &d, true, &obj(json!({"setpoint": 40})))
            .unwrap();
        assert_eq!(s.version, 2);
        let s = reg
            .merge_shadow(&t, &d, false, &obj(json!({"mode": null, "fw": "1.1"})))
            .unwrap();
        assert_eq!(s.reported, obj(json!({"fw": "1.1"})));
        assert_eq!(s.desired, obj(json!({"setpoint": 40})));
        assert_eq!(reg.shadow(&t, &d).unwrap(), s);
        let big = obj(json!({"blob": "x".repeat(super::MAX_SHADOW_BYTES)}));
        assert!(reg.merge_shadow(&t, &d, false, &big).is_err());
        assert_eq!(
            reg.shadow(&t, &d).unwrap(),
            s,
            "a refused patch changes nothing"
        );
        assert!(reg.merge_shadow(&t, "nope", false, &big).is_err());
        assert!(reg.shadow("other", &d).is_err(), "tenant scoped");
        reg.delete_device(&t, &d).unwrap();
        let n: i64 = reg
            .conn()
            .query_row("SELECT count(*) FROM shadows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "removed with the device");
    }
}
