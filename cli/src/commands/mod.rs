//! One module per subcommand, each a clap struct with an `execute` method.

mod bench;
mod client;
mod devnet;
mod evidence;
mod genesis;
mod init;
mod keygen;
mod node;
mod read;

use anyhow::Result;

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate a node or account key.
    Keygen(keygen::Keygen),
    /// The genesis ceremony: create, add organizations and validators, sign, merge, verify.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Lay out a node's home directory: config.toml, genesis.json, keys/, data/.
    Init(init::Init),
    /// Run a node from its home directory until SIGINT or SIGTERM.
    Node(node::Node),
    /// Create and run a local consortium of N validators on this machine.
    Devnet(devnet::Devnet),
    /// Show a node's chain and consensus status (gRPC).
    Status(client::Status),
    /// List the proofs of equivocation a node kept, checked against its genesis (gRPC).
    Misbehaviour(client::Misbehaviour),
    /// Sign a transaction locally and submit it (gRPC).
    Tx(client::Tx),
    /// Read blocks, transactions, receipts and state, with proofs checked (gRPC).
    Query(read::Query),
    /// Follow committed blocks or events from a height (gRPC).
    Watch(read::Watch),
    /// Evidence packages a court can check offline: export from a node, verify with no node.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Load a running consortium with signed transactions; report throughput and latency.
    Bench(bench::Bench),
}

impl Command {
    /// Runs the subcommand.
    pub fn execute(self) -> Result<()> {
        match self {
            Command::Keygen(command) => command.execute(),
            Command::Genesis(command) => command.execute(),
            Command::Init(command) => command.execute(),
            Command::Node(command) => command.execute(),
            Command::Devnet(command) => command.execute(),
            Command::Status(command) => command.execute(),
            Command::Misbehaviour(command) => command.execute(),
            Command::Tx(command) => command.execute(),
            Command::Query(command) => command.execute(),
            Command::Watch(command) => command.execute(),
            Command::Evidence(command) => command.execute(),
            Command::Bench(command) => command.execute(),
        }
    }
}
