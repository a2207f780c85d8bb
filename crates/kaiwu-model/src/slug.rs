//! Type ids from free-form titles (WoT import).

/// A valid device type id derived from any title: ASCII letters and digits lowercased, runs of
/// anything else become one `_` (`"CNC Milling Machine"` -> `"cnc_milling_machine"`). A title
/// starting with a digit gets a `type_` prefix; one without any ASCII letter (e.g. Chinese) becomes
/// `type_` + 8 hex digits of a stable hash of the title. At most 63 characters, never empty.
pub fn slug(title: &str) -> String {
    let mut s = String::new();
    let mut gap = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !s.is_empty() {
                s.push('_');
            }
            gap = false;
            s.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return format!("type_{:08x}", fnv1a(title));
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "type_");
    }
    // Only ASCII was pushed, so byte truncation is on a character boundary.
    s.truncate(63);
    while s.ends_with('_') {
        s.pop();
    }
    if crate::RESERVED_TYPE_IDS.contains(&s.as_str()) {
        s.push_str("_type");
    }
    s
}

/// FNV-1a, folded to 32 bits: fixed by definition, unlike std's hasher, so slugs stay stable
/// across releases.
fn fnv1a(s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(slug("CNC Milling Machine"), "cnc_milling_machine");
        assert_eq!(slug("  My-Lamp (v2)!  "), "my_lamp_v2");
        assert_eq!(slug("3D Printer"), "type_3d_printer");
        assert_eq!(slug("数控机床 CNC"), "cnc");
        assert_eq!(slug("a__b"), "a_b");
    }

    #[test]
    fn fallback_is_stable_and_distinct() {
        let a = slug("数控铣床");
        assert_eq!(a, slug("数控铣床"));
        assert_ne!(a, slug("注塑机"));
        assert!(a.starts_with("type_") && a.len() == 13, "{a}");
        assert_eq!(slug(""), format!("type_{:08x}", fnv1a("")));
        assert!(slug("2024").starts_with("type_"));
    }

    #[test]
    fn always_valid() {
        let long = "Very Long Title ".repeat(20);
        let cases = [
            "",
            " ",
            "_",
            "9",
            "ä",
            "数控",
            "A",
            &long,
            "x y",
            "z_",
            "0a",
            "🙂 lamp",
            "\u{0}",
        ];
        for t in cases {
            let s = slug(t);
            assert!(kaiwu_core::validate_type_id(&s).is_ok(), "{t:?} -> {s:?}");
        }
        let s = slug(&"ab ".repeat(40));
        assert!(s.len() <= 63 && !s.ends_with('_'), "{s}");
    }
}
