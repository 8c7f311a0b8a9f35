//! The `crosstrail` binary: everything happens in `crosstrail-cli`.

fn main() -> std::process::ExitCode {
    tune_allocator();
    raise_open_file_limit();
    crosstrail_cli::main()
}

/// Lets the process hold as many open files as the system allows (the soft `RLIMIT_NOFILE` up
/// to the hard one, at most 65,536): each S3 GET in flight holds a connection, and against a
/// distant endpoint a run keeps up to 1,024 in flight, past the soft limit of 1,024 that many
/// systems start processes with. The ingest keeps its connections within the limit it finds.
#[cfg(unix)]
#[allow(unsafe_code)]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given, which lives on this
    // stack frame; a refused value leaves the limit as it was.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.min(65_536);
            if wanted > limit.rlim_cur {
                limit.rlim_cur = wanted;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() {}

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
