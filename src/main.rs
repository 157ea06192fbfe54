//! The `sls-secrets` binary: parses the command line (`cli`) and hands it to the command's
//! runner (`commands/`). All the work is in the `sls_secrets` library.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use commands::{Context, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Context::new(cli.command.secrets_dir());
    let code = dispatch(&cli.command, &ctx).unwrap_or_else(Failure::report);
    ExitCode::from(code)
}

fn dispatch(command: &Command, ctx: &Context) -> Result<u8, Failure> {
    use commands::*;
    match command {
        Command::Init(args) => init::run(args, ctx),
        Command::Set(args) => set::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Get(args) => get::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::List(args) => list::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Rm(args) => rm::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Copy(args) => copy::run(args, ctx),
        Command::Decrypt(args) => decrypt::run(args, ctx),
        Command::Render(args) => render::run(args, ctx),
        Command::Exec(args) => exec::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Edit(args) => edit::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Rotate(args) => rotate::run(args, ctx),
        Command::Keys(args) => keys::run(args, ctx),
        Command::Diff(args) => diff::run(args, ctx),
        Command::Check(args) => check::run(args, ctx),
        Command::GitDiff(args) => git_diff::run(args, ctx),
        Command::GitMerge(args) => git_merge::run(args, ctx),
        Command::GitTextconv(args) => git_textconv::run(args, ctx),
        Command::Export(args) => export::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Seal(args) => seal::run(args, ctx).map_err(in_stage(&args.stage.stage)),
        Command::Wrap(args) => wrap::run(args, ctx),
        Command::Status(args) => status::run(args, ctx),
    }
}

/// Errors of single-stage commands name the stage.
fn in_stage(stage: &str) -> impl FnOnce(Failure) -> Failure + '_ {
    move |f| f.in_stage(stage)
}
