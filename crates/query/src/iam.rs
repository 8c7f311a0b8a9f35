//! IAM knowledge in SQL: UDFs backed by `crosstrail-iam`, and the `role_grants` table.
//!
//! | name | what |
//! |---|---|
//! | `iam_actions(event_source, event_name, request_parameters)` | the IAM actions a CloudTrail event needed: `list<utf8>`, empty when none is known |
//! | `iam_event_class(event_source, event_name, event_type, identity_type, error_code, request_parameters)` | `used`, `denied`, `no-permission`, `not-evidence` or `unmapped` |
//! | `iam_mapping_rule(event_source, event_name, request_parameters)` | which rule mapped it (`default`, `exception:<row>`, ...) |
//! | `iam_access_level(action)` | `List`, `Read`, `Write`, `Permissions management`, `Tagging`; NULL for an unknown action |
//! | `iam_risk_rank(action)` | 4 (Permissions management), 3 (Write), 2 (Tagging), 1 (Read), 0 (List); NULL when unknown |
//! | `iam_observability(action)` | `management`, `data-event` or `not-logged` |
//! | `iam_data_event_source(action)` | the eventSource whose data events would show the action |
//! | `suggest_policy(actions, resources, resources_known)` | least-privilege policy documents (JSON array) for one principal |
//! | `role_grants` (table) | every action each role holds, from the latest IAM snapshot |

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, ListBuilder, RecordBatch,
    StringArray, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use crosstrail_iam::catalog::Catalog;
use crosstrail_iam::eval::{PolicySet, Sourced};
use crosstrail_iam::generate::{Observed, suggest, suggested_resources};
use crosstrail_iam::mapping::{EventRef, map_event};
use crosstrail_iam::observe::{data_event_source, observability};
use crosstrail_iam::policy::{ActionSpec, Effect, PolicyDocument, ResourceSpec, Statement};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableType,
    Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use tokio::sync::OnceCell;

/// Registers the UDFs and the `role_grants` table.
pub(crate) fn register(context: &SessionContext, scps: &[ScpLevel]) -> Result<()> {
    for udf in [
        Udf::new("iam_actions", 3, Kind::Actions),
        Udf::new("iam_event_class", 6, Kind::Class),
        Udf::new("iam_mapping_rule", 3, Kind::Rule),
        Udf::new("iam_access_level", 1, Kind::Level),
        Udf::new("iam_risk_rank", 1, Kind::Risk),
        Udf::new("iam_observability", 1, Kind::Observability),
        Udf::new("iam_data_event_source", 1, Kind::DataEventSource),
    ] {
        context.register_udf(ScalarUDF::from(udf));
    }
    context.register_udf(ScalarUDF::from(SuggestPolicy::default()));
    context.register_udf(ScalarUDF::from(SuggestedResources::default()));
    context.register_table(
        "role_grants",
        Arc::new(RoleGrants {
            scps: scps.to_vec(),
            batches: OnceCell::new(),
        }),
    )?;
    Ok(())
}

/// One level of service control policies (root, an OU, the account): every policy attached
/// there. A request must be allowed at every level.
#[derive(Debug, Clone)]
pub struct ScpLevel {
    /// Where the level came from (a file name), for notes.
    pub name: String,
    /// The policies attached at this level.
    pub policies: Vec<PolicyDocument>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Actions,
    Class,
    Rule,
    Level,
    Risk,
    Observability,
    DataEventSource,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Udf {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl Udf {
    fn new(name: &'static str, args: usize, kind: Kind) -> Self {
        Udf {
            name,
            kind,
            signature: Signature::uniform(args, vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

fn strings(args: &[ColumnarValue], rows: usize) -> Result<Vec<StringArray>> {
    args.iter()
        .map(|a| {
            let array = a.to_array(rows)?;
            let array = cast(&array, &DataType::Utf8)?;
            Ok(array.as_string::<i32>().clone())
        })
        .collect()
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Actions => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Kind::Risk => DataType::Int32,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = strings(&args.args, rows)?;
        let catalog = Catalog::get();
        let event = |i: usize| -> Option<EventRef<'_>> {
            let (event_source, event_name) = (opt(&a[0], i)?, opt(&a[1], i)?);
            Some(match self.kind {
                Kind::Class => EventRef {
                    event_source,
                    event_name,
                    event_type: opt(&a[2], i),
                    identity_type: opt(&a[3], i),
                    error_code: opt(&a[4], i),
                    request_parameters: opt(&a[5], i),
                },
                _ => EventRef {
                    event_source,
                    event_name,
                    event_type: None,
                    identity_type: None,
                    error_code: None,
                    request_parameters: opt(&a[2], i),
                },
            })
        };
        let array: ArrayRef = match self.kind {
            Kind::Actions => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for i in 0..rows {
                    match event(i) {
                        Some(ev) => {
                            for action in map_event(&ev).actions {
                                b.values().append_value(action);
                            }
                            b.append(true);
                        }
                        None => b.append(false),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Class => Arc::new(StringArray::from_iter(
                (0..rows).map(|i| event(i).map(|ev| map_event(&ev).class.as_str())),
            )),
            Kind::Rule => Arc::new(StringArray::from_iter(
                (0..rows).map(|i| event(i).map(|ev| map_event(&ev).rule)),
            )),
            Kind::Level => Arc::new(StringArray::from_iter((0..rows).map(|i| {
                opt(&a[0], i)
                    .and_then(|x| catalog.lookup(x))
                    .map(|info| info.level.as_str())
            }))),
            Kind::Risk => Arc::new(Int32Array::from_iter((0..rows).map(|i| {
                opt(&a[0], i)
                    .and_then(|x| catalog.lookup(x))
                    .map(|info| i32::from(info.level.risk_rank()))
            }))),
            Kind::Observability => Arc::new(StringArray::from_iter((0..rows).map(|i| {
                opt(&a[0], i)
                    .and_then(|x| catalog.lookup(x))
                    .map(|info| observability(&info).as_str())
            }))),
            Kind::DataEventSource => Arc::new(StringArray::from_iter((0..rows).map(|i| {
                opt(&a[0], i)
                    .and_then(|x| catalog.lookup(x))
                    .and_then(|info| data_event_source(&info))
            }))),
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// `suggest_policy(actions list<utf8>, resources list<list<utf8>>, resources_known list<bool>)`:
/// one principal's used actions (as collected with `array_agg`), the ARNs seen per action and
/// whether every use named one, to the suggested policy documents as a JSON array.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SuggestPolicy {
    signature: Signature,
}

impl Default for SuggestPolicy {
    fn default() -> Self {
        SuggestPolicy {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

fn list_of_strings(value: &dyn Array) -> Result<Vec<Option<String>>> {
    let value = cast(value, &DataType::Utf8)?;
    let s = value.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect())
}

impl ScalarUDFImpl for SuggestPolicy {
    fn name(&self) -> &str {
        "suggest_policy"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let is_list = |t: &DataType| matches!(t, DataType::List(_) | DataType::LargeList(_));
        if args.len() != 3 || !args.iter().all(is_list) {
            return Err(DataFusionError::Plan(
                "suggest_policy(actions, resources, resources_known) takes three lists, as made by array_agg"
                    .into(),
            ));
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let actions = arrays[0].as_list::<i32>();
        let resources = arrays[1].as_list::<i32>();
        let known = arrays[2].as_list::<i32>();
        let catalog = Catalog::get();
        let mut out = StringBuilder::new();
        for row in 0..rows {
            // No use at all (array_agg over nothing is NULL): an empty policy list.
            let names = if actions.is_null(row) {
                Vec::new()
            } else {
                list_of_strings(actions.value(row).as_ref())?
            };
            let per_action: Vec<Vec<String>> = if resources.is_null(row) {
                vec![Vec::new(); names.len()]
            } else {
                let r = resources.value(row);
                let r = r.as_list_opt::<i32>().ok_or_else(|| {
                    DataFusionError::Plan(
                        "suggest_policy: resources must be a list of lists".into(),
                    )
                })?;
                (0..r.len())
                    .map(|i| {
                        if r.is_null(i) {
                            Ok(Vec::new())
                        } else {
                            Ok(list_of_strings(r.value(i).as_ref())?
                                .into_iter()
                                .flatten()
                                .collect())
                        }
                    })
                    .collect::<Result<_>>()?
            };
            let known_flags: Vec<bool> = if known.is_null(row) {
                vec![false; names.len()]
            } else {
                let k = known.value(row);
                let k = cast(&k, &DataType::Boolean)?;
                let k: &BooleanArray = k.as_boolean();
                (0..k.len()).map(|i| k.is_valid(i) && k.value(i)).collect()
            };
            let observed: Vec<Observed> = names
                .into_iter()
                .enumerate()
                .filter_map(|(i, name)| {
                    Some(Observed {
                        action: name?,
                        resources: per_action.get(i).cloned().unwrap_or_default(),
                        all_resources_known: known_flags.get(i).copied().unwrap_or(false),
                    })
                })
                .collect();
            let s = suggest(&observed, catalog);
            out.append_value(serde_json::Value::Array(s.documents).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `iam_suggested_resources(action, resources_seen list<utf8>, resources_known bool)`: the
/// `Resource` that `suggest_policy` gives one used action.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SuggestedResources {
    signature: Signature,
}

impl Default for SuggestedResources {
    fn default() -> Self {
        SuggestedResources {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SuggestedResources {
    fn name(&self) -> &str {
        "iam_suggested_resources"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let action = args.args[0].to_array(rows)?;
        let action = cast(&action, &DataType::Utf8)?;
        let action = action.as_string::<i32>();
        let seen = args.args[1].to_array(rows)?;
        let known = cast(&args.args[2].to_array(rows)?, &DataType::Boolean)?;
        let known = known.as_boolean();
        let seen_list = seen.as_list_opt::<i32>();
        let catalog = Catalog::get();
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..rows {
            if action.is_null(i) {
                out.append(false);
                continue;
            }
            let arns = match seen_list {
                Some(l) if l.is_valid(i) => list_of_strings(l.value(i).as_ref())?
                    .into_iter()
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            };
            let all_known = known.is_valid(i) && known.value(i);
            for r in suggested_resources(action.value(i), &arns, all_known, catalog) {
                out.values().append_value(r);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `role_grants`: computed from `role_policies` the first time a query reads it.
#[derive(Debug)]
struct RoleGrants {
    scps: Vec<ScpLevel>,
    batches: OnceCell<Vec<RecordBatch>>,
}

fn grants_schema() -> SchemaRef {
    let list = |name: &str| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("account_id", DataType::Utf8, true),
        Field::new("role_arn", DataType::Utf8, false),
        Field::new("role_name", DataType::Utf8, true),
        Field::new("action", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("access_level", DataType::Utf8, false),
        Field::new("risk_rank", DataType::Int32, false),
        Field::new("access", DataType::Utf8, false),
        list("granted_resources"),
        list("policies"),
        list("notes"),
        Field::new("observability", DataType::Utf8, false),
        Field::new("data_event_source", DataType::Utf8, true),
    ]))
}

const POLICY_ROWS: &str = "SELECT account_id, role_arn, role_name, policy_kind, \
    coalesce(policy_arn, 'inline:' || policy_name) AS policy, effect, actions, not_actions, \
    resources, not_resources, conditions \
    FROM role_policies WHERE effect IS NOT NULL \
    ORDER BY role_arn, policy_kind, policy, statement_index";

fn list_value(a: &ListArray, i: usize) -> Option<Vec<String>> {
    if a.is_null(i) {
        return None;
    }
    let v = a.value(i);
    let s = v.as_string::<i32>();
    Some(
        (0..s.len())
            .filter(|&j| s.is_valid(j))
            .map(|j| s.value(j).to_string())
            .collect(),
    )
}

impl RoleGrants {
    async fn compute(&self, state: &SessionState) -> Result<Vec<RecordBatch>> {
        let context = SessionContext::new_with_state(state.clone());
        let batches = context.sql(POLICY_ROWS).await?.collect().await?;
        // role -> (account, name, policy set)
        let mut roles: BTreeMap<String, (Option<String>, Option<String>, PolicySet)> =
            BTreeMap::new();
        for b in &batches {
            let col = |n: &str| -> Result<ArrayRef> {
                let c = b
                    .column_by_name(n)
                    .ok_or_else(|| DataFusionError::Internal(format!("role_policies.{n}")))?;
                Ok(c.clone())
            };
            let strs = |n: &str| -> Result<StringArray> {
                Ok(cast(&col(n)?, &DataType::Utf8)?.as_string::<i32>().clone())
            };
            let (account, arn, name, kind, policy, effect, conditions) = (
                strs("account_id")?,
                strs("role_arn")?,
                strs("role_name")?,
                strs("policy_kind")?,
                strs("policy")?,
                strs("effect")?,
                strs("conditions")?,
            );
            let lists = |n: &str| -> Result<ListArray> { Ok(col(n)?.as_list::<i32>().clone()) };
            let (actions, not_actions, resources, not_resources) = (
                lists("actions")?,
                lists("not_actions")?,
                lists("resources")?,
                lists("not_resources")?,
            );
            for i in 0..b.num_rows() {
                let Some(role_arn) = opt(&arn, i) else {
                    continue;
                };
                let entry = roles.entry(role_arn.to_string()).or_insert_with(|| {
                    (
                        opt(&account, i).map(str::to_string),
                        opt(&name, i).map(str::to_string),
                        PolicySet::default(),
                    )
                });
                let effect = match opt(&effect, i) {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => continue,
                };
                let action = match (list_value(&actions, i), list_value(&not_actions, i)) {
                    (_, Some(n)) => ActionSpec::NotAction(n),
                    (Some(a), None) => ActionSpec::Action(a),
                    (None, None) => continue,
                };
                let resource = match (list_value(&resources, i), list_value(&not_resources, i)) {
                    (_, Some(n)) => Some(ResourceSpec::NotResource(n)),
                    (Some(r), None) => Some(ResourceSpec::Resource(r)),
                    (None, None) => None,
                };
                let condition = opt(&conditions, i)
                    .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
                    .and_then(|v| match v {
                        serde_json::Value::Object(m) if !m.is_empty() => Some(m),
                        _ => None,
                    });
                let sourced = Sourced {
                    policy: opt(&policy, i).unwrap_or("?").to_string(),
                    statement: Statement {
                        sid: None,
                        effect,
                        action,
                        resource,
                        principal: None,
                        not_principal: None,
                        condition,
                    },
                };
                match opt(&kind, i) {
                    Some("boundary") => entry.2.boundary.get_or_insert_with(Vec::new).push(sourced),
                    _ => entry.2.identity.push(sourced),
                }
            }
        }
        let catalog = Catalog::get();
        let schema = grants_schema();
        let mut out = Vec::new();
        let mut cols = GrantCols::default();
        for (arn, (account, name, mut set)) in roles {
            // SCPs do not apply to service-linked roles.
            if !arn.contains(":role/aws-service-role/") {
                for level in &self.scps {
                    set.scps.push(
                        level
                            .policies
                            .iter()
                            .flat_map(|d| d.statements.iter())
                            .map(|s| Sourced {
                                policy: format!("scp:{}", level.name),
                                statement: s.clone(),
                            })
                            .collect(),
                    );
                }
            }
            for g in set.grants(catalog) {
                let info = catalog.lookup(&g.action);
                cols.account_id.append_option(account.as_deref());
                cols.role_arn.append_value(&arn);
                cols.role_name.append_option(name.as_deref());
                cols.action.append_value(&g.action);
                cols.service.append_value(&g.service);
                cols.access_level.append_value(g.level.as_str());
                cols.risk_rank.push(i32::from(g.level.risk_rank()));
                cols.access.append_value(g.access.as_str());
                for (b, v) in [
                    (&mut cols.resources, &g.resources),
                    (&mut cols.policies, &g.policies),
                    (&mut cols.notes, &g.notes),
                ] {
                    for x in v {
                        b.values().append_value(x);
                    }
                    b.append(true);
                }
                cols.observability.append_value(
                    info.as_ref()
                        .map_or("management", |i| observability(i).as_str()),
                );
                cols.data_event_source
                    .append_option(info.as_ref().and_then(data_event_source));
                if cols.risk_rank.len() >= 65_536 {
                    out.push(cols.finish(&schema)?);
                }
            }
        }
        out.push(cols.finish(&schema)?);
        Ok(out)
    }
}

#[derive(Default)]
struct GrantCols {
    account_id: StringBuilder,
    role_arn: StringBuilder,
    role_name: StringBuilder,
    action: StringBuilder,
    service: StringBuilder,
    access_level: StringBuilder,
    risk_rank: Vec<i32>,
    access: StringBuilder,
    resources: ListBuilder<StringBuilder>,
    policies: ListBuilder<StringBuilder>,
    notes: ListBuilder<StringBuilder>,
    observability: StringBuilder,
    data_event_source: StringBuilder,
}

impl GrantCols {
    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.account_id.finish()),
            Arc::new(self.role_arn.finish()),
            Arc::new(self.role_name.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.access_level.finish()),
            Arc::new(Int32Array::from(std::mem::take(&mut self.risk_rank))),
            Arc::new(self.access.finish()),
            Arc::new(self.resources.finish()),
            Arc::new(self.policies.finish()),
            Arc::new(self.notes.finish()),
            Arc::new(self.observability.finish()),
            Arc::new(self.data_event_source.finish()),
        ];
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

#[async_trait]
impl TableProvider for RoleGrants {
    fn schema(&self) -> SchemaRef {
        grants_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("role_grants needs a SessionState".into()))?;
        let batches = self
            .batches
            .get_or_try_init(|| self.compute(session))
            .await?
            .clone();
        MemTable::try_new(grants_schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}
