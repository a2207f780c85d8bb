use super::*;

fn file(first_seq: u64, payloads: &[&[u8]]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    for (i, p) in payloads.iter().enumerate() {
        encode_frame(&mut b, first_seq + i as u64, p);
    }
    b
}

#[test]
fn round_trip() {
    let payloads: [&[u8]; 4] = [b"", b"a", &[0xff; 300], b"last"];
    let b = file(7, &payloads);
    let d = decode_frames(&b, 7, 1000);
    assert_eq!(d.tail, Tail::Clean);
    assert_eq!(d.valid_len, b.len());
    let want: Vec<(u64, &[u8])> = (7..).zip(payloads).collect();
    assert_eq!(d.records, want);
}

#[test]
fn frame_layout_is_stable() {
    // Format version 1, byte for byte: changing this breaks every existing WAL.
    let b = file(1, &[b"hi"]);
    let mut want = b"KWWAL\0\0\x01".to_vec();
    want.extend_from_slice(&[2, 0, 0, 0]);
    let mut h = crc32fast::Hasher::new();
    h.update(&1u64.to_le_bytes());
    h.update(b"hi");
    want.extend_from_slice(&h.finalize().to_le_bytes());
    want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']);
    assert_eq!(b, want);
}

#[test]
fn headers() {
    for n in 0..HEADER_LEN {
        assert_eq!(decode_frames(&MAGIC[..n], 1, 10).tail, Tail::ShortHeader);
    }
    assert_eq!(decode_frames(b"KWX", 1, 10).tail, Tail::BadHeader);
    assert_eq!(decode_frames(b"KWWAL\0\0\x02", 1, 10).tail, Tail::BadHeader);
    let d = decode_frames(&MAGIC, 1, 10);
    assert_eq!((d.tail, d.valid_len), (Tail::Clean, HEADER_LEN));
}

#[test]
fn sequence_is_checked() {
    let b = file(5, &[b"x", b"y"]);
    assert_eq!(
        decode_frames(&b, 4, 10).tail,
        Tail::Damaged {
            offset: HEADER_LEN,
            reason: "intact record out of sequence"
        }
    );
    let mut b = file(5, &[b"x"]);
    encode_frame(&mut b, 7, b"skipped 6");
    let d = decode_frames(&b, 5, 100);
    assert_eq!(d.records.len(), 1);
    assert!(matches!(d.tail, Tail::Damaged { offset: 25, .. }));
    // Seq u64::MAX is the last one possible; anything after it is damage, not an overflow.
    let mut b = file(u64::MAX, &[b"end"]);
    encode_frame(&mut b, 0, b"wrapped");
    assert!(matches!(
        decode_frames(&b, u64::MAX, 100).tail,
        Tail::Damaged { .. }
    ));
}

#[test]
fn torn_versus_damaged() {
    let b = file(1, &[b"one", b"two", b"three"]);
    let third = b.len() - 16 - 5;
    for cut in third + 1..b.len() {
        assert_eq!(
            decode_frames(&b[..cut], 1, 100).tail,
            Tail::Torn { offset: third }
        );
    }
    let mut zeros = b.clone();
    zeros.extend_from_slice(&[0; 4096]);
    assert_eq!(
        decode_frames(&zeros, 1, 100).tail,
        Tail::Torn { offset: b.len() }
    );
    // A bad second frame with an intact third one behind it.
    let mut d = b.clone();
    d[HEADER_LEN + 19 + 17] ^= 1;
    let got = decode_frames(&d, 1, 100);
    assert_eq!(got.records.len(), 1);
    assert!(matches!(got.tail, Tail::Damaged { offset: 27, .. }));
    // A length field bent past the end of the file, with intact records behind it.
    let mut d = b.clone();
    d[HEADER_LEN + 19 + 3] = 0x40;
    assert!(matches!(
        decode_frames(&d, 1, u32::MAX).tail,
        Tail::Damaged { offset: 27, .. }
    ));
    assert!(matches!(
        decode_frames(&d, 1, 100).tail,
        Tail::Damaged { offset: 27, .. }
    ));
}

#[test]
fn many_frame_like_offsets_are_damage_found_in_linear_time() {
    let mut b = file(1, &[b"ok"]);
    b.extend_from_slice(&[0xee; 16]); // a bad frame where seq 2 should be
    for _ in 0..10_000 {
        // Plausible seq and length at every 16th byte, but a wrong CRC.
        b.extend_from_slice(&40_000u32.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&2u64.to_le_bytes());
    }
    let d = decode_frames(&b, 1, u32::MAX);
    assert_eq!(d.records.len(), 1);
    assert!(
        matches!(d.tail, Tail::Damaged { offset: 26, .. }),
        "{:?}",
        d.tail
    );
}

#[test]
fn length_bound() {
    let b = file(1, &[&[1; 50]]);
    let d = decode_frames(&b, 1, 49);
    assert_eq!(
        d.tail,
        Tail::Oversized {
            offset: HEADER_LEN,
            len: 50
        }
    );
    assert_eq!(decode_frames(&b, 1, 50).tail, Tail::Clean);
    // A huge length with nothing behind it is a torn write, whatever the limit.
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&[0xff; 16]);
    for max in [0, 1000, u32::MAX] {
        assert_eq!(
            decode_frames(&huge, 1, max).tail,
            Tail::Torn { offset: HEADER_LEN }
        );
    }
    let probe_works = alloc_probe::largest_during(|| drop(std::hint::black_box(vec![0u8; 4096])));
    assert!(probe_works >= 4096);
    let largest = alloc_probe::largest_during(|| {
        decode_frames(&huge, 1, u32::MAX);
    });
    assert!(largest < 1024, "decoding allocated {largest} bytes");
}

/// Deterministic xorshift64* generator: random inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Properties every decode must have, whatever the input.
fn check_invariants(bytes: &[u8], first: u64, max: u32) {
    let d = decode_frames(bytes, first, max);
    assert!(d.valid_len <= bytes.len());
    for (i, (seq, p)) in d.records.iter().enumerate() {
        assert_eq!(*seq, first + i as u64);
        assert!(p.len() <= max as usize);
    }
    match d.tail {
        Tail::Clean => assert_eq!(d.valid_len, bytes.len()),
        Tail::ShortHeader | Tail::BadHeader => assert_eq!(d.valid_len, 0),
        Tail::Torn { offset } | Tail::Damaged { offset, .. } | Tail::Oversized { offset, .. } => {
            assert_eq!(offset, d.valid_len);
            assert!(offset < bytes.len());
        }
    }
    if d.valid_len > 0 {
        let again = decode_frames(&bytes[..d.valid_len], first, max);
        assert_eq!((again.records, again.tail), (d.records, Tail::Clean));
    }
}

#[test]
fn random_inputs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let first = 1 + rng.below(1000);
        let max = [0, 16, 300, u32::MAX][round % 4];
        // Half pure noise (after a valid header half of the time), half mutated valid files.
        let bytes = if round % 2 == 0 {
            let mut b = if rng.below(2) == 0 {
                MAGIC.to_vec()
            } else {
                Vec::new()
            };
            let n = rng.below(200) as usize;
            b.extend(rng.bytes(n));
            b
        } else {
            let payloads: Vec<Vec<u8>> = (0..rng.below(8))
                .map(|_| {
                    let n = rng.below(40) as usize;
                    rng.bytes(n)
                })
                .collect();
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut b = file(first, &refs);
            let original = decode_frames(&b, first, u32::MAX).records.len();
            assert_eq!(original, payloads.len());
            for _ in 0..rng.below(3) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 1 << rng.below(8);
            }
            let cut = b.len() - rng.below(b.len() as u64 / 4) as usize;
            b.truncate(cut);
            // Whatever happened, the intact records are a prefix of what was written.
            let d = decode_frames(&b, first, u32::MAX);
            for ((_, got), want) in d.records.iter().zip(&payloads) {
                assert_eq!(got, want);
            }
            b
        };
        check_invariants(&bytes, first, max);
    }
}

/// Counts the largest allocation made by the current thread, to prove that decoding never
/// trusts a length field for allocation. Test-only, hence the `unsafe`.
#[allow(unsafe_code)]
mod alloc_probe {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    struct Probe;

    // SAFETY: forwards to the system allocator; only records sizes in a const thread-local.
    unsafe impl GlobalAlloc for Probe {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = LARGEST.try_with(|c| c.set(c.get().max(layout.size())));
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static PROBE: Probe = Probe;

    pub(super) fn largest_during(f: impl FnOnce()) -> usize {
        LARGEST.with(|c| c.set(0));
        f();
        LARGEST.with(Cell::get)
    }
}
