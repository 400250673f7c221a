//! `kubealived generate man|bash|zsh|fish`: the man page and completions,
//! generated from the clap definition so they never drift from the CLI.

use super::Cli;
use anyhow::Result;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use std::io::Write;

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
    /// Write kubealived.1 and one page per subcommand (kubealived-install.1, ...) into DIR
    /// instead of printing the main page
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

pub fn run(args: &GenerateArgs, out: &mut dyn Write) -> Result<()> {
    let mut command = Cli::command();
    let shell = match args.what {
        Artifact::Man => {
            return match &args.out_dir {
                Some(dir) => Ok(clap_mangen::generate_to(command, dir)?),
                None => Ok(clap_mangen::Man::new(command).render(out)?),
            }
        }
        Artifact::Bash => Shell::Bash,
        Artifact::Zsh => Shell::Zsh,
        Artifact::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "kubealived", out);
    Ok(())
}
