use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::{Durability, Error, HEADER_LEN};

#[test]
fn wal_is_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Wal>();
    check::<Arc<Wal>>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_across_rotations_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let (wal, replayed) = open(&dir, opts("fsync", 16 * 1024));
    assert_eq!(replayed, Replayed::default());
    assert_eq!(wal.last_seq(), 0);
    let mut expected = Vec::new();
    for i in 1..=150 {
        let seq = wal.append(payload(i)).await.unwrap();
        assert_eq!(seq, i);
        expected.push((seq, payload(i)));
    }
    assert_eq!(wal.last_seq(), 150);
    wal.shutdown().await.unwrap();
    assert!(wal_files(&dir).len() >= 5, "expected several rotations");

    let (wal, replayed) = open(&dir, opts("fsync", 16 * 1024));
    assert_eq!(replayed.records, expected);
    assert_eq!((replayed.torn_bytes, replayed.quarantined.len()), (0, 0));
    assert_eq!(wal.last_seq(), 150);
    assert_eq!(wal.append(b"next".to_vec()).await.unwrap(), 151);
    let on_disk: u64 = wal_files(&dir)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert_eq!(wal.disk_bytes(), on_disk);
    drop(wal);

    let (_wal, replayed) = open(&dir, opts("interval:10", 16 * 1024));
    expected.push((151, b"next".to_vec()));
    assert_eq!(replayed.records, expected);
}

#[test]
fn files_are_named_by_first_seq_and_respect_the_size_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let max = 8 * 1024;
    fill(tmp.path(), 60, max);
    let files = wal_files(tmp.path());
    assert_eq!(files[0].file_name().unwrap(), "00000000000000000001.wal");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let first: u64 = f.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let d = crate::decode_frames(&bytes, first, u32::MAX);
        assert_eq!(d.tail, crate::Tail::Clean);
        assert!(bytes.len() as u64 <= max || d.records.len() == 1, "{f:?}");
        assert_eq!(d.records.first().map(|r| r.0).unwrap_or(first), first);
    }
}

async fn concurrent(durability: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), opts(durability, 64 * 1024));
    let wal = Arc::new(wal);
    let tasks: Vec<_> = (0..32u64)
        .map(|t| {
            let wal = wal.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for k in 0..20 {
                    let p = payload(t * 1000 + k);
                    got.push((wal.append(p.clone()).await.unwrap(), p));
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let seqs: BTreeSet<u64> = all.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=640).collect(), "distinct, gap-free seqs");
    Arc::into_inner(wal).unwrap().shutdown().await.unwrap();
    let (_wal, replayed) = open(tmp.path(), opts(durability, 64 * 1024));
    assert_eq!(replayed.records, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_fsync() {
    concurrent("fsync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_interval() {
    concurrent("interval:5").await;
}

#[test]
fn blocking_appends_from_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), opts("fsync", 1 << 20));
    let seqs: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || {
                    (0..10)
                        .map(|k| wal.append_blocking(payload(t * 10 + k)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        seqs.iter().copied().collect::<BTreeSet<_>>(),
        (1..=80).collect()
    );
    drop(wal);
    assert_eq!(open(tmp.path(), opts("fsync", 1 << 20)).1.records.len(), 80);
}

#[tokio::test]
async fn limits_and_empty_payloads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts("fsync", 1 << 20);
    o.max_record_bytes = 100;
    let (wal, _) = open(tmp.path(), o.clone());
    assert!(matches!(
        wal.append(vec![0; 101]).await,
        Err(Error::RecordTooLarge { len: 101, max: 100 })
    ));
    assert_eq!(wal.append(vec![]).await.unwrap(), 1);
    assert_eq!(wal.append(vec![7; 100]).await.unwrap(), 2);
    wal.shutdown().await.unwrap();
    let (_w, r) = open(tmp.path(), o);
    assert_eq!(r.records, vec![(1, vec![]), (2, vec![7; 100])]);
}

#[tokio::test]
async fn directory_is_locked_while_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), opts("fsync", 1 << 20));
    assert!(matches!(
        Wal::open(tmp.path(), opts("fsync", 1 << 20)),
        Err(Error::Locked { .. })
    ));
    wal.shutdown().await.unwrap();
    let (wal, _) = open(tmp.path(), opts("fsync", 1 << 20));
    drop(wal);
    open(tmp.path(), opts("fsync", 1 << 20));
}

#[tokio::test]
async fn sync_makes_interval_appends_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), opts(LAZY, 1 << 20));
    assert_eq!(wal.sync().await.unwrap(), 0);
    for i in 1..=5 {
        wal.append(payload(i)).await.unwrap();
    }
    assert_eq!(wal.sync().await.unwrap(), 5);
    assert!(matches!(wal.append(vec![1]).await, Ok(6)));
}

#[test]
fn remove_through_deletes_exactly_the_covered_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let all = fill(dir, 80, 8 * 1024);
    // First seq of every file, from the names.
    let firsts = |dir: &Path| -> Vec<u64> {
        wal_files(dir)
            .iter()
            .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
            .collect()
    };
    let before = firsts(dir);
    assert!(before.len() >= 5);
    let (wal, _) = open(dir, opts("fsync", 8 * 1024));
    let cut = before[3] + 1; // inside the fourth file: only the first three are covered
    assert_eq!(
        wal.remove_through(before[0]).unwrap(),
        0,
        "the first file still has later seqs"
    );
    assert_eq!(wal.remove_through(cut).unwrap(), 3);
    assert_eq!(firsts(dir), before[3..]);
    assert_eq!(wal.remove_through(cut).unwrap(), 0);
    let on_disk: u64 = wal_files(dir)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert_eq!(wal.disk_bytes(), on_disk);
    drop(wal);

    let (wal, r) = open(dir, opts("fsync", 8 * 1024));
    assert_eq!(r.records, all[before[3] as usize - 1..]);
    // Everything acknowledged is covered: the active file is rotated away too.
    let n = wal.remove_through(80).unwrap();
    assert_eq!(n, before.len() - 3);
    assert_eq!(wal_files(dir).len(), 1);
    assert_eq!(wal.disk_bytes(), HEADER_LEN as u64);
    drop(wal);
    let (wal, r) = open(dir, opts("fsync", 8 * 1024));
    assert!(r.records.is_empty());
    assert_eq!(wal.last_seq(), 80, "seqs are never reused after removal");
    assert_eq!(wal.append_blocking(vec![1]).unwrap(), 81);
    assert_eq!(
        wal.remove_through(80).unwrap(),
        0,
        "the active file holds seq 81"
    );
}

#[test]
fn failed_write_fails_the_group_and_every_later_call() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let (wal, _) = open(&dir, opts("fsync", 64));
    assert_eq!(wal.append_blocking(vec![1; 40]).unwrap(), 1);
    // Next append must rotate, and creating the new file fails.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        wal.append_blocking(vec![2; 40]),
        Err(Error::Failed { .. })
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let e = wal.append_blocking(vec![3]).unwrap_err();
    assert!(e.to_string().contains("reopen"), "{e}");
    assert!(matches!(wal.remove_through(1), Err(Error::Failed { .. })));
    assert_eq!(wal.last_seq(), 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(rt.block_on(wal.sync()).is_err());
    assert!(rt.block_on(wal.shutdown()).is_err());
}

#[test]
fn durability_text_round_trips_through_options() {
    let o = opts("interval:250", 1);
    assert_eq!(
        o.durability,
        Durability::Interval(std::time::Duration::from_millis(250))
    );
    assert_eq!(o.durability.to_string(), "interval:250");
}
