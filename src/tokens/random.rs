//! Random bytes for new flows, straight from the operating system's generator but drawn in
//! blocks: one `getrandom` call serves [`POOL_BYTES`] / 48 sign-ins instead of one, which is most
//! of what a system call used to add to `/api/login`.
//!
//! Each thread keeps its own block. Bytes are handed out once and overwritten with zeros as they
//! go, so the pool holds only future values, never ones already given out. What this gives up
//! compared with a call per flow is documented in `docs/decisions.md`: a process whose memory is
//! cloned (a VM snapshot restored twice) would repeat the rest of a block, exactly as any
//! user-space generator would.

use std::cell::RefCell;

/// Size of each thread's block of OS randomness.
pub const POOL_BYTES: usize = 3072;

struct Pool {
    bytes: [u8; POOL_BYTES],
    /// Bytes before this offset were handed out (and zeroed).
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_BYTES], used: POOL_BYTES }) };
}

/// Fills `out` (at most [`POOL_BYTES`] long) with fresh random bytes.
///
/// # Panics
///
/// If `out` is longer than [`POOL_BYTES`], or the operating system's generator fails (on Linux it
/// cannot once it has been seeded at boot).
pub fn fill(out: &mut [u8]) {
    assert!(out.len() <= POOL_BYTES, "random::fill draws at most {POOL_BYTES} bytes");
    POOL.with_borrow_mut(|pool| {
        if POOL_BYTES - pool.used < out.len() {
            getrandom::fill(&mut pool.bytes).expect("the operating system's random generator is available");
            pool.used = 0;
        }
        let taken = &mut pool.bytes[pool.used..pool.used + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        pool.used += out.len();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_across_a_refill() {
        let mut seen = std::collections::HashSet::new();
        // Three blocks' worth, so the pool refills twice.
        for _ in 0..(3 * POOL_BYTES / 48) {
            let mut b = [0u8; 48];
            fill(&mut b);
            assert!(seen.insert(b), "a 48-byte draw repeated");
        }
    }

    #[test]
    fn handed_out_bytes_are_wiped_from_the_pool() {
        let mut b = [0u8; 48];
        fill(&mut b);
        POOL.with_borrow(|pool| {
            assert!(pool.used >= 48);
            assert!(pool.bytes[..pool.used].iter().all(|&x| x == 0));
        });
    }

    #[test]
    fn bytes_look_random() {
        let mut b = [0u8; 2048];
        fill(&mut b);
        let ones: u32 = b.iter().map(|x| x.count_ones()).sum();
        // 16,384 bits: a fair source lands within ±5% of half (over 12 standard deviations).
        assert!((7782..=8602).contains(&ones), "{ones} one-bits of 16384");
    }
}
