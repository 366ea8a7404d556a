//! A per-instance cap on code redemptions per flow. Anyone can mint a state and its flow cookie
//! with `/api/login`; without a cap, one such pair drives any number of token-endpoint calls
//! with junk codes. Best effort by design: each instance counts alone, and the table is bounded,
//! so an attacker who churns through more flows than it holds only resets counts (rate limiting
//! at the edge is the real bound, see docs/security.md).

use std::collections::HashMap;
use std::sync::Mutex;

/// Token calls allowed per flow id on one instance: one, plus one retry after a transient
/// failure (a reload of the callback while the code is still valid).
pub const MAX_REDEMPTIONS_PER_FLOW: u8 = 2;

/// Flows tracked at once (about 100 bytes each).
pub const MAX_TRACKED_FLOWS: usize = 8192;

/// Counts redemption attempts per flow id until the flow's state expires.
#[derive(Debug, Default)]
pub struct RedemptionCounter {
    flows: Mutex<HashMap<String, Tracked>>,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    attempts: u8,
    expires: u64,
}

impl RedemptionCounter {
    /// Records an attempt for flow `id` (whose state expires at `expires`); false when the flow
    /// has used its attempts.
    pub fn try_attempt(&self, id: &str, expires: u64, now: u64) -> bool {
        let mut flows = self.flows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !flows.contains_key(id) && flows.len() >= MAX_TRACKED_FLOWS {
            flows.retain(|_, t| t.expires > now);
            if flows.len() >= MAX_TRACKED_FLOWS {
                // Only under a flood of fresh flows: forgetting costs the flood a second try
                // per flow, refusing would lock out real users.
                flows.clear();
            }
        }
        let tracked = flows.entry(id.to_owned()).or_insert(Tracked { attempts: 0, expires });
        if tracked.attempts >= MAX_REDEMPTIONS_PER_FLOW {
            return false;
        }
        tracked.attempts += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flow_gets_its_attempts_and_no_more() {
        let c = RedemptionCounter::default();
        for _ in 0..MAX_REDEMPTIONS_PER_FLOW {
            assert!(c.try_attempt("a", 100, 0));
        }
        assert!(!c.try_attempt("a", 100, 0));
        assert!(c.try_attempt("b", 100, 0));
    }

    #[test]
    fn the_table_stays_bounded() {
        let c = RedemptionCounter::default();
        for i in 0..3 * MAX_TRACKED_FLOWS {
            assert!(c.try_attempt(&i.to_string(), 100, 0));
            assert!(c.flows.lock().unwrap().len() <= MAX_TRACKED_FLOWS);
        }
        // Expired flows are dropped first, so live ones keep their counts.
        let c = RedemptionCounter::default();
        assert!(c.try_attempt("live", 1000, 0) && c.try_attempt("live", 1000, 0));
        for i in 1..MAX_TRACKED_FLOWS {
            c.try_attempt(&i.to_string(), 10, 0);
        }
        assert!(c.try_attempt("fresh", 1000, 50), "a full table makes room by dropping expired flows");
        assert_eq!(c.flows.lock().unwrap().len(), 2);
        assert!(!c.try_attempt("live", 1000, 50), "still counted after expired flows were dropped");
    }
}
