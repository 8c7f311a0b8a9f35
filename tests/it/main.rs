//! The integration tests of `crosstrail`: one binary, one module per area. Each test works in
//! its own temporary directory and drives the real `crosstrail` executable.

mod bad_input;
mod cli;
mod crash;
mod demo;
mod fixtures;
pub mod generated;
mod least_privilege;
mod rerun;
mod s3;
mod sql;
mod util;
mod zstd_reuse;
