//! Small lakes in temp directories, written with the declared file schemas.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use crosstrail_lake::Table;
use crosstrail_query::{LakeOptions, LakeSession};
use datafusion::prelude::DataFrame;
use parquet::arrow::ArrowWriter;
use tempfile::TempDir;

/// One row: `(column, value)` pairs; unnamed columns are null (or a default for the few
/// non-nullable ones). Values are text, cast to the column type (`2024-01-01T10:00:00Z`, `true`).
pub type Row<'a> = &'a [(&'a str, &'a str)];

/// A lake directory that disappears with the test.
pub struct Lake {
    dir: TempDir,
}

impl Lake {
    pub fn new() -> Self {
        Lake {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rows` as `<lake>/<table>/<relative>` (e.g. `event_date=2024-01-01/part-1.parquet`).
    pub fn write(&self, table: Table, relative: &str, rows: &[Row<'_>]) {
        let path = self.path().join(table.name()).join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        let batch = batch(table, rows);
        let mut writer = ArrowWriter::try_new(
            File::create(&path).expect("create file"),
            batch.schema(),
            None,
        )
        .expect("parquet writer");
        writer.write(&batch).expect("write batch");
        writer.close().expect("close parquet");
    }

    /// Writes bytes that are not Parquet: reading them fails the query.
    pub fn write_garbage(&self, relative: &str) {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        fs::write(path, b"not parquet at all").expect("write garbage");
    }

    pub async fn open(&self) -> LakeSession {
        self.open_with(LakeOptions::default()).await
    }

    pub async fn open_with(&self, options: LakeOptions) -> LakeSession {
        LakeSession::open(self.path(), options)
            .await
            .expect("lake opens")
    }
}

/// A batch of `table`'s file schema holding `rows`.
pub fn batch(table: Table, rows: &[Row<'_>]) -> RecordBatch {
    let schema = table.file_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().as_str();
            let values: Vec<Option<&str>> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .find(|(column, _)| *column == name)
                        .map(|(_, value)| *value)
                        .or(if field.is_nullable() {
                            None
                        } else {
                            Some(default_value(field.data_type()))
                        })
                })
                .collect();
            match field.data_type() {
                DataType::List(_) => {
                    assert!(
                        values.iter().all(Option::is_none),
                        "{name}: lists are null here"
                    );
                    new_null_array(field.data_type(), rows.len())
                }
                data_type => {
                    let text: ArrayRef = Arc::new(StringArray::from(values));
                    cast(&text, data_type).expect("value of the column type")
                }
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("batch of the file schema")
}

fn default_value(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Timestamp(..) => "2024-01-01T00:00:00Z",
        DataType::Boolean => "false",
        _ => "s3://bucket/AWSLogs/default.json.gz",
    }
}

/// Runs `sql` and renders the result as CSV (header included).
pub async fn csv(session: &LakeSession, sql: &str) -> String {
    let result = session.sql(sql).await.expect("query plans");
    render_csv(result).await
}

pub async fn render_csv(result: DataFrame) -> String {
    let mut out = Vec::new();
    crosstrail_query::write_dataframe(crosstrail_query::OutputFormat::Csv, result, &mut out)
        .await
        .expect("query runs");
    String::from_utf8(out).expect("UTF-8")
}

/// The physical plan of `sql`, as EXPLAIN shows it.
pub async fn physical_plan(session: &LakeSession, sql: &str) -> String {
    let explain = csv(session, &format!("EXPLAIN {sql}")).await;
    let start = explain.find("physical_plan").expect("a physical plan");
    explain[start..].to_owned()
}
