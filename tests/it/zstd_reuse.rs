//! The patched zstd-safe (vendor/zstd-safe, see its `kept.rs`): a context dropped on a thread
//! is reused by the next one made there, and behaves exactly as a new one.

use std::sync::Arc;

use zstd_safe::{CCtx, CParameter, DCtx, InBuffer, OutBuffer};

/// Text that compresses, of `len` bytes.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{{\"eventName\":\"Get{}\",\"n\":{i}}},", i % 37).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn compress(cctx: &mut CCtx<'_>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    cctx.compress2(&mut out, data).expect("compresses");
    out
}

fn decompress(dctx: &mut DCtx<'_>, frame: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(len);
    dctx.decompress(&mut out, frame)
        .map_err(|code| zstd_safe::get_error_name(code).to_string())?;
    Ok(out)
}

/// What a context that never served before makes of `data` with the default parameters.
fn compressed_by_a_new_context(data: Vec<u8>) -> Vec<u8> {
    std::thread::spawn(move || compress(&mut CCtx::create(), &data))
        .join()
        .expect("thread")
}

#[test]
fn a_dropped_zstd_context_is_reused_on_its_thread_and_starts_over_as_new() {
    // Small enough that the contexts which serve it stay small enough to be kept.
    let data = text(4 << 10);
    let dict = text(1 << 10);
    let expected = compressed_by_a_new_context(data.clone());
    std::thread::spawn(move || {
        let new_size = CCtx::create().sizeof();
        // A context that grew large for a large input is freed, not kept.
        let mut big = CCtx::create();
        big.set_parameter(CParameter::CompressionLevel(19)).unwrap();
        compress(&mut big, &text(1 << 20));
        assert!(big.sizeof() > 1 << 20);
        drop(big);
        assert_eq!(CCtx::create().sizeof(), new_size);
        // One that serves with other parameters, then is dropped...
        let mut first = CCtx::create();
        first
            .set_parameter(CParameter::CompressionLevel(5))
            .unwrap();
        first.set_parameter(CParameter::ChecksumFlag(true)).unwrap();
        let with_checksum = compress(&mut first, &data);
        assert_ne!(with_checksum, expected);
        drop(first);
        // ... comes back with what it allocated, but the default parameters.
        let mut second = CCtx::create();
        assert!(
            second.sizeof() > new_size,
            "a context made after one was dropped is that one ({} bytes, a new one {new_size})",
            second.sizeof()
        );
        assert_eq!(compress(&mut second, &data), expected);

        // A dictionary does not outlive the context's first life.
        second.load_dictionary(&dict).unwrap();
        let with_dict = compress(&mut second, &data);
        assert_ne!(with_dict, expected);
        drop(second);
        let mut third = CCtx::create();
        assert_eq!(compress(&mut third, &data), expected);

        // Nor does a frame left half written (a streaming context may have grown too large to
        // be kept: then a new one serves, and must be as clean).
        let mut out = Vec::with_capacity(1 << 20);
        let mut output = OutBuffer::around(&mut out);
        let mut input = InBuffer::around(&data[..data.len() / 2]);
        third.compress_stream(&mut output, &mut input).unwrap();
        drop(third);
        assert_eq!(compress(&mut CCtx::create(), &data), expected);

        // A decompression context is made at its first use: parquet makes one with every
        // column writer and never uses it. Used once, it must fit under `KEEP_BYTES` in kept.rs
        // (96 KiB), or a zstd upgrade would quietly stop the reuse of those reading the lake.
        let mut unused = DCtx::create();
        unused.load_dictionary(&[]).unwrap();
        unused.disable_dictionary().unwrap();
        unused
            .reset(zstd_safe::ResetDirective::SessionAndParameters)
            .unwrap();
        assert_eq!(unused.sizeof(), 0, "a DCtx not used yet holds no memory");
        drop(unused);
        let mut used = DCtx::create();
        assert_eq!(decompress(&mut used, &expected, data.len()).unwrap(), data);
        let used_dctx = used.sizeof();
        assert!(
            used_dctx > 0 && used_dctx <= 96 << 10,
            "a DCtx used once is {used_dctx} bytes"
        );
        drop(used);

        // Decompression: a dictionary loaded before a drop is gone after it, and a frame that
        // needs one is refused rather than decoded with a stale one.
        let mut dctx = DCtx::create();
        dctx.load_dictionary(&dict).unwrap();
        assert_eq!(decompress(&mut dctx, &with_dict, data.len()).unwrap(), data);
        drop(dctx);
        let mut dctx = DCtx::create();
        assert!(decompress(&mut dctx, &with_dict, data.len()).is_err());
        // And one disabled is gone too.
        let mut dctx = DCtx::create();
        dctx.load_dictionary(&dict).unwrap();
        dctx.disable_dictionary().unwrap();
        assert!(decompress(&mut dctx, &with_dict, data.len()).is_err());
        let mut dctx = DCtx::create();
        assert_eq!(decompress(&mut dctx, &expected, data.len()).unwrap(), data);
        assert_eq!(
            decompress(&mut dctx, &with_checksum, data.len()).unwrap(),
            data
        );
    })
    .join()
    .expect("the checks pass on their own thread");
}

/// Parquet makes a zstd context per column of each row group written or read: files written
/// one after the other on one thread (so with reused contexts) are the same bytes, and read
/// back whole.
#[test]
fn parquet_files_written_with_reused_zstd_contexts_are_the_same_and_read_back() {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let names: Vec<String> = (0..20_000).map(|i| format!("Get{}", i % 97)).collect();
    let ids: Vec<i64> = (0..20_000).collect();
    let batch = RecordBatch::try_from_iter([
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
    ])
    .unwrap();
    let write = |level: i32| {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(level).unwrap()))
            .set_max_row_group_row_count(Some(5_000))
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    };
    let first = write(1);
    let other_level = write(9);
    let again = write(1);
    assert_eq!(first, again);
    assert_ne!(first, other_level);
    for file in [first, other_level] {
        let read: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file))
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(
            arrow::compute::concat_batches(&batch.schema(), &read).unwrap(),
            batch
        );
    }
}
