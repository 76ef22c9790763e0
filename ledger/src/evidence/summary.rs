//! What a verified package proves, and how it is shown to a person.

use std::fmt;

use cassia_crypto::{Hash, PublicKey};

use crate::Height;
use crate::transaction::{Operation, Rejection};

/// What a verified package proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvidence {
    /// The chain.
    pub chain_id: String,
    /// Its genesis hash.
    pub genesis_hash: Hash,
    /// The transaction's id.
    pub tx_id: Hash,
    /// The account that signed it.
    pub signer: PublicKey,
    /// What it did (for a notarization: the digest and metadata).
    pub operation: Operation,
    /// The height of its block.
    pub height: Height,
    /// Its position in the block, from 0.
    pub index: u32,
    /// The block hash.
    pub block_hash: Hash,
    /// The block's timestamp (the proposer's clock), milliseconds since the Unix epoch.
    pub block_time_ms: u64,
    /// `None` when the operation took effect, else why it failed (it committed all the same).
    pub failure: Option<Rejection>,
    /// How many validators signed the block's commit certificate.
    pub commit_signatures: usize,
    /// How many validators the set in force at that height has.
    pub validators: usize,
    /// The quorum of that set.
    pub quorum: usize,
    /// How many validator-set changes were walked from genesis.
    pub validator_set_changes: usize,
}

impl VerifiedEvidence {
    /// Whether the operation took effect.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// The notarized digest, when the transaction is a notarization.
    pub fn notarized_digest(&self) -> Option<Hash> {
        match &self.operation {
            Operation::Notarize { digest, .. } => Some(*digest),
            _ => None,
        }
    }
}

impl fmt::Display for VerifiedEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chain:         {} (genesis {})",
            self.chain_id, self.genesis_hash
        )?;
        writeln!(f, "transaction:   {}", self.tx_id)?;
        writeln!(f, "signer:        {}", self.signer)?;
        match &self.operation {
            Operation::Notarize {
                digest, metadata, ..
            } => {
                writeln!(f, "operation:     notarize")?;
                writeln!(f, "digest:        {digest}")?;
                writeln!(f, "metadata:      {metadata:?}")?;
            }
            other => writeln!(
                f,
                "operation:     {}",
                serde_json::to_string(other).map_err(|_| fmt::Error)?
            )?,
        }
        writeln!(
            f,
            "block:         height {}, index {}",
            self.height, self.index
        )?;
        writeln!(f, "block hash:    {}", self.block_hash)?;
        writeln!(
            f,
            "block time:    {} (proposer's clock, {} ms since the Unix epoch)",
            utc_time(self.block_time_ms),
            self.block_time_ms
        )?;
        match &self.failure {
            None => writeln!(f, "outcome:       success")?,
            Some(failure) => writeln!(f, "outcome:       failed ({failure}), recorded on chain")?,
        }
        write!(
            f,
            "certified by:  {} of {} validators (quorum {}), {} validator set change(s) since \
             genesis checked",
            self.commit_signatures, self.validators, self.quorum, self.validator_set_changes
        )
    }
}

/// `ms` since the Unix epoch as `YYYY-MM-DD hh:mm:ss.mmm UTC` (proleptic Gregorian calendar).
pub fn utc_time(ms: u64) -> String {
    let (seconds, millis) = (ms / 1000, ms % 1000);
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    // Days to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"), with
    // eras of 400 years counted from 0000-03-01 so that every quantity stays unsigned.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03} UTC",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}
