//! Writes the demo world: `cargo run -p crosstrail-synth --example demo -- <out_dir>`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: demo <out_dir>")?;
    let started = std::time::Instant::now();
    let truth = crosstrail_synth::generate(&crosstrail_synth::Spec::demo(), out.as_ref())?;
    println!(
        "{:#?}\n{:.2} s",
        truth.counts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
