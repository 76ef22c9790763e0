//! Notarize a document and read the proof back, as an integrator would.
//!
//! ```sh
//! cargo run -p cassia-api --example notarize -- http://127.0.0.1:7200 ./contract.pdf
//! ```
//!
//! It signs locally with a fresh account key (the node never sees a private key), waits for
//! the commit, then reads the notarization back from the chain's state with a Merkle proof the
//! client checks against the block header, and checks the header's commit certificate against
//! the validator set the node reports. Without a file argument it notarizes a sample text.

use std::time::Duration;

use cassia_api::convert::state_key_of_notarization;
use cassia_api::{BlockId, Client};
use cassia_crypto::{Hash, Keypair};
use cassia_ledger::{Operation, Transaction, ValidatorSet};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7200".to_string());
    let document = match args.next() {
        Some(path) => std::fs::read(&path)?,
        None => b"a sample contract".to_vec(),
    };
    let digest = Hash::of(&document);

    let mut client = Client::connect(&endpoint).await?;
    let status = client.status().await?;
    println!(
        "connected to {} at height {}",
        status.chain_id, status.height
    );

    let key = Keypair::generate();
    let tx = Transaction {
        chain_id: status.chain_id.clone(),
        signer: key.public(),
        nonce: cassia_crypto::random_u64()?,
        valid_until: status.height + 100,
        op: Operation::Notarize {
            digest,
            metadata: "{\"title\":\"example\"}".into(),
            co_signers: Vec::new(),
        },
    }
    .sign(&status.genesis, &key);
    let committed = client.submit_and_wait(&tx, Duration::from_secs(30)).await?;
    println!(
        "transaction {} committed at height {} ({})",
        committed.receipt.tx_id,
        committed.receipt.height,
        match &committed.receipt.failure {
            None => "success".to_string(),
            Some(failure) => format!("failed: {failure}"),
        }
    );

    // The block's certificate: 2f+1 validator signatures over the header hash.
    let block = client
        .block(BlockId::Height(committed.header.height), true)
        .await?;
    let validators = ValidatorSet {
        validators: client.validator_set().await?,
    };
    block
        .certificate
        .verify_for(&status.genesis, &validators, &committed.header.hash())?;
    println!(
        "certificate checked: {} validator signatures",
        block.certificate.signatures.len()
    );

    // The notarization record in the state, proven against the same header's state root.
    let record = client
        .query(
            state_key_of_notarization(&digest),
            Some(committed.header.height),
        )
        .await?;
    println!(
        "digest {digest} is notarized; state proof of {} siblings checked against state root {}",
        record.proof.siblings.len(),
        record.header.state_root
    );
    Ok(())
}
