//! Applies the consensus core's actions in a fixed order (filled by the consensus issue).
