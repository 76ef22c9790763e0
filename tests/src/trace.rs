//! The run's trace: a digest of every event (always), and readable lines (on request).
//!
//! The digest is FNV-1a over each event's numeric fields, so two runs with the same seed give
//! the same digest exactly when they took the same steps.

/// Digest and optional lines.
#[derive(Clone, Debug)]
pub struct Trace {
    digest: u64,
    lines: Option<Vec<String>>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    /// A trace keeping lines if `keep_lines`.
    pub fn new(keep_lines: bool) -> Trace {
        Trace {
            digest: FNV_OFFSET,
            lines: keep_lines.then(Vec::new),
        }
    }

    /// Records an event: `fields` go into the digest; `describe` is called only for lines.
    pub fn note(&mut self, now_ms: u64, fields: [u64; 4], describe: impl FnOnce() -> String) {
        for field in std::iter::once(now_ms).chain(fields) {
            for byte in field.to_le_bytes() {
                self.digest = (self.digest ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
            }
        }
        if let Some(lines) = self.lines.as_mut() {
            lines.push(format!("{now_ms:>9} ms  {}", describe()));
        }
    }

    /// The digest so far.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The lines kept (empty unless asked for).
    pub fn lines(&self) -> &[String] {
        self.lines.as_deref().unwrap_or(&[])
    }
}
