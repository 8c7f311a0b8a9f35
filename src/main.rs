//! The `crosstrail` binary: everything happens in `crosstrail-cli`.

fn main() -> std::process::ExitCode {
    tune_allocator();
    crosstrail_cli::main()
}

/// glibc's allocator, by default, gives memory back to the kernel as soon as a few hundred KiB
/// are free at the top of a heap, and serves each block of 128 KiB or more (at first) with a
/// mapping of its own. Ingest frees and allocates tens of MiB per batch (column builders,
/// Parquet pages, a zstd context per column and row group), so the same memory went back and
/// forth: page faults, zeroing, and with two workers TLB shootdowns, because a page first read
/// before it is written (Parquet copies never-written buffers when it grows them) maps the
/// shared zero page and writing it then flushes the other core's TLB. Keeping what was freed
/// (up to 256 MiB at a heap's top), growing heaps 64 MiB at a time and mapping only blocks of
/// 32 MiB or more: on the bench trails, wall time -2 to -4% with one thread and -6 to -7% with
/// two, peak RSS unchanged (it is the live data's, bounded by the pipeline).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    for (param, value) in [
        (libc::M_MMAP_THRESHOLD, 32 << 20),
        (libc::M_TRIM_THRESHOLD, 256 << 20),
        (libc::M_TOP_PAD, 64 << 20),
    ] {
        // SAFETY: mallopt only sets allocator parameters, takes no pointers, and runs first
        // thing in main, before any other thread exists. A refused value leaves the default.
        unsafe {
            libc::mallopt(param, value);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
