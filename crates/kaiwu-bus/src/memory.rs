use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

use crate::{Bus, Message, Result, Subscription, matches, validate_pattern, validate_subject};

/// Messages a subscriber may fall behind by before it loses messages.
const QUEUE: usize = 4096;

struct Sub {
    pattern: String,
    tx: mpsc::Sender<Arc<Message>>,
}

/// In-process bus: fan-out to bounded per-subscriber queues.
#[derive(Default)]
pub struct MemoryBus {
    subs: Mutex<Vec<Sub>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl Bus for MemoryBus {
    fn publish(&self, msg: Message) -> Result<()> {
        validate_subject(&msg.subject)?;
        let msg = Arc::new(msg);
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain(|s| !s.tx.is_closed());
        for s in subs.iter().filter(|s| matches(&s.pattern, &msg.subject)) {
            if let Err(mpsc::error::TrySendError::Full(_)) = s.tx.try_send(msg.clone()) {
                tracing::warn!(pattern = %s.pattern, subject = %msg.subject, "bus subscriber is behind; message dropped");
            }
        }
        Ok(())
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        validate_pattern(pattern)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        self.subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Sub {
                pattern: pattern.to_owned(),
                tx,
            });
        Ok(Subscription::new(pattern.to_owned(), rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ObjectKind, Op, Payload, RegistryEvent};

    fn ev(tenant: &str, object: ObjectKind) -> Message {
        RegistryEvent {
            tenant: tenant.into(),
            object,
            id: "x".into(),
            op: Op::Created,
            version: None,
        }
        .into_message()
    }

    #[tokio::test]
    async fn fan_out_by_pattern() {
        let bus = MemoryBus::new();
        let mut all = bus.subscribe("kaiwu.>").unwrap();
        let mut devices = bus.subscribe("kaiwu.*.registry.device").unwrap();
        bus.publish(ev("t1", ObjectKind::Asset)).unwrap();
        bus.publish(ev("t2", ObjectKind::Device)).unwrap();
        assert_eq!(all.next().await.unwrap().subject, "kaiwu.t1.registry.asset");
        assert_eq!(
            all.next().await.unwrap().subject,
            "kaiwu.t2.registry.device"
        );
        let m = devices.next().await.unwrap();
        let Payload::Registry(e) = &m.payload;
        assert_eq!(e.tenant, "t2");
        assert!(devices.try_next().is_none());
    }

    #[tokio::test]
    async fn dropped_subscription_is_pruned_and_bad_subjects_refused() {
        let bus = MemoryBus::new();
        drop(bus.subscribe("a.b").unwrap());
        bus.publish(ev("t", ObjectKind::Tenant)).unwrap();
        assert!(bus.subs.lock().unwrap().is_empty());
        assert!(bus.subscribe("a.>.b").is_err());
        let mut m = ev("t", ObjectKind::Tenant);
        m.subject = "a..b".into();
        assert!(bus.publish(m).is_err());
    }

    #[test]
    fn payload_round_trips_as_json() {
        let m = ev("t", ObjectKind::DeviceType);
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&s).unwrap(), m);
    }
}
