//! kubealived: parse, run on this machine, map errors to exit codes.

use clap::Parser;
use kubealived::commands::{self, Cli};
use kubealived::{error, host::RealHost};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = commands::run(&cli, &RealHost, &mut std::io::stdout().lock());
    match &result {
        Err(err) if !error::reader_gone(err) => eprintln!("error: {err:#}"),
        _ => {}
    }
    ExitCode::from(error::exit_code(&result))
}
