//! `cassia`: the one command operators use. Keys, the genesis ceremony, node homes, and (with
//! later issues) running nodes, a local devnet and client commands.
//!
//! Every failure prints one line, `error: ...`, naming what went wrong and what to do, and exits
//! with status 1. Nothing panics on bad input.

mod commands;
mod files;

use clap::Parser;

/// Cassia: a permissioned consortium blockchain node.
#[derive(Debug, Parser)]
#[command(name = "cassia", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = cli.command.execute() {
        // `{:#}` joins the chain of causes on one line: "reading x: permission denied".
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
