//! The one declared Arrow schema of every lake table.
//!
//! Writer and reader both take their schema from here, so they cannot drift apart. Column names
//! are constants; the partition column `event_date` (`YYYY-MM-DD`, UTC) lives only in the Hive
//! path (`events/event_date=2024-01-31/part-….parquet`), never inside the Parquet files.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Hive partition column of the trail tables (`events`, `sessions`): the UTC day.
pub const EVENT_DATE: &str = "event_date";

/// Hive partition column of the IAM snapshot tables: the snapshot's id (`YYYYMMDDTHHMMSSZ` of
/// the ingest that loaded it, so that ids sort by time).
pub const SNAPSHOT: &str = "snapshot";

/// Column names of the `events` table (one row per CloudTrail record).
#[allow(missing_docs)]
pub mod events {
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TIME: &str = "event_time";
    pub const EVENT_VERSION: &str = "event_version";
    pub const EVENT_SOURCE: &str = "event_source";
    pub const EVENT_NAME: &str = "event_name";
    pub const EVENT_TYPE: &str = "event_type";
    pub const EVENT_CATEGORY: &str = "event_category";
    pub const AWS_REGION: &str = "aws_region";
    pub const SOURCE_IP: &str = "source_ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const IDENTITY_TYPE: &str = "identity_type";
    pub const PRINCIPAL_ID: &str = "principal_id";
    pub const PRINCIPAL_ARN: &str = "principal_arn";
    pub const IDENTITY_ACCOUNT_ID: &str = "identity_account_id";
    pub const ACCESS_KEY_ID: &str = "access_key_id";
    pub const USER_NAME: &str = "user_name";
    pub const IDENTITY_PROVIDER: &str = "identity_provider";
    pub const SESSION_ISSUER_TYPE: &str = "session_issuer_type";
    pub const SESSION_ISSUER_ARN: &str = "session_issuer_arn";
    pub const SESSION_ISSUER_ACCOUNT_ID: &str = "session_issuer_account_id";
    pub const SESSION_ISSUER_PRINCIPAL_ID: &str = "session_issuer_principal_id";
    pub const SESSION_ISSUER_USER_NAME: &str = "session_issuer_user_name";
    pub const SESSION_CREATED_AT: &str = "session_created_at";
    pub const SESSION_MFA: &str = "session_mfa";
    pub const SOURCE_IDENTITY: &str = "source_identity";
    pub const INVOKED_BY: &str = "invoked_by";
    pub const INVOKED_BY_DELEGATE_ACCOUNT_ID: &str = "invoked_by_delegate_account_id";
    pub const RECIPIENT_ACCOUNT_ID: &str = "recipient_account_id";
    pub const SHARED_EVENT_ID: &str = "shared_event_id";
    pub const REQUEST_ID: &str = "request_id";
    pub const READ_ONLY: &str = "read_only";
    pub const MANAGEMENT_EVENT: &str = "management_event";
    pub const ERROR_CODE: &str = "error_code";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const RESOURCES: &str = "resources";
    pub const REQUEST_PARAMETERS: &str = "request_parameters";
    pub const RESPONSE_ELEMENTS: &str = "response_elements";
    pub const ADDITIONAL_EVENT_DATA: &str = "additional_event_data";
    pub const SERVICE_EVENT_DETAILS: &str = "service_event_details";
    pub const TLS_VERSION: &str = "tls_version";
    pub const TLS_CIPHER_SUITE: &str = "tls_cipher_suite";
    pub const TLS_CLIENT_HOST: &str = "tls_client_host";
    pub const VPC_ENDPOINT_ID: &str = "vpc_endpoint_id";
    pub const SESSION_CREDENTIAL_FROM_CONSOLE: &str = "session_credential_from_console";
    pub const EXTRA: &str = "extra";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Column names of the `sessions` table (one row per AssumeRole* record, successful or not).
#[allow(missing_docs)]
pub mod sessions {
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TIME: &str = "event_time";
    pub const EVENT_NAME: &str = "event_name";
    pub const ROLE_ARN: &str = "role_arn";
    pub const ROLE_ACCOUNT_ID: &str = "role_account_id";
    pub const ROLE_SESSION_NAME: &str = "role_session_name";
    pub const CALLER_IDENTITY_TYPE: &str = "caller_identity_type";
    pub const CALLER_ACCOUNT_ID: &str = "caller_account_id";
    pub const CALLER_PRINCIPAL_ID: &str = "caller_principal_id";
    pub const CALLER_ARN: &str = "caller_arn";
    pub const CALLER_ACCESS_KEY_ID: &str = "caller_access_key_id";
    pub const CALLER_USER_NAME: &str = "caller_user_name";
    pub const IDENTITY_PROVIDER: &str = "identity_provider";
    pub const INVOKED_BY: &str = "invoked_by";
    pub const EXTERNAL_ID_PRESENT: &str = "external_id_present";
    pub const EXTERNAL_ID_FINGERPRINT: &str = "external_id_fingerprint";
    pub const EXTERNAL_ID_LENGTH: &str = "external_id_length";
    pub const EXTERNAL_ID_UUID_SHAPED: &str = "external_id_uuid_shaped";
    pub const SOURCE_IDENTITY: &str = "source_identity";
    pub const DURATION_SECONDS: &str = "duration_seconds";
    pub const TEMP_ACCESS_KEY_ID: &str = "temp_access_key_id";
    pub const ASSUMED_ROLE_ARN: &str = "assumed_role_arn";
    pub const ASSUMED_ROLE_ID: &str = "assumed_role_id";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const ERROR_CODE: &str = "error_code";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const SOURCE_IP: &str = "source_ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const AWS_REGION: &str = "aws_region";
    pub const SHARED_EVENT_ID: &str = "shared_event_id";
    pub const RECIPIENT_ACCOUNT_ID: &str = "recipient_account_id";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Column names of the `roles` table (one row per IAM role per snapshot).
#[allow(missing_docs)]
pub mod roles {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const ROLE_ARN: &str = "role_arn";
    pub const ROLE_NAME: &str = "role_name";
    pub const ROLE_ID: &str = "role_id";
    pub const PATH: &str = "path";
    pub const CREATED_AT: &str = "created_at";
    pub const TRUST_POLICY: &str = "trust_policy";
    pub const PERMISSIONS_BOUNDARY_ARN: &str = "permissions_boundary_arn";
    pub const LAST_USED_AT: &str = "last_used_at";
    pub const LAST_USED_REGION: &str = "last_used_region";
    pub const TAGS: &str = "tags";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Column names of the `role_trust` table (one row per trust-policy principal).
#[allow(missing_docs)]
pub mod role_trust {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const ROLE_ARN: &str = "role_arn";
    pub const ROLE_NAME: &str = "role_name";
    pub const STATEMENT_INDEX: &str = "statement_index";
    pub const EFFECT: &str = "effect";
    pub const NOT_PRINCIPAL: &str = "not_principal";
    pub const PRINCIPAL_TYPE: &str = "principal_type";
    pub const PRINCIPAL: &str = "principal";
    pub const PRINCIPAL_ACCOUNT_ID: &str = "principal_account_id";
    pub const PRINCIPAL_KIND: &str = "principal_kind";
    pub const ACTIONS: &str = "actions";
    pub const REQUIRES_EXTERNAL_ID: &str = "requires_external_id";
    pub const EXTERNAL_ID_FINGERPRINTS: &str = "external_id_fingerprints";
    pub const EXTERNAL_ID_LENGTHS: &str = "external_id_lengths";
    pub const CONDITIONS: &str = "conditions";
    pub const NARROWING_CONDITIONS: &str = "narrowing_conditions";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Column names of the `role_policies` table (one row per permission-policy statement).
#[allow(missing_docs)]
pub mod role_policies {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const ROLE_ARN: &str = "role_arn";
    pub const ROLE_NAME: &str = "role_name";
    pub const POLICY_KIND: &str = "policy_kind";
    pub const POLICY_NAME: &str = "policy_name";
    pub const POLICY_ARN: &str = "policy_arn";
    pub const POLICY_RESOLVED: &str = "policy_resolved";
    pub const STATEMENT_INDEX: &str = "statement_index";
    pub const SID: &str = "sid";
    pub const EFFECT: &str = "effect";
    pub const ACTIONS: &str = "actions";
    pub const NOT_ACTIONS: &str = "not_actions";
    pub const RESOURCES: &str = "resources";
    pub const NOT_RESOURCES: &str = "not_resources";
    pub const CONDITIONS: &str = "conditions";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Timestamps are UTC milliseconds: CloudTrail has second precision, and millisecond Parquet
/// timestamps are read by every engine we target (Athena, Trino, Spark, DuckDB).
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The struct of one `resources` element.
pub fn resource_fields() -> Fields {
    Fields::from(vec![
        Field::new("arn", DataType::Utf8, true),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
    ])
}

/// Type of the `resources` column: `list<struct<arn, account_id, type>>`.
pub fn resources_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(resource_fields()),
        true,
    )))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

/// Type of list-of-strings columns (actions, resources, fingerprints).
pub fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn strings(name: &str) -> Field {
    Field::new(name, string_list_type(), true)
}

static EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    use events::*;
    Arc::new(Schema::new(vec![
        utf8(EVENT_ID),
        Field::new(EVENT_TIME, timestamp_type(), false),
        utf8(EVENT_VERSION),
        utf8(EVENT_SOURCE),
        utf8(EVENT_NAME),
        utf8(EVENT_TYPE),
        utf8(EVENT_CATEGORY),
        utf8(AWS_REGION),
        utf8(SOURCE_IP),
        utf8(USER_AGENT),
        utf8(IDENTITY_TYPE),
        utf8(PRINCIPAL_ID),
        utf8(PRINCIPAL_ARN),
        utf8(IDENTITY_ACCOUNT_ID),
        utf8(ACCESS_KEY_ID),
        utf8(USER_NAME),
        utf8(IDENTITY_PROVIDER),
        utf8(SESSION_ISSUER_TYPE),
        utf8(SESSION_ISSUER_ARN),
        utf8(SESSION_ISSUER_ACCOUNT_ID),
        utf8(SESSION_ISSUER_PRINCIPAL_ID),
        utf8(SESSION_ISSUER_USER_NAME),
        ts(SESSION_CREATED_AT),
        boolean(SESSION_MFA),
        utf8(SOURCE_IDENTITY),
        utf8(INVOKED_BY),
        utf8(INVOKED_BY_DELEGATE_ACCOUNT_ID),
        utf8(RECIPIENT_ACCOUNT_ID),
        utf8(SHARED_EVENT_ID),
        utf8(REQUEST_ID),
        boolean(READ_ONLY),
        boolean(MANAGEMENT_EVENT),
        utf8(ERROR_CODE),
        utf8(ERROR_MESSAGE),
        Field::new(RESOURCES, resources_type(), true),
        utf8(REQUEST_PARAMETERS),
        utf8(RESPONSE_ELEMENTS),
        utf8(ADDITIONAL_EVENT_DATA),
        utf8(SERVICE_EVENT_DETAILS),
        utf8(TLS_VERSION),
        utf8(TLS_CIPHER_SUITE),
        utf8(TLS_CLIENT_HOST),
        utf8(VPC_ENDPOINT_ID),
        boolean(SESSION_CREDENTIAL_FROM_CONSOLE),
        utf8(EXTRA),
        Field::new(SOURCE_OBJECT, DataType::Utf8, false),
    ]))
});

static SESSIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    use sessions::*;
    Arc::new(Schema::new(vec![
        utf8(EVENT_ID),
        Field::new(EVENT_TIME, timestamp_type(), false),
        utf8(EVENT_NAME),
        utf8(ROLE_ARN),
        utf8(ROLE_ACCOUNT_ID),
        utf8(ROLE_SESSION_NAME),
        utf8(CALLER_IDENTITY_TYPE),
        utf8(CALLER_ACCOUNT_ID),
        utf8(CALLER_PRINCIPAL_ID),
        utf8(CALLER_ARN),
        utf8(CALLER_ACCESS_KEY_ID),
        utf8(CALLER_USER_NAME),
        utf8(IDENTITY_PROVIDER),
        utf8(INVOKED_BY),
        Field::new(EXTERNAL_ID_PRESENT, DataType::Boolean, false),
        utf8(EXTERNAL_ID_FINGERPRINT),
        Field::new(EXTERNAL_ID_LENGTH, DataType::Int32, true),
        boolean(EXTERNAL_ID_UUID_SHAPED),
        utf8(SOURCE_IDENTITY),
        Field::new(DURATION_SECONDS, DataType::Int64, true),
        utf8(TEMP_ACCESS_KEY_ID),
        utf8(ASSUMED_ROLE_ARN),
        utf8(ASSUMED_ROLE_ID),
        ts(EXPIRES_AT),
        utf8(ERROR_CODE),
        utf8(ERROR_MESSAGE),
        utf8(SOURCE_IP),
        utf8(USER_AGENT),
        utf8(AWS_REGION),
        utf8(SHARED_EVENT_ID),
        utf8(RECIPIENT_ACCOUNT_ID),
        Field::new(SOURCE_OBJECT, DataType::Utf8, false),
    ]))
});

static ROLES: LazyLock<SchemaRef> = LazyLock::new(|| {
    use roles::*;
    Arc::new(Schema::new(vec![
        Field::new(ACCOUNT_ID, DataType::Utf8, false),
        Field::new(ROLE_ARN, DataType::Utf8, false),
        utf8(ROLE_NAME),
        utf8(ROLE_ID),
        utf8(PATH),
        ts(CREATED_AT),
        utf8(TRUST_POLICY),
        utf8(PERMISSIONS_BOUNDARY_ARN),
        ts(LAST_USED_AT),
        utf8(LAST_USED_REGION),
        utf8(TAGS),
        Field::new(SOURCE_OBJECT, DataType::Utf8, false),
    ]))
});

static ROLE_TRUST: LazyLock<SchemaRef> = LazyLock::new(|| {
    use role_trust::*;
    Arc::new(Schema::new(vec![
        Field::new(ACCOUNT_ID, DataType::Utf8, false),
        Field::new(ROLE_ARN, DataType::Utf8, false),
        utf8(ROLE_NAME),
        Field::new(STATEMENT_INDEX, DataType::Int32, false),
        utf8(EFFECT),
        boolean(NOT_PRINCIPAL),
        utf8(PRINCIPAL_TYPE),
        utf8(PRINCIPAL),
        utf8(PRINCIPAL_ACCOUNT_ID),
        utf8(PRINCIPAL_KIND),
        strings(ACTIONS),
        boolean(REQUIRES_EXTERNAL_ID),
        strings(EXTERNAL_ID_FINGERPRINTS),
        Field::new(
            EXTERNAL_ID_LENGTHS,
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
        utf8(CONDITIONS),
        strings(NARROWING_CONDITIONS),
        Field::new(SOURCE_OBJECT, DataType::Utf8, false),
    ]))
});

static ROLE_POLICIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    use role_policies::*;
    Arc::new(Schema::new(vec![
        Field::new(ACCOUNT_ID, DataType::Utf8, false),
        Field::new(ROLE_ARN, DataType::Utf8, false),
        utf8(ROLE_NAME),
        utf8(POLICY_KIND),
        utf8(POLICY_NAME),
        utf8(POLICY_ARN),
        boolean(POLICY_RESOLVED),
        Field::new(STATEMENT_INDEX, DataType::Int32, true),
        utf8(SID),
        utf8(EFFECT),
        strings(ACTIONS),
        strings(NOT_ACTIONS),
        strings(RESOURCES),
        strings(NOT_RESOURCES),
        utf8(CONDITIONS),
        Field::new(SOURCE_OBJECT, DataType::Utf8, false),
    ]))
});

/// The tables crosstrail writes into a lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per CloudTrail record.
    Events,
    /// One row per AssumeRole / AssumeRoleWithSAML / AssumeRoleWithWebIdentity record.
    Sessions,
    /// IAM snapshot: one row per role.
    Roles,
    /// IAM snapshot: one row per trust-policy principal of a role.
    RoleTrust,
    /// IAM snapshot: one row per statement of a role's permission policies and boundary.
    RolePolicies,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 5] = [
        Table::Events,
        Table::Sessions,
        Table::Roles,
        Table::RoleTrust,
        Table::RolePolicies,
    ];

    /// The tables built from CloudTrail records, partitioned by day.
    pub const TRAIL: [Table; 2] = [Table::Events, Table::Sessions];

    /// The tables built from IAM snapshots, partitioned by snapshot.
    pub const IAM: [Table; 3] = [Table::Roles, Table::RoleTrust, Table::RolePolicies];

    /// Table name in SQL, and the lake sub-directory holding its files.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Sessions => "sessions",
            Table::Roles => "roles",
            Table::RoleTrust => "role_trust",
            Table::RolePolicies => "role_policies",
        }
    }

    /// The Hive partition column: [`EVENT_DATE`] or [`SNAPSHOT`].
    pub fn partition_column(self) -> &'static str {
        match self {
            Table::Events | Table::Sessions => EVENT_DATE,
            Table::Roles | Table::RoleTrust | Table::RolePolicies => SNAPSHOT,
        }
    }

    /// Schema of the Parquet files (without the partition column).
    pub fn file_schema(self) -> SchemaRef {
        match self {
            Table::Events => EVENTS.clone(),
            Table::Sessions => SESSIONS.clone(),
            Table::Roles => ROLES.clone(),
            Table::RoleTrust => ROLE_TRUST.clone(),
            Table::RolePolicies => ROLE_POLICIES.clone(),
        }
    }

    /// Schema as SQL sees it: the file schema followed by the partition column (Utf8).
    pub fn table_schema(self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .file_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(self.partition_column(), DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_schema_appends_partition_column() {
        for t in Table::ALL {
            let s = t.table_schema();
            assert_eq!(s.fields().len(), t.file_schema().fields().len() + 1);
            assert_eq!(s.field(s.fields().len() - 1).name(), t.partition_column());
        }
    }

    #[test]
    fn column_names_are_unique() {
        for t in Table::ALL {
            let s = t.file_schema();
            let mut names: Vec<_> = s.fields().iter().map(|f| f.name().clone()).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{}", t.name());
        }
    }
}
