//! Seed's build spec (`seed.yml`): its `sls_set_secret_envs: false` opt-out stops secrets
//! from being set as Lambda environment variables (they stay available to the build).

use std::path::{Path, PathBuf};

use crate::yaml::{self, Value};

/// Where the opt-out was read, and its value.
pub struct SeedSetting {
    pub file: PathBuf,
    pub set_env: bool,
}

/// Reads `sls_set_secret_envs` from `seed.yml` in the service folder, else the repository
/// root. `Ok(None)` when no file sets it.
pub fn set_secret_envs(
    service_dir: &Path,
    repo_root: &Path,
) -> Result<Option<SeedSetting>, String> {
    for dir in [service_dir, repo_root] {
        for name in ["seed.yml", "seed.yaml"] {
            let file = dir.join(name);
            let text = match crate::files::read_text(&file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", file.display())),
            };
            let docs = yaml::parse(&text).map_err(|e| format!("{}:{e}", file.display()))?;
            let Some(doc) = docs.first() else { continue };
            match yaml::value::get(&doc.items, "sls_set_secret_envs") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => {
                    return Ok(Some(SeedSetting { file, set_env: *b }));
                }
                Some(_) => {
                    return Err(format!(
                        "{}: `sls_set_secret_envs` must be true or false",
                        file.display()
                    ));
                }
            }
        }
    }
    Ok(None)
}
