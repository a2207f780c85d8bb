//! `kaiwu-bench`: Kaiwu's benchmark suite. See `docs/benchmarks.md`.

use clap::Parser;

// The product's allocator: storage ingest and queries run Kaiwu's engine inside this process, so
// it must allocate as `kaiwu` does; the load generators, which share the machine with whatever
// they measure, get cheaper for every peer alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    kaiwu_bench::run(kaiwu_bench::Cli::parse())
}
