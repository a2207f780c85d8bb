//! Subscription tree: topic filters split into levels, so routing a message costs one walk
//! per topic level instead of one match per subscription.

use std::collections::HashMap;
use std::sync::Arc;

use crate::codec::SubscriptionOptions;

/// What one subscription asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sub {
    pub(crate) opts: SubscriptionOptions,
    /// MQTT 5 subscription identifier.
    pub(crate) id: Option<u32>,
}

/// Subscriptions by filter level. `T` is what a match yields besides the options (the
/// session handle in the broker); entries are keyed by client id, one per (filter, client).
#[derive(Debug)]
pub(crate) struct SubTree<T> {
    root: Node<T>,
    len: usize,
}

#[derive(Debug)]
struct Node<T> {
    children: HashMap<Box<str>, Node<T>>,
    subs: HashMap<Arc<str>, (T, Sub)>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            subs: HashMap::new(),
        }
    }
}

impl<T> Default for SubTree<T> {
    fn default() -> Self {
        SubTree {
            root: Node::default(),
            len: 0,
        }
    }
}

/// First level of `s` and the rest (`None` after the last level).
fn split(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (s, None),
    }
}

impl<T: Clone> SubTree<T> {
    /// Adds or replaces `client`'s subscription to `filter` (a valid, non-shared filter).
    /// Returns whether it replaced an existing one.
    pub(crate) fn insert(&mut self, filter: &str, client: &Arc<str>, value: T, sub: Sub) -> bool {
        let mut node = &mut self.root;
        let mut rest = Some(filter);
        while let Some(r) = rest {
            let (level, next) = split(r);
            node = node.children.entry(level.into()).or_default();
            rest = next;
        }
        let replaced = node.subs.insert(client.clone(), (value, sub)).is_some();
        if !replaced {
            self.len += 1;
        }
        replaced
    }

    /// Removes `client`'s subscription to `filter`, pruning emptied levels. Returns whether
    /// there was one.
    pub(crate) fn remove(&mut self, filter: &str, client: &str) -> bool {
        let removed = remove_at(&mut self.root, Some(filter), client);
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends every subscription matching `topic` (a valid topic name) to `out`. A client
    /// with several matching filters appears once per filter.
    pub(crate) fn matches(&self, topic: &str, out: &mut Vec<(T, Sub)>) {
        // Spec 4.7.2: wildcards in the first level never match a `$` topic.
        let dollar = topic.starts_with('$');
        walk(&self.root, Some(topic), dollar, out);
    }
}

fn walk<T: Clone>(node: &Node<T>, topic: Option<&str>, skip_wild: bool, out: &mut Vec<(T, Sub)>) {
    let Some(t) = topic else {
        out.extend(node.subs.values().cloned());
        // `a/#` also matches `a`.
        if let Some(hash) = node.children.get("#") {
            out.extend(hash.subs.values().cloned());
        }
        return;
    };
    let (level, rest) = split(t);
    if !skip_wild {
        if let Some(hash) = node.children.get("#") {
            out.extend(hash.subs.values().cloned());
        }
        if let Some(plus) = node.children.get("+") {
            walk(plus, rest, false, out);
        }
    }
    if let Some(child) = node.children.get(level) {
        walk(child, rest, false, out);
    }
}

fn remove_at<T>(node: &mut Node<T>, filter: Option<&str>, client: &str) -> bool {
    let Some(f) = filter else {
        return node.subs.remove(client).is_some();
    };
    let (level, rest) = split(f);
    let Some(child) = node.children.get_mut(level) else {
        return false;
    };
    let removed = remove_at(child, rest, client);
    if child.subs.is_empty() && child.children.is_empty() {
        node.children.remove(level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::topic::topic_matches;

    fn tree(filters: &[(&str, &str)]) -> SubTree<&'static str> {
        let mut t = SubTree::default();
        for (f, c) in filters {
            t.insert(f, &Arc::from(*c), "v", Sub::default());
        }
        t
    }

    fn clients(t: &SubTree<&'static str>, topic: &str) -> usize {
        let mut out = Vec::new();
        t.matches(topic, &mut out);
        out.len()
    }

    #[test]
    fn wildcards_match_like_the_spec() {
        let filters = [
            "sport/tennis/player1/#",
            "sport/#",
            "#",
            "sport/tennis/+",
            "sport/+",
            "+/+",
            "/+",
            "+",
            "$SYS/#",
            "$SYS/+",
            "a/b",
            "a//b",
            "+/monitor/Clients",
        ];
        let topics = [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport",
            "sport/",
            "/finance",
            "$SYS/broker/clients",
            "$SYS/uptime",
            "$SYS/monitor/Clients",
            "a/b",
            "a//b",
            "a/b/c",
            "x",
        ];
        // Every filter its own client, so the count of matches is the count of filters that
        // match, which must agree with the codec's reference matcher.
        let pairs: Vec<(String, String)> = filters
            .iter()
            .map(|f| ((*f).to_owned(), format!("c-{f}")))
            .collect();
        let mut t = SubTree::default();
        for (f, c) in &pairs {
            t.insert(f, &Arc::from(c.as_str()), (), Sub::default());
        }
        for topic in topics {
            let want = filters.iter().filter(|f| topic_matches(f, topic)).count();
            let mut out = Vec::new();
            t.matches(topic, &mut out);
            assert_eq!(out.len(), want, "topic {topic}");
        }
    }

    #[test]
    fn one_entry_per_filter_and_client() {
        let mut t = tree(&[("a/+", "c1"), ("a/+", "c2"), ("a/#", "c1")]);
        assert_eq!(t.len(), 3);
        assert!(t.insert("a/+", &Arc::from("c1"), "w", Sub::default()));
        assert_eq!(t.len(), 3);
        assert_eq!(clients(&t, "a/x"), 3);
        assert!(t.remove("a/+", "c1"));
        assert!(!t.remove("a/+", "c1"));
        assert!(!t.remove("a/b/c", "c1"));
        assert_eq!(clients(&t, "a/x"), 2);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn removal_prunes_empty_levels() {
        let mut t = tree(&[("a/b/c/d", "c1")]);
        assert!(t.remove("a/b/c/d", "c1"));
        assert!(t.root.children.is_empty());
        let mut t = tree(&[("a/b/c", "c1"), ("a/b", "c2")]);
        assert!(t.remove("a/b/c", "c1"));
        assert_eq!(t.root.children.len(), 1);
        assert_eq!(clients(&t, "a/b"), 1);
    }

    #[test]
    fn hash_matches_parent_level() {
        let t = tree(&[("a/#", "c1")]);
        assert_eq!(clients(&t, "a"), 1);
        assert_eq!(clients(&t, "a/b/c"), 1);
        assert_eq!(clients(&t, "b"), 0);
    }
}
