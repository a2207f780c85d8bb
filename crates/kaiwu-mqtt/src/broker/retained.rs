//! Retained messages by topic level, so a wildcard subscription walks only the matching
//! branches.

use std::collections::HashMap;
use std::sync::Arc;

use super::message::Message;

#[derive(Debug, Default)]
pub(crate) struct Retained {
    root: Node,
    len: usize,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    msg: Option<Arc<Message>>,
}

fn split(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (s, None),
    }
}

impl Retained {
    /// Stores `msg` as the retained message of its topic; an empty payload deletes it
    /// (spec 3.3.1.3). Returns whether the store changed.
    pub(crate) fn set(&mut self, msg: Arc<Message>) -> bool {
        if msg.payload.is_empty() {
            return self.remove(&msg.topic);
        }
        let mut node = &mut self.root;
        let mut rest = Some(msg.topic.as_str());
        while let Some(r) = rest {
            let (level, next) = split(r);
            node = node.children.entry(level.into()).or_default();
            rest = next;
        }
        if node.msg.replace(msg).is_none() {
            self.len += 1;
        }
        true
    }

    pub(crate) fn remove(&mut self, topic: &str) -> bool {
        let removed = remove_at(&mut self.root, Some(topic));
        if removed {
            self.len -= 1;
        }
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Retained messages whose topic matches `filter` (valid, not shared), skipping those
    /// expired at `now_ms`.
    pub(crate) fn matching(&self, filter: &str, now_ms: u64) -> Vec<Arc<Message>> {
        let mut out = Vec::new();
        collect(&self.root, Some(filter), true, &mut out);
        out.retain(|m| !m.expired(now_ms));
        out
    }
}

fn collect(node: &Node, filter: Option<&str>, root: bool, out: &mut Vec<Arc<Message>>) {
    let Some(f) = filter else {
        out.extend(node.msg.clone());
        return;
    };
    let (level, rest) = split(f);
    match level {
        "#" => {
            // `a/#` covers `a` itself.
            out.extend(node.msg.clone());
            for (name, child) in &node.children {
                if !(root && name.starts_with('$')) {
                    all(child, out);
                }
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if !(root && name.starts_with('$')) {
                    collect(child, rest, false, out);
                }
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                collect(child, rest, false, out);
            }
        }
    }
}

fn all(node: &Node, out: &mut Vec<Arc<Message>>) {
    out.extend(node.msg.clone());
    for child in node.children.values() {
        all(child, out);
    }
}

fn remove_at(node: &mut Node, topic: Option<&str>) -> bool {
    let Some(t) = topic else {
        return node.msg.take().is_some();
    };
    let (level, rest) = split(t);
    let Some(child) = node.children.get_mut(level) else {
        return false;
    };
    let removed = remove_at(child, rest);
    if child.msg.is_none() && child.children.is_empty() {
        node.children.remove(level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::codec::QoS;
    use crate::codec::topic::topic_matches;

    fn msg(topic: &str, payload: &'static [u8]) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::from_static(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            props: None,
            expires_at: None,
            origin: None,
        })
    }

    fn topics(r: &Retained, filter: &str) -> Vec<String> {
        let mut t: Vec<String> = r
            .matching(filter, 0)
            .iter()
            .map(|m| m.topic.clone())
            .collect();
        t.sort();
        t
    }

    #[test]
    fn set_replace_delete() {
        let mut r = Retained::default();
        assert!(r.set(msg("a/b", b"1")));
        assert!(r.set(msg("a/b", b"2")));
        assert_eq!(r.len(), 1);
        assert_eq!(r.matching("a/b", 0)[0].payload, Bytes::from_static(b"2"));
        assert!(r.set(msg("a/b", b"")));
        assert_eq!(r.len(), 0);
        assert!(!r.set(msg("a/b", b"")));
        assert!(r.root.children.is_empty());
    }

    #[test]
    fn filters_agree_with_reference_matcher() {
        let all_topics = [
            "a", "a/b", "a/b/c", "a//c", "/a", "$SYS/x", "$SYS/x/y", "b/b",
        ];
        let mut r = Retained::default();
        for t in all_topics {
            r.set(msg(t, b"v"));
        }
        for filter in [
            "#", "a/#", "+", "+/+", "a/+", "a/+/c", "/+", "$SYS/#", "$SYS/+", "+/b", "a/b/c/#",
        ] {
            let mut want: Vec<String> = all_topics
                .iter()
                .filter(|t| topic_matches(filter, t))
                .map(|t| (*t).to_owned())
                .collect();
            want.sort();
            assert_eq!(topics(&r, filter), want, "filter {filter}");
        }
    }

    #[test]
    fn expired_messages_are_not_returned() {
        let mut r = Retained::default();
        let mut m = (*msg("a", b"v")).clone();
        m.expires_at = Some(1000);
        r.set(Arc::new(m));
        assert_eq!(r.matching("a", 999).len(), 1);
        assert!(r.matching("a", 1000).is_empty());
    }
}
