//! kubealived: a highly available API endpoint for kubeadm clusters.

mod cli;
mod commands;
mod config;
mod detect;
mod error;
mod faults;
mod fs;
mod host;
mod kubeadm;
mod plan;
mod render;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Install(args) => commands::install::run(args),
        Command::Render(args) => commands::render::run(args),
        Command::Uninstall(args) => commands::uninstall::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::CheckApiserver(args) => commands::check_apiserver::run(args),
        Command::Generate(args) => commands::generate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if error::is_usage(&err) { 2 } else { 1 })
        }
    }
}
