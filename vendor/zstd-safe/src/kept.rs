//! crosstrail patch: contexts kept for reuse, on the thread that dropped them.
//!
//! Making a context runs `cpuid` three times (zstd checks for BMI2 in every
//! new `ZSTD_CCtx` and `ZSTD_DCtx`). Under a hypervisor each `cpuid` is a trap
//! to it, 4 µs apiece on the 2-vCPU KVM machines crosstrail is measured on.
//! parquet makes a compression and a decompression context for every column
//! of every row group it writes, and every column chunk it reads: a lake of
//! many small daily files spent a fifth of its ingest CPU making contexts.
//!
//! A context dropped after a full reset (`ZSTD_reset_session_and_parameters`:
//! default parameters, no dictionary, no frame in progress) is as good as a
//! new one, so up to `KEEP` of each kind wait here for the next `create` on
//! this thread, and are freed when the thread ends. A context keeps the
//! tables zstd sized for the largest input it compressed: one that grew past
//! `KEEP_BYTES` is freed instead (making one costs little next to
//! compressing that much), so that what is kept stays small.
//!
//! Small matters more than few. Kept contexts live among the buffers a run
//! allocates and frees, and larger ones pin more of the heap: with contexts
//! of up to 256 KiB kept, the peak RSS of an ingest of 2 GB was 50 MiB above
//! that of no reuse, and with 24 or 32 kept instead of 64, 33 to 40 MiB.
//! Kept up to 96 KiB (a new decompression context, which parquet then made
//! with every column writer and never used, and compression contexts that
//! served small column chunks), 18 MiB; and on a trail of small files, where
//! reuse saves the most, the peak is below that of no reuse. One list for the
//! whole process instead of one per thread was tried: slower on that trail,
//! with a higher peak.
//!
//! Since then a `DCtx` from `create` makes its C context at first use (see
//! `DCtx` in lib.rs): the ones parquet's writers never use cost nothing, and
//! those kept are ones that decompressed (reading the lake).
//!
//! Without `std` (no thread-local storage), or with `zstdmt` (a context may
//! reference a thread pool that a reset does not forget), nothing is kept.

#[cfg(all(feature = "std", not(feature = "zstdmt")))]
mod imp {
    use core::cell::RefCell;
    use core::ptr::NonNull;
    use std::vec::Vec;

    /// Contexts of each kind kept per thread: more than the columns of a row
    /// group, so that closing one and starting the next makes none.
    const KEEP: usize = 64;

    /// The largest context kept (`ZSTD_sizeof_CCtx`/`ZSTD_sizeof_DCtx`): a
    /// new decompression context is 95,976 bytes with zstd 1.5.7.
    const KEEP_BYTES: usize = 96 << 10;

    struct Kept {
        c: Vec<NonNull<zstd_sys::ZSTD_CCtx>>,
        d: Vec<NonNull<zstd_sys::ZSTD_DCtx>>,
    }

    impl Drop for Kept {
        fn drop(&mut self) {
            // Safety: kept contexts are owned by this list alone.
            for c in self.c.drain(..) {
                unsafe { zstd_sys::ZSTD_freeCCtx(c.as_ptr()) };
            }
            for d in self.d.drain(..) {
                unsafe { zstd_sys::ZSTD_freeDCtx(d.as_ptr()) };
            }
        }
    }

    std::thread_local! {
        static KEPT: RefCell<Kept> = const {
            RefCell::new(Kept { c: Vec::new(), d: Vec::new() })
        };
    }

    /// One of this thread's kept contexts, from the list `of`.
    fn take<T>(of: fn(&mut Kept) -> &mut Vec<NonNull<T>>) -> Option<NonNull<T>> {
        KEPT.try_with(|k| of(&mut k.borrow_mut()).pop())
            .ok()
            .flatten()
    }

    /// Keeps `ctx`, of `size` bytes and reset by the caller, in the list `of`
    /// unless it is too large, the list is full or the thread is ending; false
    /// means the caller still owns it and frees it.
    fn keep<T>(ctx: NonNull<T>, size: usize, of: fn(&mut Kept) -> &mut Vec<NonNull<T>>) -> bool {
        size <= KEEP_BYTES
            && KEPT
                .try_with(|k| {
                    let mut k = k.borrow_mut();
                    let list = of(&mut k);
                    let room = list.len() < KEEP;
                    if room {
                        list.push(ctx);
                    }
                    room
                })
                .unwrap_or(false)
    }

    pub(crate) fn take_cctx() -> Option<NonNull<zstd_sys::ZSTD_CCtx>> {
        take(|k| &mut k.c)
    }

    pub(crate) fn take_dctx() -> Option<NonNull<zstd_sys::ZSTD_DCtx>> {
        take(|k| &mut k.d)
    }

    pub(crate) fn keep_cctx(c: NonNull<zstd_sys::ZSTD_CCtx>) -> bool {
        // Safety: Just FFI, on a live context.
        let size = unsafe { zstd_sys::ZSTD_sizeof_CCtx(c.as_ptr()) };
        keep(c, size, |k| &mut k.c)
    }

    pub(crate) fn keep_dctx(d: NonNull<zstd_sys::ZSTD_DCtx>) -> bool {
        // Safety: Just FFI, on a live context.
        let size = unsafe { zstd_sys::ZSTD_sizeof_DCtx(d.as_ptr()) };
        keep(d, size, |k| &mut k.d)
    }
}

/// Nothing is kept: contexts are made and freed as upstream.
#[cfg(not(all(feature = "std", not(feature = "zstdmt"))))]
mod imp {
    use core::ptr::NonNull;

    pub(crate) fn take_cctx() -> Option<NonNull<zstd_sys::ZSTD_CCtx>> {
        None
    }

    pub(crate) fn take_dctx() -> Option<NonNull<zstd_sys::ZSTD_DCtx>> {
        None
    }

    pub(crate) fn keep_cctx(_: NonNull<zstd_sys::ZSTD_CCtx>) -> bool {
        false
    }

    pub(crate) fn keep_dctx(_: NonNull<zstd_sys::ZSTD_DCtx>) -> bool {
        false
    }
}

pub(crate) use imp::*;
