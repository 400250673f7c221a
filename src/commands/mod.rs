//! One file per subcommand; the shared first half of install and render is here.

pub mod check_apiserver;
pub mod generate;
pub mod install;
pub mod render;
pub mod status;
pub mod uninstall;

use crate::cli::SettingsArgs;
use crate::config::{self, Config, Settings};
use crate::host::Host;
use crate::render::{keepalived, Node};
use anyhow::Result;
use std::path::Path;

/// Everything install and render compute before touching anything.
pub struct Rendered {
    pub settings: Settings,
    pub node: Node,
    pub keepalived_conf: String,
}

pub fn prepare(
    args: &SettingsArgs,
    saved: Option<&Path>,
    host: &dyn Host,
    on_this_host: bool,
) -> Result<Rendered> {
    let settings = config::load(args, saved)?;
    let config = Config::validate(&settings)?;
    let node = crate::detect::resolve(&config, &host.interfaces()?, on_this_host)?;
    let keepalived_conf = keepalived::render(&node);
    Ok(Rendered {
        settings,
        node,
        keepalived_conf,
    })
}

pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
