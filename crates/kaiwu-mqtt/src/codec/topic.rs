//! Topic names, topic filters and matching (spec 4.7), and shared subscriptions (4.8.2).

/// Prefix that marks a shared subscription filter.
const SHARE_PREFIX: &str = "$share/";

/// Longest string MQTT can carry.
const MAX_LEN: usize = u16::MAX as usize;

/// A topic a message can be published to: non-empty, no wildcards, no U+0000, at most
/// 65535 bytes.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_LEN
        && !topic.bytes().any(|b| matches!(b, b'+' | b'#' | 0))
}

/// A topic filter a client can subscribe to: non-empty, `+` only as a whole level, `#` only as
/// the whole last level, no U+0000, at most 65535 bytes. A filter starting with `$share/` must
/// also be a well-formed shared subscription (see [`split_shared`]).
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.len() > MAX_LEN {
        return false;
    }
    match filter.strip_prefix(SHARE_PREFIX) {
        Some(rest) => match rest.split_once('/') {
            Some((group, inner)) => valid_share_name(group) && valid_plain_filter(inner),
            None => false,
        },
        None => valid_plain_filter(filter),
    }
}

fn valid_share_name(group: &str) -> bool {
    !group.is_empty() && !group.bytes().any(|b| matches!(b, b'+' | b'#' | 0))
}

fn valid_plain_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.as_bytes().contains(&0) {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        let ok = match level {
            "#" => last,
            "+" => true,
            _ => !level.bytes().any(|b| b == b'+' || b == b'#'),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether topic `name` matches topic `filter` (both assumed valid). Topics starting with `$`
/// are not matched by a filter starting with a wildcard, and `a/#` also matches `a`.
/// Shared subscriptions must be split with [`split_shared`] first.
pub fn topic_matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            // `#` covers the parent level too, so it matches even when the name has ended.
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(n)) if f == n => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A shared subscription `$share/{group}/{filter}` split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// Share name: subscribers with the same group and filter share the messages.
    pub group: &'a str,
    /// The topic filter messages are matched against.
    pub filter: &'a str,
}

/// Splits a shared subscription filter; `None` for an ordinary filter. Only meaningful for
/// filters that passed [`valid_topic_filter`], which rejects malformed `$share/` filters.
pub fn split_shared(filter: &str) -> Option<SharedFilter<'_>> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    let (group, filter) = rest.split_once('/')?;
    Some(SharedFilter { group, filter })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("a"));
        assert!(valid_topic_name("/"));
        assert!(valid_topic_name("sport/tennis/player1"));
        assert!(valid_topic_name("$SYS/broker"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name("a/+/b"));
        assert!(!valid_topic_name("a/#"));
        assert!(!valid_topic_name("a\0b"));
        assert!(!valid_topic_name(&"x".repeat(65_536)));
    }

    #[test]
    fn topic_filters() {
        for ok in [
            "#",
            "+",
            "/",
            "+/+",
            "sport/#",
            "sport/+/player1",
            "/+",
            "a//b",
            "$SYS/#",
        ] {
            assert!(valid_topic_filter(ok), "{ok}");
        }
        for bad in [
            "",
            "sport/tennis#",
            "sport/#/ranking",
            "sport+",
            "a/b+/c",
            "#/",
            "a\0",
        ] {
            assert!(!valid_topic_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn shared_filters() {
        assert!(valid_topic_filter("$share/g/a/+"));
        assert!(valid_topic_filter("$share/g/#"));
        assert!(!valid_topic_filter("$share/g"));
        assert!(!valid_topic_filter("$share//a"));
        assert!(!valid_topic_filter("$share/g+/a"));
        assert!(!valid_topic_filter("$share/g/"));
        assert!(!valid_topic_filter("$share/g/a/#/b"));
        // Without the slash "$share" is an ordinary level.
        assert!(valid_topic_filter("$share"));
        let s = split_shared("$share/group1/sensors/+/temp");
        assert_eq!(
            s,
            Some(SharedFilter {
                group: "group1",
                filter: "sensors/+/temp"
            })
        );
        assert_eq!(split_shared("sensors/+"), None);
    }

    #[test]
    fn matching() {
        let yes = [
            ("sport/tennis/player1/#", "sport/tennis/player1"),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
            ),
            ("sport/#", "sport"),
            ("#", "sport/tennis"),
            ("sport/tennis/+", "sport/tennis/player1"),
            ("sport/+", "sport/"),
            ("+/+", "/finance"),
            ("/+", "/finance"),
            ("+", "sport"),
            ("$SYS/#", "$SYS/broker/clients"),
            ("$SYS/+", "$SYS/uptime"),
            ("a/b", "a/b"),
        ];
        for (f, n) in yes {
            assert!(topic_matches(f, n), "{f} should match {n}");
        }
        let no = [
            ("sport/tennis/+", "sport/tennis/player1/ranking"),
            ("sport/+", "sport"),
            ("+", "/finance"),
            ("#", "$SYS/broker"),
            ("+/monitor/Clients", "$SYS/monitor/Clients"),
            ("a/b", "a/b/c"),
            ("a/b/c", "a/b"),
            ("a/b", "a/c"),
        ];
        for (f, n) in no {
            assert!(!topic_matches(f, n), "{f} should not match {n}");
        }
    }
}
