use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sls_secrets::cli::Cli::parse();
    sls_secrets::app::run(cli)
}
