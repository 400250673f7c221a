//! `kubealived generate man|bash|zsh|fish`: the man page and completions,
//! generated from the clap definition so they never drift from the CLI.

use crate::cli::{Artifact, Cli, GenerateArgs};
use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

pub fn run(args: &GenerateArgs) -> Result<()> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match args.what {
        Artifact::Man => {
            return match &args.out_dir {
                Some(dir) => Ok(clap_mangen::generate_to(command, dir)?),
                None => Ok(clap_mangen::Man::new(command).render(&mut out)?),
            }
        }
        Artifact::Bash => Shell::Bash,
        Artifact::Zsh => Shell::Zsh,
        Artifact::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "kubealived", &mut out);
    Ok(())
}
