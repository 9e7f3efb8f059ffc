//! Project automation (`cargo xtask …`): test, demo, bench.

fn main() -> anyhow::Result<()> {
    Ok(())
}
