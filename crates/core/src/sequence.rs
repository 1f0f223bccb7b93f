//! Tailing an append-only table by its sequence column, as the revocation list and the profile
//! change feed are tailed by every process.
//!
//! On PostgreSQL an identity value is taken at insert time but becomes visible at commit time, so
//! a transaction that commits late can land below the newest sequence a reader has already seen.
//! The cursor therefore re-reads a window below its position; entries must be idempotent.

/// How far below the newest sequence seen each read starts again.
pub const DEFAULT_OVERLAP: i64 = 256;

#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceCursor {
    newest_seen: i64,
}

impl SequenceCursor {
    /// Read entries with a sequence above this.
    pub fn read_after(&self) -> i64 {
        (self.newest_seen - DEFAULT_OVERLAP).max(0)
    }

    /// Records the sequences just read; returns whether the cursor moved forward.
    pub fn advance(&mut self, sequences: impl IntoIterator<Item = i64>) -> bool {
        let newest = sequences.into_iter().max().unwrap_or(self.newest_seen);
        let moved = newest > self.newest_seen;
        self.newest_seen = self.newest_seen.max(newest);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_a_window_below_the_newest_sequence() {
        let mut cursor = SequenceCursor::default();
        assert_eq!(cursor.read_after(), 0);
        assert!(cursor.advance([3, 1000, 7]));
        assert_eq!(cursor.read_after(), 1000 - DEFAULT_OVERLAP);
        assert!(!cursor.advance([999]));
        assert!(!cursor.advance([]));
        assert_eq!(cursor.read_after(), 1000 - DEFAULT_OVERLAP);
    }
}
