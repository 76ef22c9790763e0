//! Cassia's PBFT replica as a pure state machine (filled by the consensus issue).
