use std::collections::BTreeMap;
use std::sync::Arc;

use kaiwu_bus::{Bus, MemoryBus, Payload};
use kaiwu_core::{ErrorKind, Role};
use kaiwu_model::DeviceType;

use crate::*;

fn reg() -> (Registry, Arc<MemoryBus>) {
    let bus = Arc::new(MemoryBus::new());
    let r = Registry::open_in_memory(bus.clone()).unwrap();
    r.create_tenant("a", "Tenant A").unwrap();
    r.create_tenant("b", "Tenant B").unwrap();
    (r, bus)
}

fn mill(extra: &str) -> DeviceType {
    DeviceType::from_json(
        format!(
            r#"{{"id":"cnc_mill","name":"CNC mill","properties":[
            {{"id":"spindle_speed","type":"float","unit":"r/min","min":0,"max":24000}},
            {{"id":"state","type":"enum","values":{{"0":"idle","1":"running"}}}}{extra}]}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn dev(id: &str) -> NewDevice {
    NewDevice {
        id: id.into(),
        device_type: "cnc_mill".into(),
        name: None,
        asset: None,
        labels: BTreeMap::new(),
    }
}

#[test]
fn migrations_are_applied_once() {
    let (r, _) = reg();
    assert_eq!(
        r.schema_version().unwrap() as usize,
        crate::migrate::latest()
    );
}

#[test]
fn tenants_users_and_conflicts() {
    let (r, _) = reg();
    assert_eq!(
        r.create_tenant("a", "x").unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        r.create_tenant("Bad", "x").unwrap_err().kind(),
        ErrorKind::Invalid
    );
    let u = r
        .create_user(NewUser {
            username: "alice".into(),
            tenant: "a".into(),
            password_hash: "h".into(),
            roles: vec![Role::Viewer, Role::Operator, Role::Viewer],
            clearance: 2,
        })
        .unwrap();
    assert_eq!(u.roles, vec![Role::Operator, Role::Viewer]);
    let dup = NewUser {
        username: "alice".into(),
        tenant: "b".into(),
        password_hash: "h".into(),
        roles: vec![Role::Viewer],
        clearance: 1,
    };
    assert_eq!(r.create_user(dup).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(
        r.user(Some("b"), "alice").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(r.user(None, "alice").is_ok());
    let p = UserPatch {
        password_hash: Some("h2".into()),
        ..Default::default()
    };
    r.update_user(Some("a"), "alice", p).unwrap();
    let c = r.user_credentials("alice").unwrap().unwrap();
    assert_eq!(c.password_hash, "h2");
    assert!(c.tokens_after_ms > 0);
    assert_eq!(r.count_role(Some("a"), Role::Operator).unwrap(), 1);
    assert_eq!(r.count_role(Some("b"), Role::Operator).unwrap(), 0);
    assert_eq!(
        r.delete_tenant("a", false).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    r.delete_tenant("a", true).unwrap();
    assert!(r.user_credentials("alice").unwrap().is_none());
}

#[test]
fn device_type_versions_and_property_data() {
    let (r, bus) = reg();
    let mut sub = bus.subscribe("kaiwu.a.registry.device_type").unwrap();
    assert_eq!(r.create_device_type("a", mill("")).unwrap().version, 1);
    assert_eq!(
        r.create_device_type("a", mill("")).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    // Same body: no new version.
    assert_eq!(
        r.update_device_type("a", "cnc_mill", mill(""), false)
            .unwrap()
            .version,
        1
    );
    let more = mill(r#",{"id":"load","type":"float"}"#);
    assert_eq!(
        r.update_device_type("a", "cnc_mill", more.clone(), false)
            .unwrap()
            .version,
        2
    );
    r.mark_properties_used("a", "cnc_mill", &["load"]).unwrap();
    let err = r
        .update_device_type("a", "cnc_mill", mill(""), false)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("load"), "{err}");
    let retyped = mill(r#",{"id":"load","type":"int"}"#);
    assert_eq!(
        r.update_device_type("a", "cnc_mill", retyped, true)
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        r.update_device_type("a", "cnc_mill", mill(""), true)
            .unwrap()
            .version,
        3
    );
    assert_eq!(r.device_type_version("a", "cnc_mill", 2).unwrap(), {
        let mut m = more;
        m.version = 2;
        m
    });
    assert_eq!(
        r.device_type("b", "cnc_mill").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let mut versions = Vec::new();
    while let Some(m) = sub.try_next() {
        let Payload::Registry(e) = &m.payload;
        versions.push(e.version);
    }
    assert_eq!(versions, vec![Some(1), Some(2), Some(3)]);
}

#[test]
fn asset_tree_rules() {
    let (r, _) = reg();
    let a = |id: &str, kind, parent: Option<&str>| NewAsset {
        id: id.into(),
        kind,
        name: None,
        parent: parent.map(Into::into),
        description: None,
    };
    r.create_asset("a", a("acme", AssetKind::Enterprise, None))
        .unwrap();
    r.create_asset("a", a("plant1", AssetKind::Site, Some("acme")))
        .unwrap();
    r.create_asset("a", a("line1", AssetKind::Line, Some("plant1")))
        .unwrap();
    let err = r
        .create_asset("a", a("x", AssetKind::Site, Some("line1")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = r
        .create_asset("a", a("y", AssetKind::Cell, Some("nope")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    // Moving an ancestor under its descendant is refused.
    let p = AssetPatch {
        parent: Some(Some("line1".into())),
        ..Default::default()
    };
    assert_eq!(
        r.update_asset("a", "plant1", p).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(r.assets("a", Some("plant1")).unwrap().len(), 1);
    assert_eq!(
        r.delete_asset("a", "plant1").unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        r.asset("b", "acme").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    r.delete_asset("a", "line1").unwrap();
}

#[test]
fn generation_moves_on_changes_that_caches_of_devices_and_types_must_see() {
    let (r, _) = reg();
    let g0 = r.generation();
    r.create_device_type("a", mill("")).unwrap();
    r.create_device("a", dev("m1"), "token-gen-0001").unwrap();
    assert_eq!(r.generation(), g0, "creations leave cached answers valid");
    r.update_device_type(
        "a",
        "cnc_mill",
        mill(r#",{"id":"load","type":"float"}"#),
        false,
    )
    .unwrap();
    let g1 = r.generation();
    assert!(g1 > g0, "a type update");
    r.update_device(
        "a",
        "m1",
        DevicePatch {
            name: Some("Mill 1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let g2 = r.generation();
    assert!(g2 > g1, "a device update");
    r.delete_device("a", "m1").unwrap();
    let g3 = r.generation();
    assert!(g3 > g2, "a device deletion");
    r.delete_device_type("a", "cnc_mill").unwrap();
    let g4 = r.generation();
    assert!(g4 > g3, "a type deletion");
    r.delete_tenant("b", true).unwrap();
    assert!(r.generation() > g4, "a tenant deletion");
}

#[test]
fn devices_tokens_and_isolation() {
    let (r, _) = reg();
    r.create_device_type("a", mill("")).unwrap();
    r.create_device_type("b", mill("")).unwrap();
    let d = r.create_device("a", dev("m1"), "token-aaaa-1").unwrap();
    assert_eq!(d.name, "m1");
    assert_eq!(
        r.create_device("a", dev("m1"), "token-aaaa-2")
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    let err = r.create_device("b", dev("m1"), "token-aaaa-1").unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "tokens are unique platform-wide"
    );
    assert!(err.to_string().contains("token"));
    assert_eq!(
        r.create_device("a", dev("m2"), "short").unwrap_err().kind(),
        ErrorKind::Invalid
    );
    let mut bad = dev("m3");
    bad.device_type = "nope".into();
    assert_eq!(
        r.create_device("a", bad, "token-aaaa-3")
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
    let (t, found) = r.device_by_token("token-aaaa-1").unwrap().unwrap();
    assert_eq!((t.as_str(), found.id.as_str()), ("a", "m1"));
    r.set_device_token("a", "m1", "token-bbbb-1").unwrap();
    assert!(r.device_by_token("token-aaaa-1").unwrap().is_none());
    assert_eq!(r.device("b", "m1").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        r.delete_device("b", "m1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        r.delete_device_type("a", "cnc_mill").unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(r.count_devices("a", &DeviceFilter::default()).unwrap(), 1);
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    {
        let r = Registry::open(&path, Arc::new(MemoryBus::new())).unwrap();
        r.create_tenant("a", "A").unwrap();
        r.create_device_type("a", mill("")).unwrap();
        for i in 0..50 {
            r.create_device("a", dev(&format!("d{i}")), &format!("tok-{i:08}"))
                .unwrap();
        }
    }
    let r = Registry::open(&path, Arc::new(MemoryBus::new())).unwrap();
    let f = DeviceFilter {
        limit: Some(10),
        offset: 45,
        ..Default::default()
    };
    assert_eq!(r.devices("a", &f).unwrap().len(), 5);
    assert_eq!(r.count_devices("a", &DeviceFilter::default()).unwrap(), 50);
}

#[test]
fn retention_policies() {
    let (r, _) = reg();
    r.create_device_type("a", mill("")).unwrap();
    assert_eq!(r.retention("a").unwrap(), RetentionPolicy::default());
    let p = RetentionPolicy {
        default_days: Some(30),
        device_types: BTreeMap::from([("cnc_mill".to_string(), 7)]),
    };
    assert_eq!(r.set_retention("a", &p).unwrap(), p);
    assert_eq!(p.days_for("cnc_mill"), Some(7));
    assert_eq!(p.days_for("other"), Some(30));
    let bad = RetentionPolicy {
        default_days: Some(0),
        ..Default::default()
    };
    assert_eq!(
        r.set_retention("a", &bad).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    let ghost = RetentionPolicy {
        device_types: BTreeMap::from([("ghost".to_string(), 1)]),
        ..Default::default()
    };
    assert_eq!(
        r.set_retention("a", &ghost).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(
        r.retention("a").unwrap(),
        p,
        "a refused change leaves the policy as it was"
    );
    assert_eq!(r.retention("b").unwrap(), RetentionPolicy::default());
    assert_eq!(r.all_retention().unwrap().len(), 1);
}

/// A registry with tenant `a`, type `cnc_mill` and device `m1`: (registry, tenant, device).
pub(crate) fn registry_with_device() -> (Registry, String, String) {
    let (r, _) = reg();
    r.create_device_type("a", mill("")).unwrap();
    r.create_device("a", dev("m1"), "token-shadow-1").unwrap();
    (r, "a".into(), "m1".into())
}
