//! Writing query results as a table, CSV, JSON, NDJSON or Markdown.
//!
//! All formats render values the same way: timestamps as RFC 3339 / ISO-8601 (`Z` for UTC,
//! fractional seconds only when not zero: `2024-01-31T10:00:00Z`, `2024-01-31T10:00:00.250Z`),
//! nulls as nothing (an empty cell, or JSON `null`). Lists, structs and maps are JSON text in
//! `table`, `csv` and `markdown`, and real JSON values in `json` and `ndjson`.
//!
//! [`ResultWriter`] takes one batch at a time and writes it out before taking the next, so
//! memory stays bounded by the batch size for every format but `table`, which must see every
//! row to size its columns. Output errors are [`Error::Output`] with the `io::Error` as the
//! source, so a closed pipe can be told apart ([`Error::is_broken_pipe`]).

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, StructArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::writer::{EncoderOptions, make_encoder};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::error::Error;

/// How query results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    /// A boxed text table, for people.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects keyed by column name (`[]` when there are no rows).
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

impl OutputFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Markdown,
    ];

    /// The name used on the command line (`table`, `csv`, `json`, `ndjson`, `markdown`).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Markdown => "markdown",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| Error::UnknownFormat {
                name: name.to_owned(),
            })
    }
}

/// Executes `result` and writes its rows in `format`, one batch at a time. Returns the number
/// of rows written.
pub async fn write_dataframe<W: Write>(
    format: OutputFormat,
    result: DataFrame,
    out: W,
) -> Result<u64, Error> {
    write_stream(format, result.execute_stream().await?, out).await
}

/// Writes the batches of `stream` in `format` as they arrive. Returns the number of rows
/// written.
pub async fn write_stream<W: Write>(
    format: OutputFormat,
    mut stream: SendableRecordBatchStream,
    out: W,
) -> Result<u64, Error> {
    let mut writer = ResultWriter::new(format, stream.schema(), out);
    while let Some(batch) = stream.next().await {
        writer.write(&batch?)?;
    }
    writer.finish()
}

/// Writes `batches` (all of `schema`) in `format`. Returns the number of rows written.
pub fn write_batches<W: Write>(
    format: OutputFormat,
    schema: SchemaRef,
    batches: &[RecordBatch],
    out: W,
) -> Result<u64, Error> {
    let mut writer = ResultWriter::new(format, schema, out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// Writes record batches of one schema to `out`, batch by batch. Call
/// [`ResultWriter::finish`] at the end: it writes what comes after the last row (the closing
/// `]` of `json`, the whole `table`), and the header when there was no row.
#[derive(Debug)]
pub struct ResultWriter<W: Write> {
    format: OutputFormat,
    /// The schema as given, every field made nullable: encoders must not trust nullability.
    schema: SchemaRef,
    /// Same names, with nested types replaced by Utf8 (JSON text) for the text formats.
    text_schema: SchemaRef,
    out: W,
    rows: u64,
    /// Whatever comes before the first row (header, `[`) has been written.
    started: bool,
    /// `table` only: every batch, rendered once all are in.
    table: Vec<RecordBatch>,
}

impl<W: Write> ResultWriter<W> {
    /// A writer of results of `schema` in `format` to `out`.
    pub fn new(format: OutputFormat, schema: SchemaRef, out: W) -> Self {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let text_fields: Vec<Field> = fields
            .iter()
            .map(|f| {
                if is_nested(f.data_type()) {
                    Field::new(f.name(), DataType::Utf8, true)
                } else {
                    f.clone()
                }
            })
            .collect();
        ResultWriter {
            format,
            schema: Arc::new(Schema::new(fields)),
            text_schema: Arc::new(Schema::new(text_fields)),
            out,
            rows: 0,
            started: false,
            table: Vec::new(),
        }
    }

    /// Writes the rows of `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let mut buffer = Vec::new();
        match self.format {
            OutputFormat::Table => self.table.push(self.text_batch(batch)?),
            OutputFormat::Csv => {
                let text = self.text_batch(batch)?;
                let mut csv = arrow::csv::WriterBuilder::new()
                    .with_header(!self.started)
                    .build(&mut buffer);
                csv.write(&text)?;
            }
            OutputFormat::Json | OutputFormat::Ndjson => self.json_rows(batch, &mut buffer)?,
            OutputFormat::Markdown => {
                if !self.started {
                    self.markdown_header(&mut buffer);
                }
                markdown_rows(&self.text_batch(batch)?, &mut buffer)?;
            }
        }
        self.started = true;
        self.rows += batch.num_rows() as u64;
        self.out.write_all(&buffer).map_err(Error::Output)
    }

    /// Writes the end of the output and flushes it. Returns the number of rows written.
    pub fn finish(mut self) -> Result<u64, Error> {
        let mut buffer = Vec::new();
        match self.format {
            OutputFormat::Table => {
                let table = arrow::util::pretty::pretty_format_batches_with_schema(
                    self.text_schema.clone(),
                    &self.table,
                )?;
                buffer = format!("{table}\n").into_bytes();
            }
            OutputFormat::Csv if !self.started => {
                let empty = RecordBatch::new_empty(self.text_schema.clone());
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buffer)
                    .write(&empty)?;
            }
            OutputFormat::Csv | OutputFormat::Ndjson => {}
            OutputFormat::Json => {
                buffer.extend_from_slice(if self.rows == 0 { b"[]\n" } else { b"\n]\n" });
            }
            OutputFormat::Markdown if !self.started => self.markdown_header(&mut buffer),
            OutputFormat::Markdown => {}
        }
        self.out.write_all(&buffer).map_err(Error::Output)?;
        self.out.flush().map_err(Error::Output)?;
        Ok(self.rows)
    }

    /// `batch` with nested columns replaced by their JSON text.
    fn text_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let columns = self
            .schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| {
                if is_nested(field.data_type()) {
                    json_text(field, column)
                } else {
                    Ok(column.clone())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.text_schema.clone(), columns)
    }

    /// Appends one JSON object per row: `{..}\n` for ndjson, `[\n{..},\n{..}` for json.
    fn json_rows(&self, batch: &RecordBatch, buffer: &mut Vec<u8>) -> Result<(), ArrowError> {
        let rows =
            StructArray::try_new(self.schema.fields().clone(), batch.columns().to_vec(), None)?;
        let field: FieldRef = Arc::new(Field::new_struct("", self.schema.fields().clone(), false));
        let options = json_options();
        let mut encoder = make_encoder(&field, &rows, &options)?;
        for row in 0..rows.len() {
            if self.format == OutputFormat::Json {
                let first = self.rows == 0 && row == 0;
                buffer.extend_from_slice(if first { b"[\n" } else { b",\n" });
            }
            encoder.encode(row, buffer);
            if self.format == OutputFormat::Ndjson {
                buffer.push(b'\n');
            }
        }
        Ok(())
    }

    fn markdown_header(&self, buffer: &mut Vec<u8>) {
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| markdown_cell(f.name()))
            .collect();
        markdown_line(buffer, &names);
        markdown_line(buffer, &vec!["---".to_owned(); names.len()]);
    }
}

fn json_options() -> EncoderOptions {
    EncoderOptions::default().with_explicit_nulls(true)
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
    )
}

/// Each value of a nested column as JSON text (nulls stay null).
fn json_text(field: &FieldRef, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let options = json_options();
    let mut encoder = make_encoder(field, column.as_ref(), &options)?;
    let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
    let mut value = Vec::new();
    for row in 0..column.len() {
        if encoder.is_null(row) {
            text.append_null();
        } else {
            value.clear();
            encoder.encode(row, &mut value);
            text.append_value(String::from_utf8_lossy(&value));
        }
    }
    Ok(Arc::new(text.finish()))
}

fn markdown_rows(batch: &RecordBatch, buffer: &mut Vec<u8>) -> Result<(), ArrowError> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cells = Vec::with_capacity(formatters.len());
    for row in 0..batch.num_rows() {
        cells.clear();
        for formatter in &formatters {
            let value = formatter.value(row).try_to_string()?;
            cells.push(markdown_cell(&value));
        }
        markdown_line(buffer, &cells);
    }
    Ok(())
}

fn markdown_line(buffer: &mut Vec<u8>, cells: &[String]) {
    buffer.extend_from_slice(b"|");
    for cell in cells {
        buffer.extend_from_slice(b" ");
        buffer.extend_from_slice(cell.as_bytes());
        buffer.extend_from_slice(b" |");
    }
    buffer.extend_from_slice(b"\n");
}

/// A value that cannot break the table: `|` escaped, line breaks as `<br>`.
fn markdown_cell(value: &str) -> String {
    value
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

#[cfg(test)]
mod tests;
