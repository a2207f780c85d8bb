//! `kaiwu-bench`: Kaiwu's benchmark suite. See `docs/benchmarks.md`.

use clap::Parser;

// The load generator shares the machine with the system it measures: the same allocator as
// `kaiwu` keeps its own cost down for every peer alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    kaiwu_bench::run(kaiwu_bench::Cli::parse())
}
