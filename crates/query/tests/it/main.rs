//! Integration tests of crosstrail-query against small lakes written in temp directories.

mod fixtures;
mod readonly;
mod reports;
mod session;
