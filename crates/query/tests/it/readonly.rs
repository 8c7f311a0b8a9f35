//! Read-only SQL by default, writes with `allow_writes`, and scripts of several statements.

use crosstrail_query::{Error, LakeOptions};

use crate::fixtures::{Lake, csv, render_csv};

fn writable() -> LakeOptions {
    LakeOptions {
        allow_writes: true,
        ..LakeOptions::default()
    }
}

#[tokio::test]
async fn statements_that_write_are_refused_by_default() {
    let lake = Lake::new();
    let copy_target = lake.path().join("copy.csv");
    let session = lake.open().await;
    let cases = [
        ("CREATE TABLE t (x INT)", "CREATE TABLE"),
        ("CREATE TABLE t AS SELECT 1 AS x", "CREATE TABLE"),
        ("CREATE VIEW v AS SELECT 1 AS x", "CREATE VIEW"),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/tmp/x.csv'",
            "CREATE EXTERNAL TABLE",
        ),
        ("INSERT INTO own_accounts VALUES ('123456789012')", "INSERT"),
        ("DELETE FROM own_accounts", "DELETE"),
        ("UPDATE own_accounts SET account_id = 'x'", "UPDATE"),
        (
            &format!(
                "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
                copy_target.display()
            ),
            "COPY",
        ),
        ("DROP TABLE events_all", "DROP TABLE"),
        ("DROP VIEW events", "DROP VIEW"),
        ("SET datafusion.execution.batch_size = 1", "SET"),
        ("RESET datafusion.execution.batch_size", "RESET"),
        ("PREPARE q AS SELECT 1", "PREPARE"),
        ("EXPLAIN CREATE TABLE t (x INT)", "CREATE TABLE"),
    ];
    for (sql, statement) in cases {
        let error = session.sql(sql).await.expect_err(sql);
        assert!(matches!(error, Error::ReadOnly { .. }), "{sql}: {error:?}");
        assert_eq!(
            error.to_string(),
            format!("{statement} is not allowed: crosstrail sql is read-only; pass --allow-writes"),
            "{sql}"
        );
    }
    // Nothing happened.
    assert!(!copy_target.exists());
    assert!(session.context().table_provider("t").await.is_err());
    assert_eq!(
        csv(&session, "SELECT count(*) AS n FROM events").await,
        "n\n0\n"
    );
    // Reading is fine, including SHOW and EXPLAIN.
    session.sql("SHOW TABLES").await.expect("SHOW");
    session.sql("SHOW ALL").await.expect("SHOW ALL");
    session.sql("EXPLAIN SELECT 1").await.expect("EXPLAIN");
    session.sql("DESCRIBE events").await.expect("DESCRIBE");
}

#[tokio::test]
async fn a_refused_statement_stops_a_script_before_it_runs() {
    let lake = Lake::new();
    let session = lake.open().await;
    let mut script = session
        .statements("SELECT 1 AS x; CREATE TABLE t (x INT); SELECT 2 AS x")
        .expect("parses");
    assert_eq!(script.len(), 3);
    let first = script.next().await.expect("first plans").expect("a result");
    assert_eq!(render_csv(first).await, "x\n1\n");
    let error = script.next().await.expect_err("CREATE refused");
    assert!(matches!(
        error,
        Error::ReadOnly {
            statement: "CREATE TABLE"
        }
    ));
    assert!(session.context().table_provider("t").await.is_err());
}

#[tokio::test]
async fn writes_run_in_order_when_allowed() {
    let lake = Lake::new();
    let copy_target = lake.path().join("out.csv");
    let session = lake.open_with(writable()).await;
    let script = format!(
        "CREATE TABLE t (x INT);
         INSERT INTO t VALUES (1), (2);
         SET datafusion.execution.batch_size = 1;
         CREATE VIEW v AS SELECT sum(x) AS total FROM t;
         COPY (SELECT * FROM v) TO '{}' STORED AS CSV;
         SELECT total FROM v;
         SELECT value FROM information_schema.df_settings
           WHERE name = 'datafusion.execution.batch_size';
         DROP VIEW v;",
        copy_target.display()
    );
    let mut statements = session.statements(&script).expect("parses");
    let mut outputs = Vec::new();
    while let Some(result) = statements.next().await.expect("statement runs") {
        outputs.push(render_csv(result).await);
    }
    assert_eq!(outputs.len(), 8);
    assert_eq!(outputs[1], "count\n2\n");
    assert_eq!(outputs[5], "total\n3\n");
    assert_eq!(outputs[6], "value\n1\n");
    assert_eq!(
        std::fs::read_to_string(&copy_target).expect("COPY wrote the file"),
        "total\n3\n"
    );
    assert!(
        session.context().table_provider("v").await.is_err(),
        "dropped"
    );
}

#[tokio::test]
async fn scripts_parse_before_anything_runs() {
    let lake = Lake::new();
    let session = lake.open_with(writable()).await;
    let error = session
        .statements("CREATE TABLE t (x INT); SELEC 1")
        .expect_err("syntax error in the second statement");
    assert!(matches!(error, Error::Query(_)), "{error:?}");
    assert!(session.context().table_provider("t").await.is_err());

    assert!(
        session
            .statements("  -- nothing\n")
            .expect("parses")
            .is_empty()
    );
}

#[tokio::test]
async fn sql_takes_exactly_one_statement() {
    let lake = Lake::new();
    let session = lake.open().await;
    for (sql, found) in [("", 0), ("SELECT 1; SELECT 2", 2)] {
        let error = session.sql(sql).await.expect_err(sql);
        assert!(matches!(error, Error::StatementCount { found: f } if f == found));
    }
    assert_eq!(
        session
            .sql("SELECT 1; SELECT 2")
            .await
            .expect_err("two")
            .to_string(),
        "expected one SQL statement, found 2"
    );
    session
        .sql("SELECT 1;")
        .await
        .expect("a trailing ; is fine");
}
