//! `kubealived generate man|bash|zsh|fish`: the man page and completions,
//! generated from the clap definition so they never drift from the CLI.

use super::Cli;
use crate::error::usage;
use anyhow::{Context, Result};
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use std::io::Write;
use std::path::Path;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Artifact {
    Man,
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Artifact,
    /// Write into DIR instead of printing: for man, kubealived.1 and one page
    /// per subcommand (kubealived-install.1, ...); for a shell, its
    /// completion file under the name that shell looks for
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

pub fn run(args: &GenerateArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(dir) = &args.out_dir {
        return write_into(args.what, dir, out);
    }
    // Rendered whole first: clap_complete panics on a failed write, and a
    // reader that goes away (`| head`) must not cost a backtrace.
    let mut text = Vec::new();
    match shell(args.what) {
        None => clap_mangen::Man::new(Cli::command()).render(&mut text)?,
        Some(shell) => clap_complete::generate(shell, &mut Cli::command(), "kubealived", &mut text),
    }
    out.write_all(&text)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

fn shell(what: Artifact) -> Option<Shell> {
    match what {
        Artifact::Man => None,
        Artifact::Bash => Some(Shell::Bash),
        Artifact::Zsh => Some(Shell::Zsh),
        Artifact::Fish => Some(Shell::Fish),
    }
}

fn write_into(what: Artifact, dir: &Path, out: &mut dyn Write) -> Result<()> {
    if !dir.is_dir() {
        return Err(usage!(
            "--out-dir {}: no such directory.\nFix: create it first (mkdir -p {}), or give one that exists.",
            dir.display(),
            dir.display()
        ));
    }
    let cannot = || format!("cannot write into {}", dir.display());
    match shell(what) {
        None => {
            clap_mangen::generate_to(Cli::command(), dir).with_context(cannot)?;
            writeln!(out, "man pages in {}", dir.display())?;
        }
        Some(shell) => {
            let path = clap_complete::generate_to(shell, &mut Cli::command(), "kubealived", dir)
                .with_context(cannot)?;
            writeln!(out, "{}", path.display())?;
        }
    }
    Ok(())
}
