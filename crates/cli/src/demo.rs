//! `crosstrail demo`: a generated trail, ingested and summarised.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use crosstrail_ingest::{IngestOptions, LocalSource, Source};
use crosstrail_query::{LakeOptions, LakeSession, OutputFormat, write_dataframe};
use crosstrail_synth::Spec;

use crate::args::DemoArgs;
use crate::ingest::{IngestConfig, run_config};

const MARKER: &str = ".crosstrail-demo";

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let format: OutputFormat = a
        .format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("crosstrail-demo"));
    prepare(&dir)?;
    let logs = dir.join("logs");
    let lake = dir.join("lake");
    let spec = Spec {
        seed: a.seed,
        ..Spec::demo()
    };
    eprintln!(
        "crosstrail demo: generating a sample trail (seed {}) in {}",
        a.seed,
        logs.display()
    );
    let truth =
        crosstrail_synth::generate(&spec, &logs).context("cannot generate the sample trail")?;

    // The generator also writes IAM snapshots and its ground truth beside the trail.
    let source: Arc<dyn Source> = Arc::new(LocalSource::new(&logs.join("AWSLogs"), None)?);
    let iam = truth
        .own_accounts
        .iter()
        .map(|a| logs.join("iam").join(format!("{}.json", a.id)))
        .collect();
    let config = IngestConfig {
        lake: lake.clone(),
        s3: crosstrail_ingest::S3Options::default(),
        sources: vec![source],
        options: IngestOptions::default(),
        iam,
        quiet: false,
    };
    let (summary, _) = run_config(&config)?;
    anyhow::ensure!(
        summary.objects_failed == 0 && summary.list_errors == 0,
        "the sample trail did not ingest cleanly"
    );

    let vendors_file = logs.join("vendors.yaml");
    let vendors = std::fs::read_to_string(&vendors_file)
        .map_err(anyhow::Error::from)
        .and_then(|t| Ok(crosstrail_iam::accounts::parse_vendors(&t)?))
        .with_context(|| format!("cannot read {}", vendors_file.display()))?;
    let own: Vec<String> = truth.own_accounts.iter().map(|a| a.id.clone()).collect();
    let own_list = own.join(",");
    crate::sql::runtime()?.block_on(async {
        let session = LakeSession::open(
            &lake,
            LakeOptions {
                own_accounts: Some(own),
                vendors: Some(vendors),
                ..LakeOptions::default()
            },
        )
        .await?;

        eprintln!("\nThird-party roles in the sample, last activity (crosstrail report last-activity; own accounts: {own_list}):");
        let mut out = BufWriter::new(std::io::stdout().lock());
        let overview = crosstrail_query::report("last-activity")
            .ok_or_else(|| anyhow::anyhow!("the last-activity report is missing"))?;
        write_dataframe(format, session.sql(overview.sql).await?, &mut out).await?;
        out.flush()?;
        anyhow::Ok(())
    })?;
    let lake = lake.display();
    eprintln!(
        "\nExplore further (the same lake, your own questions):\n\
         \x20 crosstrail report --list\n\
         \x20 crosstrail report third-parties --lake {lake} --own-accounts {own_list} --vendors {vendors}\n\
         \x20 crosstrail report timeline --lake {lake} --own-accounts {own_list} --vendors {vendors} --vendor \"Delta Consulting\"\n\
         \x20 crosstrail report external-id --lake {lake} --own-accounts {own_list} --vendors {vendors}\n\
         \x20 crosstrail report unused --lake {lake} --own-accounts {own_list} --vendors {vendors}\n\
         \x20 crosstrail report rightsize --lake {lake} --own-accounts {own_list} --vendors {vendors} --format json > policies.json\n\
         \x20 crosstrail sql --lake {lake} \"SHOW TABLES\"\n\
         \x20 crosstrail sql --lake {lake} --format csv \"SELECT * FROM events WHERE error_code IS NOT NULL\" > errors.csv",
        vendors = vendors_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes `dir` empty, refusing to delete a directory the demo did not create.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        anyhow::ensure!(
            ours || empty,
            "{} exists and was not made by crosstrail demo; choose another --dir",
            dir.display()
        );
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        b"made by crosstrail demo; deleted by the next demo run\n",
    )
    .with_context(|| format!("cannot write in {}", dir.display()))?;
    Ok(())
}
