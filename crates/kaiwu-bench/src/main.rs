//! `kaiwu-bench`: Kaiwu's benchmark suite. See `docs/benchmarks.md`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    kaiwu_bench::run(kaiwu_bench::Cli::parse())
}
