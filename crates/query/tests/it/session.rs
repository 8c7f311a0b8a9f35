//! Tables and views of a lake session.

use crosstrail_lake::Table;
use crosstrail_query::{Error, LakeOptions, LakeSession};

use crate::fixtures::{Lake, csv, physical_plan};

const DAY1: &str = "event_date=2024-01-01";
const DAY2: &str = "event_date=2024-01-02";
const DAY3: &str = "event_date=2024-01-03";

async fn count(session: &LakeSession, table: &str) -> String {
    csv(session, &format!("SELECT count(*) AS n FROM {table}")).await
}

#[tokio::test]
async fn empty_lake_has_every_table_with_its_schema_and_no_rows() {
    let lake = Lake::new();
    let session = lake.open().await;
    for table in [
        "events_all",
        "sessions_all",
        "events",
        "sessions",
        "session_actions",
        "own_accounts",
    ] {
        assert_eq!(count(&session, table).await, "n\n0\n", "{table}");
    }
    for table in Table::ALL {
        for name in [table.name().to_owned(), format!("{}_all", table.name())] {
            let provider = session
                .context()
                .table_provider(name.as_str())
                .await
                .expect(&name);
            assert_eq!(
                provider.schema().fields(),
                table.table_schema().fields(),
                "{name}"
            );
        }
    }
    let tables = csv(
        &session,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .await;
    assert_eq!(
        tables,
        "table_name\nactivity_in_scope\nevents\nevents_all\ngrant_notes\ninput_notes\norg_accounts\nown_accounts\nown_set\n\
         party_classes\nreport_params\nrole_action_use\nrole_grants\nrole_policies\nrole_policies_all\n\
         role_scope\nrole_trust\nrole_trust_all\nroles\nroles_all\nsession_actions\nsession_chains\n\
         sessions\nsessions_all\nthird_party_actions\nthird_party_activity\nthird_party_roles\n\
         third_party_sessions\ntrust_classified\ntrust_keys\ntrust_reach\nvendors\n"
    );
    session.sql("SHOW TABLES").await.expect("SHOW TABLES plans");

    // Table directories that exist but hold nothing behave the same.
    std::fs::create_dir_all(lake.path().join("events").join(DAY1)).expect("mkdir");
    std::fs::create_dir_all(lake.path().join("sessions")).expect("mkdir");
    let session = lake.open().await;
    assert_eq!(count(&session, "events").await, "n\n0\n");
    assert_eq!(count(&session, "sessions").await, "n\n0\n");
}

#[tokio::test]
async fn a_missing_lake_is_a_user_error() {
    let lake = Lake::new();
    let missing = lake.path().join("nope");
    let error = LakeSession::open(&missing, LakeOptions::default())
        .await
        .expect_err("no such directory");
    assert!(matches!(error, Error::Lake { .. }), "{error:?}");
    assert!(!error.is_bug());
    assert_eq!(
        error.to_string(),
        format!("cannot open lake directory {}", missing.display())
    );

    let file = lake.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let error = LakeSession::open(&file, LakeOptions::default())
        .await
        .expect_err("not a directory");
    assert!(matches!(error, Error::Lake { .. }), "{error:?}");
}

#[tokio::test]
async fn events_view_keeps_each_event_id_once_and_every_null_id() {
    let lake = Lake::new();
    lake.write(
        Table::Events,
        &format!("{DAY1}/part-1.parquet"),
        &[
            &[
                ("event_id", "e1"),
                ("source_object", "s3://b/org-trail.json.gz"),
            ],
            &[
                ("event_id", "e2"),
                ("source_object", "s3://b/org-trail.json.gz"),
            ],
            &[
                ("event_name", "no id 1"),
                ("source_object", "s3://b/org-trail.json.gz"),
            ],
            &[
                ("event_name", "no id 2"),
                ("source_object", "s3://b/org-trail.json.gz"),
            ],
        ],
    );
    lake.write(
        Table::Events,
        &format!("{DAY1}/part-2.parquet"),
        &[
            &[
                ("event_id", "e1"),
                ("source_object", "s3://b/account-trail.json.gz"),
            ],
            &[
                ("event_id", "e3"),
                ("source_object", "s3://b/account-trail.json.gz"),
            ],
        ],
    );
    let session = lake.open().await;
    assert_eq!(count(&session, "events_all").await, "n\n6\n");
    assert_eq!(
        csv(
            &session,
            "SELECT event_id, event_name, source_object FROM events ORDER BY event_id, event_name"
        )
        .await,
        "event_id,event_name,source_object\n\
         e1,,s3://b/account-trail.json.gz\n\
         e2,,s3://b/org-trail.json.gz\n\
         e3,,s3://b/account-trail.json.gz\n\
         ,no id 1,s3://b/org-trail.json.gz\n\
         ,no id 2,s3://b/org-trail.json.gz\n"
    );
    // Exactly the table's columns: no helper column leaks out of the view.
    let result = session.sql("SELECT * FROM events").await.expect("plans");
    let schema = result.schema().as_arrow().clone();
    assert_eq!(schema.fields(), Table::Events.table_schema().fields());
}

#[tokio::test]
async fn sessions_view_keeps_each_event_id_once() {
    let lake = Lake::new();
    for part in ["part-1.parquet", "part-2.parquet"] {
        lake.write(
            Table::Sessions,
            &format!("{DAY1}/{part}"),
            &[
                &[("event_id", "s1"), ("source_object", part)],
                &[("source_object", part)],
            ],
        );
    }
    let session = lake.open().await;
    assert_eq!(count(&session, "sessions_all").await, "n\n4\n");
    assert_eq!(
        csv(
            &session,
            "SELECT event_id, source_object FROM sessions ORDER BY 1, 2"
        )
        .await,
        "event_id,source_object\ns1,part-1.parquet\n,part-1.parquet\n,part-2.parquet\n"
    );
    let result = session.sql("SELECT * FROM sessions").await.expect("plans");
    assert_eq!(
        result.schema().as_arrow().fields(),
        Table::Sessions.table_schema().fields()
    );
}

fn three_days() -> Lake {
    let lake = Lake::new();
    for (day, id) in [(DAY1, "d1"), (DAY2, "d2"), (DAY3, "d3")] {
        lake.write(
            Table::Events,
            &format!("{day}/part-1.parquet"),
            &[&[("event_id", id)]],
        );
    }
    lake
}

#[tokio::test]
async fn a_filter_on_event_date_prunes_directories_through_the_view() {
    let lake = three_days();
    let session = lake.open().await;
    for table in ["events_all", "events"] {
        let sql = format!("SELECT event_id FROM {table} WHERE event_date >= '2024-01-02'");
        let plan = physical_plan(&session, &sql).await;
        println!("{table}:\n{plan}");
        assert!(!plan.contains(DAY1), "{table} reads day 1:\n{plan}");
        assert!(plan.contains(DAY2) && plan.contains(DAY3), "{plan}");
        assert_eq!(
            csv(&session, &format!("{sql} ORDER BY event_id")).await,
            "event_id\nd2\nd3\n"
        );
    }
    // The filter runs below the deduplicating window, next to the scan.
    let plan = physical_plan(
        &session,
        "SELECT event_id FROM events WHERE event_date = '2024-01-03'",
    )
    .await;
    assert!(!plan.contains(DAY1) && !plan.contains(DAY2), "{plan}");
}

#[tokio::test]
async fn hidden_and_internal_files_are_not_read() {
    let lake = three_days();
    // Reading any of these would fail the query: they are not Parquet.
    for hidden in [
        format!("events/{DAY1}/_part-9.parquet"),
        format!("events/{DAY1}/.part-9.parquet"),
        format!("events/{DAY1}/_staging/part-9.parquet"),
        format!("events/{DAY1}/.staging/part-9.parquet"),
        format!("events/_staging/{DAY1}/part-9.parquet"),
        format!("events/_{DAY1}/part-9.parquet"),
        "events/part-9.parquet".to_owned(),
        format!("_crosstrail/staging/events/{DAY1}/part-9.parquet"),
        format!("_crosstrail/events/{DAY1}/part-9.parquet"),
        format!("sessions/{DAY1}/_tmp.parquet"),
    ] {
        lake.write_garbage(&hidden);
    }
    let session = lake.open().await;
    assert_eq!(count(&session, "events_all").await, "n\n3\n");
    assert_eq!(count(&session, "events").await, "n\n3\n");
    assert_eq!(count(&session, "sessions").await, "n\n0\n");
    assert_eq!(count(&session, "own_accounts").await, "n\n0\n");
}

/// A cross-account session logged twice (caller's and role's account, different event_ids,
/// different days of delivery files), a failed one, one with an empty key, one with no action;
/// actions on two days, one of them delivered twice.
fn sessions_and_actions() -> Lake {
    let lake = Lake::new();
    let issued = [
        ("event_time", "2024-01-01T23:50:00Z"),
        ("role_arn", "arn:aws:iam::222222222222:role/Audit"),
        ("role_account_id", "222222222222"),
        ("role_session_name", "vendor"),
        ("caller_account_id", "999999999999"),
        ("caller_arn", "arn:aws:iam::999999999999:user/vendor"),
        ("temp_access_key_id", "ASIAKEY1"),
        ("expires_at", "2024-01-02T00:50:00Z"),
    ];
    let caller_copy: Vec<_> = issued
        .iter()
        .copied()
        .chain([
            ("event_id", "s1-caller"),
            ("recipient_account_id", "999999999999"),
        ])
        .collect();
    let role_copy: Vec<_> = issued
        .iter()
        .copied()
        .chain([
            ("event_id", "s1-role"),
            ("recipient_account_id", "222222222222"),
        ])
        .collect();
    lake.write(
        Table::Sessions,
        &format!("{DAY1}/a.parquet"),
        &[&caller_copy],
    );
    lake.write(
        Table::Sessions,
        &format!("{DAY1}/b.parquet"),
        &[
            &role_copy,
            &[
                ("event_id", "s2-denied"),
                ("error_code", "AccessDenied"),
                ("recipient_account_id", "222222222222"),
            ],
            &[
                ("event_id", "s3-empty-key"),
                ("temp_access_key_id", ""),
                ("recipient_account_id", "222222222222"),
            ],
            &[
                ("event_id", "s4-idle"),
                ("temp_access_key_id", "ASIAKEY4"),
                ("recipient_account_id", "333333333333"),
            ],
        ],
    );
    let action = |id, time, name| {
        vec![
            ("event_id", id),
            ("event_time", time),
            ("event_name", name),
            ("event_source", "s3.amazonaws.com"),
            ("access_key_id", "ASIAKEY1"),
            ("read_only", "true"),
            ("recipient_account_id", "222222222222"),
        ]
    };
    let a1 = action("a1", "2024-01-01T23:55:00Z", "ListBuckets");
    let a2 = action("a2", "2024-01-02T00:05:00Z", "GetObject");
    lake.write(
        Table::Events,
        &format!("{DAY1}/part-1.parquet"),
        &[
            &a1,
            &[
                ("event_id", "other"),
                ("access_key_id", "AKIAOTHER"),
                ("recipient_account_id", "111111111111"),
            ],
            // An event without a key must not match the sessions without a key.
            &[("event_id", "keyless"), ("access_key_id", "")],
        ],
    );
    lake.write(Table::Events, &format!("{DAY2}/part-1.parquet"), &[&a2]);
    lake.write(Table::Events, &format!("{DAY2}/part-2.parquet"), &[&a2]);
    lake
}

#[tokio::test]
async fn session_actions_links_each_action_once_across_days() {
    let lake = sessions_and_actions();
    let session = lake.open().await;
    let result = session
        .sql("SELECT * FROM session_actions")
        .await
        .expect("plans");
    let columns: Vec<_> = result
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        columns,
        [
            "session_event_id",
            "role_arn",
            "role_session_name",
            "caller_account_id",
            "caller_arn",
            "temp_access_key_id",
            "session_start",
            "expires_at",
            "event_id",
            "event_time",
            "event_source",
            "event_name",
            "aws_region",
            "source_ip",
            "user_agent",
            "error_code",
            "error_message",
            "resources",
            "request_parameters",
            "read_only",
            "event_date",
        ]
    );
    assert_eq!(
        csv(
            &session,
            "SELECT session_event_id, role_session_name, caller_account_id, temp_access_key_id, \
                    session_start, expires_at, event_id, event_time, event_name, read_only, \
                    event_date \
             FROM session_actions ORDER BY event_time"
        )
        .await,
        "session_event_id,role_session_name,caller_account_id,temp_access_key_id,session_start,expires_at,event_id,event_time,event_name,read_only,event_date\n\
         s1-role,vendor,999999999999,ASIAKEY1,2024-01-01T23:50:00Z,2024-01-02T00:50:00Z,a1,2024-01-01T23:55:00Z,ListBuckets,true,2024-01-01\n\
         s1-role,vendor,999999999999,ASIAKEY1,2024-01-01T23:50:00Z,2024-01-02T00:50:00Z,a2,2024-01-02T00:05:00Z,GetObject,true,2024-01-02\n"
    );
    assert_eq!(
        csv(
            &session,
            "SELECT event_id FROM session_actions WHERE event_date = '2024-01-02'"
        )
        .await,
        "event_id\na2\n"
    );
}

#[tokio::test]
async fn a_filter_on_the_action_date_prunes_events_but_not_sessions() {
    let lake = sessions_and_actions();
    let session = lake.open().await;
    let plan = physical_plan(
        &session,
        "SELECT event_id FROM session_actions WHERE event_date = '2024-01-02'",
    )
    .await;
    println!("{plan}");
    assert!(!plan.contains(&format!("events/{DAY1}")), "{plan}");
    assert!(plan.contains(&format!("events/{DAY2}")), "{plan}");
    // The session that issued the key was on day 1: sessions are read whole.
    assert!(plan.contains(&format!("sessions/{DAY1}")), "{plan}");
}

#[tokio::test]
async fn without_the_role_accounts_copy_the_callers_copy_is_used() {
    let lake = sessions_and_actions();
    std::fs::remove_file(lake.path().join("sessions").join(DAY1).join("b.parquet"))
        .expect("remove the role account's copy");
    let session = lake.open().await;
    assert_eq!(
        csv(
            &session,
            "SELECT session_event_id, event_id FROM session_actions ORDER BY event_id"
        )
        .await,
        "session_event_id,event_id\ns1-caller,a1\ns1-caller,a2\n"
    );
}

#[tokio::test]
async fn own_accounts_are_inferred_from_recipients_or_given() {
    let lake = sessions_and_actions();
    let session = lake.open().await;
    assert_eq!(
        csv(&session, "SELECT account_id FROM own_accounts ORDER BY 1").await,
        "account_id\n111111111111\n222222222222\n333333333333\n999999999999\n"
    );

    let session = lake
        .open_with(LakeOptions {
            own_accounts: Some(vec![
                "222222222222".into(),
                "123456789012".into(),
                "222222222222".into(),
            ]),
            ..LakeOptions::default()
        })
        .await;
    assert_eq!(
        csv(&session, "SELECT account_id FROM own_accounts ORDER BY 1").await,
        "account_id\n123456789012\n222222222222\n"
    );
}

#[tokio::test]
async fn sql_errors_are_datafusion_text() {
    let lake = Lake::new();
    let session = lake.open().await;
    let error = session
        .sql("SELECT * FROM nope")
        .await
        .expect_err("unknown table");
    assert!(matches!(error, Error::Query(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "Error during planning: table 'datafusion.public.nope' not found"
    );
    let error = session.sql("SELEC 1").await.expect_err("syntax");
    assert_eq!(
        error.to_string(),
        "sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
    );
    assert!(!error.is_bug());
}
