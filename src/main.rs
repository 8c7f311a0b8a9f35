//! The `crosstrail` binary: everything happens in `crosstrail-cli`.
fn main() -> std::process::ExitCode {
    crosstrail_cli::main()
}
