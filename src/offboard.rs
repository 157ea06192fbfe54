//! The offboarding report `keys remove` prints: per stage, the names the removed person
//! could read and when each value last changed (`history`), and the advice that a new data
//! key protects only values written from now on. Names and dates only, never a value.

use std::path::{Path, PathBuf};

use crate::history::{self, Changed, LastChange};
use crate::json;
use crate::keys::AgeIdentities;
use crate::keys::recipient::AgeRecipient;

/// Why removing a key is not the end of it.
pub const ADVICE: &str = "The new data key protects only values written from now on: whoever held the removed key could read every value above and may have kept a copy (a clone of the repository keeps the old files). Change each secret at its source (rotate it at the provider: the Stripe key, the database password, the API token...), then store the new value with `sls-secrets set`.";

/// What one stage file held for the removed person.
pub struct StageReport {
    pub stage: String,
    pub path: PathBuf,
    /// Each name with its last change; `history_error` says why there are no dates.
    pub names: Vec<LastChange>,
    pub history_error: Option<String>,
}

/// The report for one stage file the person could open: its names and their last changes.
pub fn stage_report(
    stage: &str,
    path: &Path,
    names: Vec<String>,
    ids: &AgeIdentities,
) -> StageReport {
    let (names, history_error) = match history::last_changes(path, &names, ids) {
        Ok(changes) => (changes, None),
        Err(e) => {
            let why = e.to_string();
            let unknown = |name: String| LastChange {
                name,
                changed: Changed::Unknown {
                    since: None,
                    why: why.clone(),
                },
            };
            (names.into_iter().map(unknown).collect(), Some(why.clone()))
        }
    };
    StageReport {
        stage: stage.to_owned(),
        path: path.to_owned(),
        names,
        history_error,
    }
}

fn describe(changed: &Changed) -> String {
    match changed {
        Changed::Commit { date, commit } => {
            let short: String = commit.chars().take(10).collect();
            format!("last changed {date} (commit {short})")
        }
        Changed::Uncommitted => "changed since the last commit (not committed yet)".into(),
        Changed::Unknown {
            since: Some(since),
            why,
        } => format!("unchanged since at least {since} ({why})"),
        Changed::Unknown { since: None, why } => format!("last change unknown ({why})"),
    }
}

/// The report as text, for a person.
pub fn text(recipient: &AgeRecipient, reports: &[StageReport]) -> String {
    let mut out = format!("Offboarding report for {}\n", recipient.short());
    if reports.is_empty() {
        out.push_str("\nNo stage file was encrypted for this key.\n");
        return out;
    }
    for report in reports {
        out.push_str(&format!(
            "\nstage {} ({}): {} name{} this key could read\n",
            report.stage,
            report.path.display(),
            report.names.len(),
            if report.names.len() == 1 { "" } else { "s" }
        ));
        if let Some(why) = &report.history_error {
            out.push_str(&format!("  (no history: {why})\n"));
        }
        let width = report
            .names
            .iter()
            .map(|n| n.name.chars().count())
            .max()
            .unwrap_or(0);
        for name in &report.names {
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                name.name,
                describe(&name.changed)
            ));
        }
    }
    out.push('\n');
    out.push_str(ADVICE);
    out.push('\n');
    out
}

fn changed_json(changed: &Changed) -> String {
    match changed {
        Changed::Commit { date, commit } => format!(
            "{{\"kind\":\"commit\",\"date\":{},\"commit\":{}}}",
            json::string(date),
            json::string(commit)
        ),
        Changed::Uncommitted => "{\"kind\":\"uncommitted\"}".into(),
        Changed::Unknown { since, why } => format!(
            "{{\"kind\":\"unknown\",\"since\":{},\"why\":{}}}",
            since.as_deref().map_or_else(|| "null".into(), json::string),
            json::string(why)
        ),
    }
}

/// The report as JSON: `{"version":1,"recipient":..,"short":..,"stages":[{"stage":..,
/// "file":..,"historyError":..,"names":[{"name":..,"changed":{"kind":..}}]}],"advice":..}`.
pub fn json(recipient: &AgeRecipient, reports: &[StageReport]) -> String {
    let stages: Vec<String> = reports
        .iter()
        .map(|report| {
            let names: Vec<String> = report
                .names
                .iter()
                .map(|n| {
                    format!(
                        "{{\"name\":{},\"changed\":{}}}",
                        json::string(&n.name),
                        changed_json(&n.changed)
                    )
                })
                .collect();
            format!(
                "{{\"stage\":{},\"file\":{},\"historyError\":{},\"names\":[{}]}}",
                json::string(&report.stage),
                json::string(&report.path.display().to_string()),
                report
                    .history_error
                    .as_deref()
                    .map_or_else(|| "null".into(), json::string),
                names.join(",")
            )
        })
        .collect();
    format!(
        "{{\"version\":1,\"recipient\":{},\"short\":{},\"stages\":[{}],\"advice\":{}}}\n",
        json::string(recipient.text()),
        json::string(&recipient.short()),
        stages.join(","),
        json::string(ADVICE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (AgeRecipient, Vec<StageReport>) {
        let (_, r) = crate::keys::age::generate();
        let recipient = AgeRecipient::parse(&r).unwrap();
        let change = |name: &str, changed| LastChange {
            name: name.into(),
            changed,
        };
        let reports = vec![StageReport {
            stage: "prod".into(),
            path: "secrets/prod.yml".into(),
            names: vec![
                change(
                    "DB_PASSWORD",
                    Changed::Commit {
                        date: "2026-11-02T10:00:00Z".into(),
                        commit: "0123456789abcdef".into(),
                    },
                ),
                change("API", Changed::Uncommitted),
                change(
                    "OLD\"KEY",
                    Changed::Unknown {
                        since: Some("2026-01-01".into()),
                        why: "history cut".into(),
                    },
                ),
            ],
            history_error: None,
        }];
        (recipient, reports)
    }

    #[test]
    fn text_lists_names_with_dates_and_the_advice() {
        let (recipient, reports) = sample();
        let out = text(&recipient, &reports);
        assert!(out.contains("stage prod (secrets/prod.yml): 3 names this key could read"));
        assert!(
            out.contains("  DB_PASSWORD  last changed 2026-11-02T10:00:00Z (commit 0123456789)")
        );
        assert!(out.contains("  API          changed since the last commit"));
        assert!(out.contains("unchanged since at least 2026-01-01 (history cut)"));
        assert!(out.ends_with(&format!("{ADVICE}\n")));
    }

    #[test]
    fn json_has_every_name_and_kind() {
        let (recipient, reports) = sample();
        let out = json(&recipient, &reports);
        assert!(out.starts_with("{\"version\":1,"));
        assert!(out.contains("{\"name\":\"OLD\\\"KEY\",\"changed\":{\"kind\":\"unknown\",\"since\":\"2026-01-01\",\"why\":\"history cut\"}}"));
        assert!(out.contains("{\"name\":\"API\",\"changed\":{\"kind\":\"uncommitted\"}}"));
    }
}
