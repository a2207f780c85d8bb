//! Not a test: prints append throughput. Run with
//! `cargo nextest run -p kaiwu-wal --run-ignored only --no-capture throughput`.

use std::sync::Arc;
use std::time::Instant;

use super::*;

async fn run(durability: &str, tasks: u64, per_task: u64) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path(), opts(durability, 64 << 20));
    let wal = Arc::new(wal);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let wal = wal.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    wal.append(vec![0xab; 1024]).await.unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    Arc::into_inner(wal).unwrap().shutdown().await.unwrap();
    (tasks * per_task) as f64 / secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: prints numbers, asserts nothing"]
async fn throughput() {
    for (durability, tasks, per_task) in [
        ("fsync", 1, 500),
        ("fsync", 64, 500),
        ("interval:100", 1, 20_000),
        ("interval:100", 64, 500),
    ] {
        let rate = run(durability, tasks, per_task).await;
        println!("{durability:>13} {tasks:>3} appenders, 1 KiB: {rate:>9.0} records/s");
    }
}
