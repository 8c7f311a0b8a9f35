//! Reference data beside the lake, as tables: `vendors`, `org_accounts` and the one-row
//! `report_params`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crosstrail_iam::accounts::{OrgAccount, Vendor};
use crosstrail_lake::schema::timestamp_type;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;

use crate::error::Error;
use crate::session::ReportParams;

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn register_table(
    context: &SessionContext,
    name: &str,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<(), Error> {
    let setup = |e| Error::setup(format!("registering table {name}"), e);
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| setup(DataFusionError::from(e)))?;
    let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(setup)?;
    context
        .register_table(name, Arc::new(table))
        .map_err(setup)?;
    Ok(())
}

/// Registers `vendors`, `org_accounts` and `report_params`.
pub(crate) fn register_inputs(
    context: &SessionContext,
    vendors: Option<&[Vendor]>,
    org: Option<&[OrgAccount]>,
    params: &ReportParams,
    own_accounts_given: bool,
) -> Result<(), Error> {
    // vendors: one row per (vendor, account).
    let rows: Vec<(&Vendor, &String)> = vendors
        .unwrap_or_default()
        .iter()
        .flat_map(|v| v.accounts.iter().map(move |a| (v, a)))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("account_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        utf8("source"),
        Field::new("aws_owned", DataType::Boolean, false),
        Field::new("enabled", DataType::Boolean, false),
    ]));
    register_table(
        context,
        "vendors",
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(_, a)| a.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(v, _)| v.name.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter()
                    .map(|(v, _)| v.source.first().map(String::as_str)),
            )),
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|(v, _)| Some(v.aws_owned)),
            )),
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|(v, _)| Some(v.enabled)),
            )),
        ],
    )?;

    let accounts = org.unwrap_or_default();
    let schema = Arc::new(Schema::new(vec![
        Field::new("account_id", DataType::Utf8, false),
        utf8("name"),
        utf8("status"),
        utf8("org_id"),
    ]));
    register_table(
        context,
        "org_accounts",
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                accounts.iter().map(|a| a.id.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                accounts.iter().map(|a| a.name.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                accounts.iter().map(|a| a.status.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                accounts.iter().map(|a| a.org_id.as_deref()),
            )),
        ],
    )?;

    let ts = |v: Option<i64>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(vec![v]).with_timezone("UTC"))
    };
    let text = |v: &Option<String>| -> ArrayRef { Arc::new(StringArray::from(vec![v.clone()])) };
    let flag = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v])) };
    let schema = Arc::new(Schema::new(vec![
        utf8("vendor"),
        utf8("role"),
        utf8("session"),
        utf8("access_key"),
        utf8("source_ip"),
        Field::new("from_time", timestamp_type(), true),
        Field::new("to_time", timestamp_type(), true),
        Field::new("inactive_days", DataType::Int64, false),
        Field::new("vendors_given", DataType::Boolean, false),
        Field::new("org_given", DataType::Boolean, false),
        Field::new("own_accounts_given", DataType::Boolean, false),
        Field::new("all_roles", DataType::Boolean, false),
    ]));
    register_table(
        context,
        "report_params",
        schema,
        vec![
            text(&params.vendor),
            text(&params.role),
            text(&params.session),
            text(&params.access_key),
            text(&params.source_ip),
            ts(params.from_ms),
            ts(params.to_ms),
            Arc::new(Int64Array::from(vec![params.inactive_days])),
            flag(vendors.is_some()),
            flag(org.is_some()),
            flag(own_accounts_given),
            flag(params.all_roles),
        ],
    )
}
