//! Feeds arbitrary bytes to the WAL file decoder used by replay.
//! Input: 8 bytes first seq, 4 bytes record limit, then the file content.
#![no_main]

use kaiwu_wal::{Tail, decode_frames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, max, bytes) = match data.split_first_chunk::<8>() {
        Some((seq, rest)) => match rest.split_first_chunk::<4>() {
            Some((max, bytes)) => {
                let first = u64::from_le_bytes(*seq).max(1);
                (first, u32::from_le_bytes(*max), bytes)
            }
            None => (1, u32::MAX, data),
        },
        None => (1, u32::MAX, data),
    };
    let d = decode_frames(bytes, first, max);
    assert!(d.valid_len <= bytes.len());
    let mut expected = Some(first);
    for (seq, payload) in &d.records {
        assert_eq!(Some(*seq), expected);
        assert!(payload.len() <= max as usize);
        expected = seq.checked_add(1);
    }
    match d.tail {
        Tail::Clean => assert_eq!(d.valid_len, bytes.len()),
        Tail::ShortHeader | Tail::BadHeader => assert_eq!(d.valid_len, 0),
        Tail::Torn { offset } | Tail::Damaged { offset, .. } | Tail::Oversized { offset, .. } => {
            assert_eq!(offset, d.valid_len);
        }
    }
    // Cutting a file back to its intact prefix, as replay does, leaves a clean file.
    if d.valid_len > 0 {
        let again = decode_frames(&bytes[..d.valid_len], first, max);
        assert_eq!(again.tail, Tail::Clean);
        assert_eq!(again.records, d.records);
    }
});
