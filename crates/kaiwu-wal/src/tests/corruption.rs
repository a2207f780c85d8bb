use std::fs;

use super::*;
use crate::{Error, HEADER_LEN};

/// A single-file WAL of `n` records; returns the file and what was appended.
fn one_file(dir: &Path, n: u64) -> (PathBuf, Vec<(u64, Vec<u8>)>) {
    let (wal, _) = open(dir, opts(LAZY, 1 << 30));
    let recs: Vec<_> = (1..=n)
        .map(|i| {
            let p = format!("record {i}").into_bytes();
            (wal.append_blocking(p.clone()).unwrap(), p)
        })
        .collect();
    drop(wal);
    let files = wal_files(dir);
    assert_eq!(files.len(), 1);
    (files[0].clone(), recs)
}

/// Opens `bytes` as the only file and checks it behaves as a torn tail after record `n - 1`.
fn check_torn(src: &Path, bytes: &[u8], recs: &[(u64, Vec<u8>)], last_start: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(src.file_name().unwrap());
    fs::write(&file, bytes).unwrap();
    let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 30));
    let n = recs.len();
    assert_eq!(r.records, recs[..n - 1], "cut/flip near {}", bytes.len());
    assert_eq!(r.torn_bytes, (bytes.len() - last_start) as u64);
    assert!(r.quarantined.is_empty());
    assert_eq!(fs::metadata(&file).unwrap().len(), last_start as u64);
    assert_eq!(wal.append_blocking(b"again".to_vec()).unwrap(), n as u64);
    drop(wal);
    let (_wal, r) = open(tmp.path(), opts(LAZY, 1 << 30));
    assert_eq!(r.records.len(), n);
    assert_eq!(r.records[n - 1], (n as u64, b"again".to_vec()));
    assert_eq!((r.torn_bytes, r.quarantined.len()), (0, 0));
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, recs) = one_file(tmp.path(), 5);
    let bytes = fs::read(&file).unwrap();
    let last_start = *frame_offsets(&bytes).last().unwrap();
    for cut in last_start + 1..bytes.len() {
        check_torn(&file, &bytes[..cut], &recs, last_start);
    }
    // A flipped bit in the CRC, seq or payload of the last record.
    for at in last_start + 4..bytes.len() {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        check_torn(&file, &b, &recs, last_start);
    }
}

#[test]
fn torn_header_of_a_new_last_file_is_rewritten() {
    for cut in 0..HEADER_LEN {
        let tmp = tempfile::tempdir().unwrap();
        let recs = fill(tmp.path(), 3, 1 << 20);
        let name = tmp.path().join("00000000000000000004.wal");
        fs::write(&name, &b"KWWAL\0\0\x01"[..cut]).unwrap();
        let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 20));
        assert_eq!(r.records, recs);
        assert_eq!((r.torn_bytes, r.quarantined.len()), (cut as u64, 0));
        assert_eq!(wal.append_blocking(vec![4]).unwrap(), 4);
        assert_eq!(fs::metadata(&name).unwrap().len(), (HEADER_LEN + 17) as u64);
    }
}

#[test]
fn mid_file_damage_quarantines_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let all = fill(dir, 40, 8 * 1024);
    let files = wal_files(dir);
    assert!(files.len() >= 4);
    // Damage the second record of the second file.
    let mut bytes = fs::read(&files[1]).unwrap();
    let offs = frame_offsets(&bytes);
    assert!(offs.len() >= 2);
    bytes[offs[1] + 5] ^= 0xff;
    fs::write(&files[1], &bytes).unwrap();
    let second_first: u64 = files[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let lost: Vec<u64> = {
        let third_first: u64 = files[2]
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (second_first + 1..third_first).collect()
    };
    let (wal, r) = open(dir, opts(LAZY, 8 * 1024));
    let kept: Vec<_> = all
        .iter()
        .filter(|rec| !lost.contains(&rec.0))
        .cloned()
        .collect();
    assert_eq!(r.records, kept);
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(
        fs::read(&r.quarantined[0]).unwrap(),
        bytes,
        "the damaged file is preserved"
    );
    assert!(r.quarantined[0].starts_with(dir.join("quarantine")));
    assert_eq!(r.torn_bytes, 0);
    assert_eq!(wal.append_blocking(vec![1]).unwrap(), 41);
    drop(wal);
    // The intact prefix stays on disk: a second replay reports nothing new and loses nothing.
    let (_wal, r) = open(dir, opts(LAZY, 8 * 1024));
    assert_eq!(r.records.len(), kept.len() + 1);
    assert!(r.quarantined.is_empty());
}

#[test]
fn damage_in_the_last_file_skips_seqs_rather_than_reuse_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, recs) = one_file(tmp.path(), 10);
    let mut bytes = fs::read(&file).unwrap();
    let offs = frame_offsets(&bytes);
    bytes[offs[4] + 20] ^= 1; // payload of record 5; records 6..10 intact after it
    fs::write(&file, &bytes).unwrap();
    let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 20));
    assert_eq!(r.records, recs[..4]);
    assert_eq!(r.quarantined.len(), 1);
    let next = wal.append_blocking(vec![9]).unwrap();
    assert!(
        next > 10,
        "seq {next} could collide with acknowledged records"
    );
    drop(wal);
    let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 20));
    assert_eq!(r.records.len(), 5);
    assert_eq!(r.records[4].0, next);
    assert!(r.quarantined.is_empty());
    assert_eq!(wal.append_blocking(vec![9]).unwrap(), next + 1);
}

#[test]
fn torn_end_of_a_file_that_is_not_the_last_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let all = fill(tmp.path(), 30, 8 * 1024);
    let files = wal_files(tmp.path());
    let bytes = fs::read(&files[0]).unwrap();
    let offs = frame_offsets(&bytes);
    fs::write(&files[0], &bytes[..bytes.len() - 3]).unwrap();
    let (_wal, r) = open(tmp.path(), opts(LAZY, 8 * 1024));
    let lost = offs.len() as u64; // the last record of the first file
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(r.torn_bytes, 0);
    let kept: Vec<_> = all.into_iter().filter(|rec| rec.0 != lost).collect();
    assert_eq!(r.records, kept);
}

#[test]
fn garbage_files_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let all = fill(dir, 5, 1 << 20);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut huge = b"KWWAL\0\0\x01".to_vec();
    huge.extend_from_slice(&[
        0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 100, 0, 0, 0, 0, 0, 0, 0, 1, 2,
    ]);
    let garbage: [(u64, Vec<u8>); 5] = [
        (100, random),
        (200, b"KWWAL\0\0\x02 some future version".to_vec()),
        (300, Vec::new()),
        (400, b"PK\x03\x04 not a wal".to_vec()),
        (500, huge),
    ];
    for (seq, bytes) in &garbage {
        fs::write(dir.join(format!("{seq:020}.wal")), bytes).unwrap();
    }
    fs::write(dir.join("notes.txt"), "left alone").unwrap();
    fs::write(dir.join("1.wal"), "badly named: ignored").unwrap();
    let mut o = opts(LAZY, 1 << 20);
    o.max_record_bytes = u32::MAX;
    let (wal, r) = open(dir, o.clone());
    assert_eq!(r.records, all);
    // All but the last are quarantined; the last (huge length, nothing after) is a torn tail.
    assert_eq!(r.quarantined.len(), 4);
    assert_eq!(r.torn_bytes, 18);
    assert_eq!(wal.append_blocking(vec![1]).unwrap(), 500);
    drop(wal);
    let (_wal, r) = open(dir, o);
    assert_eq!(r.records.len(), 6);
    assert!(dir.join("notes.txt").exists() && dir.join("1.wal").exists());
}

#[test]
fn an_intact_record_above_the_limit_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, _) = one_file(tmp.path(), 3);
    let before = fs::read(&file).unwrap();
    let mut o = opts(LAZY, 1 << 20);
    o.max_record_bytes = 4;
    let e = Wal::open(tmp.path(), o).unwrap_err();
    assert!(
        matches!(e, Error::StoredRecordTooLarge { len: 8, max: 4, .. }),
        "{e}"
    );
    assert_eq!(fs::read(&file).unwrap(), before, "nothing was cut");
    assert_eq!(open(tmp.path(), opts(LAZY, 1 << 20)).1.records.len(), 3);
}

#[test]
fn overlapping_files_are_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, recs) = one_file(tmp.path(), 5);
    // A copy claiming to start at seq 3 overlaps records 3..5 of the first file.
    let bytes = fs::read(&file).unwrap();
    fs::write(tmp.path().join("00000000000000000003.wal"), &bytes).unwrap();
    let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 20));
    assert_eq!(r.records, recs);
    assert_eq!(r.quarantined.len(), 1);
    assert!(wal.append_blocking(vec![1]).unwrap() > 5);
}

#[test]
fn the_end_of_the_seq_space_fails_instead_of_wrapping() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = b"KWWAL\0\0\x01".to_vec();
    crate::format::encode_frame(&mut bytes, u64::MAX, b"last");
    fs::write(tmp.path().join(format!("{}.wal", u64::MAX)), &bytes).unwrap();
    let (wal, r) = open(tmp.path(), opts(LAZY, 1 << 20));
    assert_eq!(r.records, vec![(u64::MAX, b"last".to_vec())]);
    assert!(wal.append_blocking(vec![1]).is_err());
}
