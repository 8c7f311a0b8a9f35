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
//! new one, so up to [`KEEP`] of each kind wait here for the next `create` on
//! this thread, and are freed when the thread ends. A context keeps the
//! tables zstd sized for the largest input it compressed: one that grew past
//! [`KEEP_BYTES`] is freed instead (making one costs little next to
//! compressing that much), so that what is kept stays small.
//!
//! Without `std` (no thread-local storage), or with `zstdmt` (a context may
//! reference a thread pool that a reset does not forget), nothing is kept.

/// Contexts of each kind kept per thread: more than the columns of a row
/// group, so that closing one and starting the next makes none.
#[cfg_attr(not(all(feature = "std", not(feature = "zstdmt"))), allow(dead_code))]
pub(crate) const KEEP: usize = 64;

/// The largest context kept (`ZSTD_sizeof_CCtx`/`ZSTD_sizeof_DCtx`).
#[cfg_attr(not(all(feature = "std", not(feature = "zstdmt"))), allow(dead_code))]
pub(crate) const KEEP_BYTES: usize = 256 << 10;

#[cfg(all(feature = "std", not(feature = "zstdmt")))]
mod imp {
    use super::{KEEP, KEEP_BYTES};
    use core::cell::RefCell;
    use core::ptr::NonNull;
    use std::vec::Vec;

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

    pub(crate) fn take_cctx() -> Option<NonNull<zstd_sys::ZSTD_CCtx>> {
        KEPT.try_with(|k| k.borrow_mut().c.pop()).ok().flatten()
    }

    pub(crate) fn take_dctx() -> Option<NonNull<zstd_sys::ZSTD_DCtx>> {
        KEPT.try_with(|k| k.borrow_mut().d.pop()).ok().flatten()
    }

    /// Keeps `c` (reset by the caller) unless the list is full or the thread
    /// is ending; false means the caller still owns it and frees it.
    pub(crate) fn keep_cctx(c: NonNull<zstd_sys::ZSTD_CCtx>) -> bool {
        // Safety: Just FFI, on a live context.
        if unsafe { zstd_sys::ZSTD_sizeof_CCtx(c.as_ptr()) } > KEEP_BYTES {
            return false;
        }
        KEPT.try_with(|k| {
            let mut k = k.borrow_mut();
            let room = k.c.len() < KEEP;
            if room {
                k.c.push(c);
            }
            room
        })
        .unwrap_or(false)
    }

    /// As [`keep_cctx`], for a decompression context.
    pub(crate) fn keep_dctx(d: NonNull<zstd_sys::ZSTD_DCtx>) -> bool {
        // Safety: Just FFI, on a live context.
        if unsafe { zstd_sys::ZSTD_sizeof_DCtx(d.as_ptr()) } > KEEP_BYTES {
            return false;
        }
        KEPT.try_with(|k| {
            let mut k = k.borrow_mut();
            let room = k.d.len() < KEEP;
            if room {
                k.d.push(d);
            }
            room
        })
        .unwrap_or(false)
    }
}

#[cfg(all(feature = "std", not(feature = "zstdmt")))]
pub(crate) use imp::*;

#[cfg(not(all(feature = "std", not(feature = "zstdmt"))))]
pub(crate) fn take_cctx() -> Option<core::ptr::NonNull<zstd_sys::ZSTD_CCtx>> {
    None
}

#[cfg(not(all(feature = "std", not(feature = "zstdmt"))))]
pub(crate) fn take_dctx() -> Option<core::ptr::NonNull<zstd_sys::ZSTD_DCtx>> {
    None
}

#[cfg(not(all(feature = "std", not(feature = "zstdmt"))))]
pub(crate) fn keep_cctx(_: core::ptr::NonNull<zstd_sys::ZSTD_CCtx>) -> bool {
    false
}

#[cfg(not(all(feature = "std", not(feature = "zstdmt"))))]
pub(crate) fn keep_dctx(_: core::ptr::NonNull<zstd_sys::ZSTD_DCtx>) -> bool {
    false
}
