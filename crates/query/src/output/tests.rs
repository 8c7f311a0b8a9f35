//! Golden output of every format.

use std::io;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, ListBuilder, StringArray, StringBuilder, StructBuilder,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use crosstrail_lake::schema::{resource_fields, resources_type, timestamp_type};

use super::*;

/// Two rows: a timestamp (with and without millis), a list<struct> (one element with a null
/// field / a null list), a string with `|`, `"` and a newline, a boolean and an integer.
fn sample() -> (SchemaRef, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_time", timestamp_type(), false),
        Field::new("resources", resources_type(), true),
        Field::new("note", DataType::Utf8, true),
        Field::new("read_only", DataType::Boolean, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let times = TimestampMillisecondArray::from(vec![1_706_695_200_000, 1_706_695_200_250])
        .with_timezone("UTC");
    let mut resources =
        ListBuilder::new(StructBuilder::from_fields(resource_fields(), 1)).with_field(Arc::new(
            Field::new("item", DataType::Struct(resource_fields()), true),
        ));
    {
        let item = resources.values();
        item.field_builder::<StringBuilder>(0)
            .expect("arn")
            .append_value("arn:aws:s3:::bucket");
        item.field_builder::<StringBuilder>(1)
            .expect("account_id")
            .append_null();
        item.field_builder::<StringBuilder>(2)
            .expect("type")
            .append_value("AWS::S3::Bucket");
        item.append(true);
    }
    resources.append(true);
    resources.append(false);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times),
        Arc::new(resources.finish()),
        Arc::new(StringArray::from(vec![Some("a|b \"q\"\nline 2"), None])),
        Arc::new(BooleanArray::from(vec![Some(true), None])),
        Arc::new(Int64Array::from(vec![Some(42), None])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("valid batch");
    (schema, batch)
}

fn render(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> String {
    let mut out = Vec::new();
    let rows = write_batches(format, schema.clone(), batches, &mut out).expect("written");
    assert_eq!(
        rows,
        batches.iter().map(|b| b.num_rows() as u64).sum::<u64>()
    );
    String::from_utf8(out).expect("UTF-8 output")
}

#[test]
fn table() {
    let (schema, batch) = sample();
    assert_eq!(
        render(OutputFormat::Table, &schema, &[batch]),
        r#"+--------------------------+----------------------------------------------------------------------------+---------+-----------+----+
| event_time               | resources                                                                  | note    | read_only | n  |
+--------------------------+----------------------------------------------------------------------------+---------+-----------+----+
| 2024-01-31T10:00:00Z     | [{"arn":"arn:aws:s3:::bucket","account_id":null,"type":"AWS::S3::Bucket"}] | a|b "q" | true      | 42 |
|                          |                                                                            | line 2  |           |    |
| 2024-01-31T10:00:00.250Z |                                                                            |         |           |    |
+--------------------------+----------------------------------------------------------------------------+---------+-----------+----+
"#
    );
}

#[test]
fn csv() {
    let (schema, batch) = sample();
    assert_eq!(
        render(
            OutputFormat::Csv,
            &schema,
            &[batch.clone(), batch.slice(1, 1)]
        ),
        "event_time,resources,note,read_only,n\n\
         2024-01-31T10:00:00Z,\"[{\"\"arn\"\":\"\"arn:aws:s3:::bucket\"\",\"\"account_id\"\":null,\"\"type\"\":\"\"AWS::S3::Bucket\"\"}]\",\"a|b \"\"q\"\"\nline 2\",true,42\n\
         2024-01-31T10:00:00.250Z,,,,\n\
         2024-01-31T10:00:00.250Z,,,,\n"
    );
}

#[test]
fn json() {
    let (schema, batch) = sample();
    let text = render(
        OutputFormat::Json,
        &schema,
        &[batch.clone(), batch.slice(0, 1)],
    );
    assert_eq!(
        text,
        "[\n\
         {\"event_time\":\"2024-01-31T10:00:00Z\",\"resources\":[{\"arn\":\"arn:aws:s3:::bucket\",\"account_id\":null,\"type\":\"AWS::S3::Bucket\"}],\"note\":\"a|b \\\"q\\\"\\nline 2\",\"read_only\":true,\"n\":42},\n\
         {\"event_time\":\"2024-01-31T10:00:00.250Z\",\"resources\":null,\"note\":null,\"read_only\":null,\"n\":null},\n\
         {\"event_time\":\"2024-01-31T10:00:00Z\",\"resources\":[{\"arn\":\"arn:aws:s3:::bucket\",\"account_id\":null,\"type\":\"AWS::S3::Bucket\"}],\"note\":\"a|b \\\"q\\\"\\nline 2\",\"read_only\":true,\"n\":42}\n\
         ]\n"
    );
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(parsed.as_array().map(Vec::len), Some(3));
}

#[test]
fn ndjson() {
    let (schema, batch) = sample();
    assert_eq!(
        render(OutputFormat::Ndjson, &schema, &[batch]),
        "{\"event_time\":\"2024-01-31T10:00:00Z\",\"resources\":[{\"arn\":\"arn:aws:s3:::bucket\",\"account_id\":null,\"type\":\"AWS::S3::Bucket\"}],\"note\":\"a|b \\\"q\\\"\\nline 2\",\"read_only\":true,\"n\":42}\n\
         {\"event_time\":\"2024-01-31T10:00:00.250Z\",\"resources\":null,\"note\":null,\"read_only\":null,\"n\":null}\n"
    );
}

#[test]
fn markdown() {
    let (schema, batch) = sample();
    assert_eq!(
        render(OutputFormat::Markdown, &schema, &[batch]),
        "| event_time | resources | note | read_only | n |\n\
         | --- | --- | --- | --- | --- |\n\
         | 2024-01-31T10:00:00Z | [{\"arn\":\"arn:aws:s3:::bucket\",\"account_id\":null,\"type\":\"AWS::S3::Bucket\"}] | a\\|b \"q\"<br>line 2 | true | 42 |\n\
         | 2024-01-31T10:00:00.250Z |  |  |  |  |\n"
    );
}

#[test]
fn zero_rows() {
    let (schema, batch) = sample();
    for batches in [vec![], vec![batch.slice(0, 0)]] {
        assert_eq!(
            render(OutputFormat::Table, &schema, &batches),
            "+------------+-----------+------+-----------+---+\n\
             | event_time | resources | note | read_only | n |\n\
             +------------+-----------+------+-----------+---+\n\
             +------------+-----------+------+-----------+---+\n"
        );
        assert_eq!(
            render(OutputFormat::Csv, &schema, &batches),
            "event_time,resources,note,read_only,n\n"
        );
        assert_eq!(render(OutputFormat::Json, &schema, &batches), "[]\n");
        assert_eq!(render(OutputFormat::Ndjson, &schema, &batches), "");
        assert_eq!(
            render(OutputFormat::Markdown, &schema, &batches),
            "| event_time | resources | note | read_only | n |\n| --- | --- | --- | --- | --- |\n"
        );
    }
}

#[test]
fn format_names_round_trip() {
    for format in OutputFormat::ALL {
        assert_eq!(format.name().parse::<OutputFormat>().ok(), Some(format));
        assert_eq!(format.to_string(), format.name());
    }
    let error = "yaml".parse::<OutputFormat>().expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "unknown output format `yaml` (expected table, csv, json, ndjson or markdown)"
    );
}

/// A reader that went away: every write fails with `BrokenPipe`.
struct ClosedPipe;

impl io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

#[test]
fn broken_pipe_is_an_io_error_of_kind_broken_pipe() {
    let (schema, batch) = sample();
    for format in OutputFormat::ALL {
        let error = write_batches(
            format,
            schema.clone(),
            std::slice::from_ref(&batch),
            ClosedPipe,
        )
        .expect_err("the pipe is closed");
        assert!(error.is_broken_pipe(), "{format}: {error:?}");
        let source = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(source.map(io::Error::kind), Some(io::ErrorKind::BrokenPipe));
    }
}
