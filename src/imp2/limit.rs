// SPDX-License-Identifier: GPL-2.0

//! Sampling and rate limits of a v2 listener: which of its matching
//! packets become events, and how many were left out in between.
//!
//! The hooks on every CPU share a listener's state through atomics and
//! take no lock: sampling costs one atomic add per matching packet, the
//! rate limit one compare-exchange (GCRA, the token bucket's equivalent
//! with a single word of state), a packet left out one more add, and an
//! event an atomic maximum that takes the count since the previous one.
//! Pure `core` code, host-tested.

use core::sync::atomic::{AtomicU64, Ordering};

const NSEC_PER_SEC: u64 = 1_000_000_000;
const NSEC_PER_MSEC: u64 = 1_000_000;

/// A rate limit: `per_sec` events per second, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// 1..=`IMP2_RATE_MAX`.
    pub(crate) per_sec: u32,
    /// 1..=`IMP2_RATE_MAX`.
    pub(crate) burst: u32,
}

impl Rate {
    /// The time one event uses up, rounded up: never more than `per_sec`.
    fn interval_ns(self) -> u64 {
        NSEC_PER_SEC.div_ceil(u64::from(self.per_sec.max(1)))
    }

    /// How far ahead of now the bucket may be booked: `burst - 1` events.
    fn tolerance_ns(self) -> u64 {
        self.interval_ns().saturating_mul(u64::from(self.burst.max(1) - 1))
    }
}

/// What a listener lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// One matching packet in `sample`; 1: all.
    pub(crate) sample: u32,
    pub(crate) rate: Option<Rate>,
}

impl Limits {
    /// Whether some packets may be left out (and events report how many).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.sample > 1 || self.rate.is_some()
    }
}

/// A listener's sampling and rate-limit state, kept when it changes its
/// filter or its limits.
///
/// Every packet left out is counted once in `left_out`; each event takes
/// the part of it that no earlier event took, up to `reported`. Events on
/// several CPUs take disjoint parts, whatever the order of their reads:
/// `reported` only grows (`fetch_max`).
#[derive(Debug, Default)]
pub(crate) struct LimitState {
    /// Matching packets that sampling has counted.
    sampled: AtomicU64,
    /// The rate limit's theoretical arrival time: when, on the monotonic
    /// clock, the bucket is full again.
    booked_until_ns: AtomicU64,
    /// Every packet left out so far.
    left_out: AtomicU64,
    /// How much of `left_out` events have taken.
    reported: AtomicU64,
}

impl LimitState {
    /// Whether a matching packet becomes an event under `limits`, for
    /// listeners whose limits leave some out ([`Limits::any`]); if so, how
    /// many were left out since the previous one, which the event reports
    /// (an event that is lost takes them with it). `now_ns` reads the
    /// monotonic clock, only if there is a rate limit.
    #[inline]
    pub(crate) fn admit(&self, limits: &Limits, now_ns: impl FnOnce() -> u64) -> Option<u64> {
        let sampled_out =
            limits.sample > 1 && self.sampled.fetch_add(1, Ordering::Relaxed) % u64::from(limits.sample) != 0;
        let limited = !sampled_out && limits.rate.is_some_and(|rate| !self.take(rate, now_ns()));
        if sampled_out || limited {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let upto = self.left_out.load(Ordering::Relaxed);
        let before = self.reported.fetch_max(upto, Ordering::Relaxed);
        Some(upto.saturating_sub(before))
    }

    /// Every packet left out so far, reported or not (it never decreases).
    pub(crate) fn total(&self) -> u64 {
        self.left_out.load(Ordering::Relaxed)
    }

    /// Takes one event's worth of the rate at `now_ns`, if the bucket has it.
    fn take(&self, rate: Rate, now_ns: u64) -> bool {
        let (interval, tolerance) = (rate.interval_ns(), rate.tolerance_ns());
        // Under one rate, bookings never reach past this (with a
        // millisecond for clock reads that CPUs made in another order):
        // beyond it they were made under an earlier, slower rate, and are
        // forgotten.
        let reach = now_ns.saturating_add(tolerance).saturating_add(interval).saturating_add(NSEC_PER_MSEC);
        let mut booked = self.booked_until_ns.load(Ordering::Relaxed);
        loop {
            // An idle bucket books from now: unused time is not saved up
            // beyond the burst.
            let from = if booked > reach { now_ns } else { booked.max(now_ns) };
            if from - now_ns > tolerance {
                return false;
            }
            match self.booked_until_ns.compare_exchange_weak(
                booked,
                from.saturating_add(interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => booked = current,
            }
        }
    }
}
