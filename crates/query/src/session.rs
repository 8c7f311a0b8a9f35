//! A DataFusion session over a lake directory, and read-only SQL execution.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crosstrail_lake::Table;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::view::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{
    DdlStatement, LogicalPlan, Statement as PlanStatement, TransactionConclusion, WriteOp,
};
use datafusion::prelude::{DataFrame, SessionConfig};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::error::Error;
use crate::queries::{OWN_ACCOUNTS_INFERRED, Report, VIEWS};

/// Name of the table of the accounts the lake owner considers their own.
pub const OWN_ACCOUNTS: &str = "own_accounts";

/// Only these files are table data: `.parquet`, not hidden (`.`) nor internal (`_`).
/// Files in sub-directories of a partition are never read.
const DATA_FILE_GLOB: &str = "[!_.]*.parquet";

/// How to open a lake.
#[derive(Debug, Clone, Default)]
pub struct LakeOptions {
    /// The accounts to put in the `own_accounts(account_id)` table, which reports join
    /// against to tell your own accounts from third parties.
    ///
    /// When `None`, `own_accounts` is inferred from the lake: it holds every distinct
    /// `recipient_account_id` of `events_all` and `sessions_all`, that is the accounts whose
    /// trails were ingested. It is a view, computed when a query reads it.
    pub own_accounts: Option<Vec<String>>,

    /// Allow statements that change the session or write files: DDL (`CREATE`, `DROP`), DML
    /// (`INSERT`, `UPDATE`, `DELETE`), `COPY ... TO` and `SET`/`RESET`/`PREPARE`/transactions.
    /// Off by default: a refused statement fails with [`Error::ReadOnly`].
    pub allow_writes: bool,

    /// Vendor list (community `known_aws_accounts` format) for the `vendors` table; `None`
    /// leaves the table empty and `report_params.vendors_given` false.
    pub vendors: Option<Vec<crosstrail_iam::accounts::Vendor>>,

    /// Accounts of your organization (`aws organizations list-accounts`) for the
    /// `org_accounts` table; `None` leaves it empty and `report_params.org_given` false.
    pub org_accounts: Option<Vec<crosstrail_iam::accounts::OrgAccount>>,

    /// Filters of a report run, in the one-row `report_params` table.
    pub params: ReportParams,

    /// Memory the query engine may hold, in bytes; sorts and aggregations beyond it spill to
    /// temporary files, and a query that still needs more fails with "Resources exhausted"
    /// rather than exhausting the machine. `None`: half of physical memory.
    pub memory_limit: Option<usize>,

    /// Service control policies above the roles (`--scp`), one entry per level; empty when
    /// none were given. `role_grants` intersects every role's grants with them.
    pub scps: Vec<crate::iam::ScpLevel>,
}

/// Filters and settings a report reads from the one-row `report_params` table (SQL joins it
/// instead of having values pasted into its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportParams {
    /// Vendor name (case-insensitive) or account id.
    pub vendor: Option<String>,
    /// Role ARN or name.
    pub role: Option<String>,
    /// Session: the AssumeRole eventID, the temporary access key or the role session name.
    pub session: Option<String>,
    /// Access key id used in the actions.
    pub access_key: Option<String>,
    /// Source IP address of the actions.
    pub source_ip: Option<String>,
    /// Start of the time window, in milliseconds since the epoch (UTC), inclusive.
    pub from_ms: Option<i64>,
    /// End of the time window, exclusive.
    pub to_ms: Option<i64>,
    /// A third-party role unused for this many days is inactive.
    pub inactive_days: i64,
    /// Least-privilege reports cover every role, not only third-party ones.
    pub all_roles: bool,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            vendor: None,
            role: None,
            session: None,
            access_key: None,
            source_ip: None,
            from_ms: None,
            to_ms: None,
            inactive_days: 90,
            all_roles: false,
        }
    }
}

/// A DataFusion session over one lake directory.
///
/// Registered in the session:
///
/// | name              | what                                                                |
/// |-------------------|---------------------------------------------------------------------|
/// | `events_all`      | every row of `<lake>/events/event_date=*/`, copies included          |
/// | `sessions_all`    | every row of `<lake>/sessions/event_date=*/`, copies included        |
/// | `events`          | view: each `event_id` once (`queries/views/events.sql`)              |
/// | `sessions`        | view: each `event_id` once (`queries/views/sessions.sql`)            |
/// | `session_actions` | view: sessions joined to their actions (`queries/session_actions.sql`) |
/// | `own_accounts`    | `account_id`: see [`LakeOptions::own_accounts`]                     |
///
/// The `*_all` tables have the declared schema of [`Table::table_schema`] (never inferred from
/// files) with the Hive partition column `event_date` (`YYYY-MM-DD`), so a filter on
/// `event_date` skips whole directories. A missing or empty table directory is a table with no
/// rows. Files whose name starts with `_` or `.`, and files in sub-directories of a partition,
/// are not read; neither is `<lake>/_crosstrail/`.
pub struct LakeSession {
    context: SessionContext,
    location: String,
    allow_writes: bool,
}

impl std::fmt::Debug for LakeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSession")
            .field("location", &self.location)
            .field("allow_writes", &self.allow_writes)
            .finish_non_exhaustive()
    }
}

impl LakeSession {
    /// Opens the lake at `lake` (a directory that must exist).
    pub async fn open(lake: impl AsRef<Path>, options: LakeOptions) -> Result<Self, Error> {
        let lake = lake.as_ref();
        let lake_error = |source| Error::Lake {
            path: lake.to_owned(),
            source,
        };
        let root = std::fs::canonicalize(lake).map_err(lake_error)?;
        if !root.is_dir() {
            return Err(lake_error(io::Error::from(io::ErrorKind::NotADirectory)));
        }
        let root_url = directory_url(&root).ok_or_else(|| {
            lake_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path is not valid UTF-8",
            ))
        })?;
        let location = root.display().to_string();
        Self::open_url(&root_url, location, None, options).await
    }

    /// Opens a lake in an object store: `store` holds the bucket `store_url`
    /// (`s3://bucket/`), and the lake is under `prefix` (empty, or ending with `/`). An empty
    /// or missing prefix is a lake with no rows.
    pub async fn open_store(
        store: Arc<dyn object_store::ObjectStore>,
        store_url: &str,
        prefix: &str,
        options: LakeOptions,
    ) -> Result<Self, Error> {
        let base = store_url.trim_end_matches('/');
        let mut root_url = format!("{base}/");
        for part in prefix.split('/').filter(|p| !p.is_empty()) {
            root_url.push_str(&url_encode(part));
            root_url.push('/');
        }
        let location = root_url.trim_end_matches('/').to_string();
        Self::open_url(&root_url, location, Some((base, store)), options).await
    }

    async fn open_url(
        root_url: &str,
        location: String,
        store: Option<(&str, Arc<dyn object_store::ObjectStore>)>,
        options: LakeOptions,
    ) -> Result<Self, Error> {
        let runtime = runtime_env(options.memory_limit)
            .map_err(|e| Error::setup("setting up the query runtime".to_string(), e))?;
        if let Some((url, store)) = store {
            let url = ObjectStoreUrl::parse(url)
                .map_err(|e| Error::setup(format!("registering the object store {url}"), e))?;
            runtime.register_object_store(url.as_ref(), store);
        }
        let context = SessionContext::new_with_config_rt(session_config(), runtime);
        for table in Table::ALL {
            let name = raw_table_name(table);
            let provider = listing_table(root_url, table)
                .map_err(|e| Error::setup(format!("registering table {name}"), e))?;
            context
                .register_table(name.as_str(), Arc::new(provider))
                .map_err(|e| Error::setup(format!("registering table {name}"), e))?;
        }
        let own_given = options.own_accounts.is_some();
        match options.own_accounts {
            Some(accounts) => register_own_accounts(&context, accounts)?,
            None => register_view(&context, &OWN_ACCOUNTS_INFERRED).await?,
        }
        crate::inputs::register_inputs(
            &context,
            options.vendors.as_deref(),
            options.org_accounts.as_deref(),
            &options.params,
            own_given,
        )?;
        crate::iam::register(&context, &options.scps)
            .map_err(|e| Error::setup("registering the IAM functions".to_string(), e))?;
        for view in VIEWS {
            register_view(&context, view).await?;
        }

        Ok(LakeSession {
            context,
            location,
            allow_writes: options.allow_writes,
        })
    }

    /// The DataFusion session. Queries run on it directly are not checked for writes.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Where the lake is: its canonical directory, or its URL (`s3://bucket/prefix`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether statements that write are allowed (see [`LakeOptions::allow_writes`]).
    pub fn allows_writes(&self) -> bool {
        self.allow_writes
    }

    /// Plans exactly one SQL statement (a report, a query from the command line) and returns
    /// its result, not yet executed. Fails with [`Error::StatementCount`] for zero or several
    /// statements; use [`LakeSession::statements`] for scripts.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame, Error> {
        let mut statements = self.parse(sql)?;
        match (statements.pop_front(), statements.len()) {
            (Some(statement), 0) => self.run(statement).await,
            (first, rest) => Err(Error::StatementCount {
                found: usize::from(first.is_some()) + rest,
            }),
        }
    }

    /// Parses a script of `;`-separated statements, to run one after the other with
    /// [`Statements::next`]. A syntax error anywhere fails here, before anything runs.
    pub fn statements(&self, sql: &str) -> Result<Statements<'_>, Error> {
        Ok(Statements {
            session: self,
            pending: self.parse(sql)?,
        })
    }

    fn parse(&self, sql: &str) -> Result<VecDeque<Statement>, Error> {
        let state = self.context.state();
        let options = &state.config().options().sql_parser;
        let dialect = dialect_from_str(options.dialect).ok_or_else(|| {
            DataFusionError::Configuration(format!("unsupported SQL dialect {}", options.dialect))
        })?;
        let statements = DFParserBuilder::new(sql)
            .with_dialect(dialect.as_ref())
            .with_recursion_limit(options.recursion_limit.get())
            .build()?
            .parse_statements()?;
        Ok(statements)
    }

    async fn run(&self, statement: Statement) -> Result<DataFrame, Error> {
        let plan = self.context.state().statement_to_plan(statement).await?;
        if !self.allow_writes {
            check_read_only(&plan)?;
        }
        Ok(self.context.execute_logical_plan(plan).await?)
    }
}

/// The statements of a script, planned and run one at a time, in order.
///
/// Each statement is planned only when the previous one has been handed out, so a script can
/// use what earlier statements created. DDL and `SET` take effect when planned; a query or an
/// `INSERT` runs when its [`DataFrame`] is executed, so execute each result before asking for
/// the next one. Statements that return nothing (DDL, `SET`) give a `DataFrame` with no columns.
///
/// ```no_run
/// # async fn demo(session: &crosstrail_query::LakeSession) -> Result<(), crosstrail_query::Error> {
/// let mut script = session.statements("SELECT 1; SELECT 2")?;
/// while let Some(result) = script.next().await? {
///     let batches = result.collect().await?;
///     # let _ = batches;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Statements<'a> {
    session: &'a LakeSession,
    pending: VecDeque<Statement>,
}

impl Statements<'_> {
    /// Plans the next statement; `None` once all have been handed out.
    pub async fn next(&mut self) -> Result<Option<DataFrame>, Error> {
        match self.pending.pop_front() {
            Some(statement) => self.session.run(statement).await.map(Some),
            None => Ok(None),
        }
    }

    /// How many statements are left.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no statement is left.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// SQL name of the table holding every row of `table`, copies included (`events_all`).
fn raw_table_name(table: Table) -> String {
    format!("{}_all", table.name())
}

fn runtime_env(limit: Option<usize>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let limit = limit.unwrap_or_else(|| physical_memory().map_or(4 << 30, |m| m / 2));
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default())
        .build_arc()
}

/// Physical memory from /proc/meminfo, where there is one.
fn physical_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn session_config() -> SessionConfig {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = SessionConfig::new()
        .with_target_partitions(cores)
        .with_information_schema(true);
    // Partition directories hold the data files; anything nested deeper is not table data.
    config
        .options_mut()
        .execution
        .listing_table_ignore_subdirectory = true;
    config
}

/// `file://` URL of a directory, with a trailing `/` and percent-encoding, so that no
/// character of the path is taken for a glob or URL syntax.
fn directory_url(dir: &Path) -> Option<String> {
    let path = dir.to_str()?;
    let mut url = String::from("file://");
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(&url_encode(&path.replace('\\', "/")));
    if !url.ends_with('/') {
        url.push('/');
    }
    Some(url)
}

/// Percent-encodes all but unreserved characters and `/`, so that nothing is taken for a glob
/// or URL syntax.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte))
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn listing_table(root_url: &str, table: Table) -> Result<ListingTable, DataFusionError> {
    let url = ListingTableUrl::parse(format!("{root_url}{}/", table.name()))?
        .with_glob(DATA_FILE_GLOB)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![(table.partition_column().to_owned(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(table.file_schema());
    ListingTable::try_new(config)
}

fn own_accounts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "account_id",
        DataType::Utf8,
        true,
    )]))
}

fn register_own_accounts(context: &SessionContext, mut accounts: Vec<String>) -> Result<(), Error> {
    accounts.sort_unstable();
    accounts.dedup();
    let schema = own_accounts_schema();
    let column: ArrayRef = Arc::new(StringArray::from(accounts));
    let setup = |e| Error::setup(format!("registering table {OWN_ACCOUNTS}"), e);
    let batch = RecordBatch::try_new(schema.clone(), vec![column])
        .map_err(|e| setup(DataFusionError::from(e)))?;
    let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(setup)?;
    context
        .register_table(OWN_ACCOUNTS, Arc::new(table))
        .map_err(setup)?;
    Ok(())
}

async fn register_view(context: &SessionContext, view: &Report) -> Result<(), Error> {
    let setup = |e| Error::setup(format!("registering view {}", view.name), e);
    let plan = context
        .state()
        .create_logical_plan(view.sql)
        .await
        .map_err(setup)?;
    let table = ViewTable::new(plan, Some(view.sql.to_owned()));
    context
        .register_table(view.name, Arc::new(table))
        .map_err(setup)?;
    Ok(())
}

/// Refuses plans that change the session or write anything. DataFusion's [`SQLOptions`]
/// decides; [`statement_kind`] only names what was refused.
fn check_read_only(plan: &LogicalPlan) -> Result<(), Error> {
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    match read_only.verify_plan(plan) {
        Ok(()) => Ok(()),
        Err(_) => Err(Error::ReadOnly {
            statement: statement_kind(plan).unwrap_or("this statement"),
        }),
    }
}

/// SQL words for the first node of `plan` that [`check_read_only`] refuses.
fn statement_kind(plan: &LogicalPlan) -> Option<&'static str> {
    use datafusion::common::tree_node::TreeNodeRecursion;

    let mut kind = None;
    let _ = plan.apply_with_subqueries(|node| {
        kind = node_kind(node);
        Ok(if kind.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    kind
}

fn node_kind(node: &LogicalPlan) -> Option<&'static str> {
    let kind = match node {
        LogicalPlan::Ddl(ddl) => match ddl {
            DdlStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
            DdlStatement::CreateMemoryTable(_) => "CREATE TABLE",
            DdlStatement::CreateView(_) => "CREATE VIEW",
            DdlStatement::CreateCatalogSchema(_) => "CREATE SCHEMA",
            DdlStatement::CreateCatalog(_) => "CREATE DATABASE",
            DdlStatement::CreateIndex(_) => "CREATE INDEX",
            DdlStatement::DropTable(_) => "DROP TABLE",
            DdlStatement::DropView(_) => "DROP VIEW",
            DdlStatement::DropCatalogSchema(_) => "DROP SCHEMA",
            DdlStatement::CreateFunction(_) => "CREATE FUNCTION",
            DdlStatement::DropFunction(_) => "DROP FUNCTION",
        },
        LogicalPlan::Dml(dml) => match &dml.op {
            WriteOp::Insert(_) => "INSERT",
            WriteOp::Delete => "DELETE",
            WriteOp::Update => "UPDATE",
            WriteOp::Ctas => "CREATE TABLE AS",
            WriteOp::Truncate => "TRUNCATE",
            WriteOp::MergeInto(_) => "MERGE",
            _ => "a data-changing statement",
        },
        LogicalPlan::Copy(_) => "COPY",
        LogicalPlan::Statement(statement) => match statement {
            PlanStatement::TransactionStart(_) => "BEGIN",
            PlanStatement::TransactionEnd(end) => match end.conclusion {
                TransactionConclusion::Commit => "COMMIT",
                TransactionConclusion::Rollback => "ROLLBACK",
            },
            PlanStatement::SetVariable(_) => "SET",
            PlanStatement::ResetVariable(_) => "RESET",
            PlanStatement::Prepare(_) => "PREPARE",
            PlanStatement::Execute(_) => "EXECUTE",
            PlanStatement::Deallocate(_) => "DEALLOCATE",
        },
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_urls_escape_everything_but_plain_characters() {
        assert_eq!(
            directory_url(Path::new("/tmp/lake")).as_deref(),
            Some("file:///tmp/lake/")
        );
        assert_eq!(
            directory_url(Path::new("/tmp/my [lake]*%/")).as_deref(),
            Some("file:///tmp/my%20%5Blake%5D%2A%25/")
        );
    }
}
