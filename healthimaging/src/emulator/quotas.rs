//! HealthImaging's request-rate quotas, enforced per account (one emulator is one account):
//! a token bucket per operation that holds `burst` requests, refills at `rate` per second and
//! starts full. A call that finds its bucket empty is answered `ThrottlingException` (429),
//! as AHI answers a call over its quota.
//!
//! The defaults are AHI's (HealthImaging Developer Guide, "AWS HealthImaging endpoints and
//! quotas"):
//! GetImageFrame 1,000/s (burst 2,000), GetImageSetMetadata 50/s (100), SearchImageSets and
//! GetImageSet 25/s (50).
//!
//! Written here rather than taken from a rate-limiting crate because it is a few lines and
//! a pure function of an explicit `now`, so the quotas are tested to the call without
//! sleeping.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One operation's quota: sustained requests per second and the burst the bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub rate: f64,
    pub burst: u32,
}

/// Quotas per operation name (`GetImageFrame`, …); an operation without one is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quotas(pub BTreeMap<String, Quota>);

impl Quotas {
    /// AHI's default quotas.
    pub fn aws_default() -> Self {
        let q = |rate: f64, burst: u32| Quota { rate, burst };
        Self(BTreeMap::from([
            ("GetImageFrame".to_owned(), q(1000.0, 2000)),
            ("GetImageSetMetadata".to_owned(), q(50.0, 100)),
            ("SearchImageSets".to_owned(), q(25.0, 50)),
            ("GetImageSet".to_owned(), q(25.0, 50)),
        ]))
    }

    /// `none` (no quotas) or `aws-default`, the values `--quotas` takes.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::default()),
            "aws-default" => Some(Self::aws_default()),
            _ => None,
        }
    }

    /// Why these quotas cannot be enforced, if they cannot.
    pub fn invalid(&self) -> Option<String> {
        self.0.iter().find_map(|(op, q)| {
            (!(q.rate.is_finite() && q.rate > 0.0 && q.burst >= 1))
                .then(|| format!("the quota of {op} needs a rate above 0 and a burst of 1 or more"))
        })
    }
}

/// The buckets of one account, and the calls each has refused.
#[derive(Debug, Default)]
pub struct Buckets {
    quotas: Quotas,
    state: BTreeMap<String, (f64, Instant)>,
    throttled: BTreeMap<String, u64>,
}

impl Buckets {
    /// Full buckets for `quotas`.
    pub fn new(quotas: Quotas) -> Self {
        Self {
            quotas,
            ..Self::default()
        }
    }

    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Takes one request from `op`'s bucket at `now`; `false` when it is empty (the call is
    /// throttled and counted).
    pub fn admit(&mut self, op: &str, now: Instant) -> bool {
        let Some(q) = self.quotas.0.get(op) else {
            return true;
        };
        let burst = f64::from(q.burst);
        let (tokens, at) = self.state.entry(op.to_owned()).or_insert((burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * q.rate;
        *tokens = (*tokens + refill).min(burst);
        *at = now.max(*at);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            *self.throttled.entry(op.to_owned()).or_default() += 1;
            false
        }
    }

    /// Calls refused per operation since the buckets were made.
    pub fn throttled(&self) -> &BTreeMap<String, u64> {
        &self.throttled
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn searches_beyond_the_burst_and_the_rate_are_refused() {
        let mut b = Buckets::new(Quotas::aws_default());
        let t0 = Instant::now();
        for i in 0..50 {
            assert!(b.admit("SearchImageSets", t0), "search {i} of the burst");
        }
        assert!(!b.admit("SearchImageSets", t0), "the 51st at once");
        // A second later the bucket has refilled 25: the 26th within that second is refused.
        let t1 = t0 + Duration::from_secs(1);
        for i in 0..25 {
            assert!(b.admit("SearchImageSets", t1), "search {i} after a second");
        }
        assert!(
            !b.admit("SearchImageSets", t1),
            "the 26th within the second"
        );
        // 40 ms buys one more search at 25/s.
        assert!(b.admit("SearchImageSets", t1 + Duration::from_millis(40)));
        assert_eq!(b.throttled().get("SearchImageSets"), Some(&2));
        // Other operations have their own buckets; unknown ones are unlimited.
        assert!(b.admit("GetImageSetMetadata", t1));
        assert!(b.admit("NoSuchOperation", t1));
    }

    #[test]
    fn an_idle_bucket_holds_no_more_than_its_burst() {
        let mut b = Buckets::new(Quotas::aws_default());
        let t0 = Instant::now();
        assert!(b.admit("GetImageSetMetadata", t0));
        let later = t0 + Duration::from_secs(3600);
        let admitted = (0..200)
            .filter(|_| b.admit("GetImageSetMetadata", later))
            .count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn names_and_invalid_quotas() {
        assert_eq!(Quotas::named("aws-default"), Some(Quotas::aws_default()));
        assert_eq!(Quotas::named("none"), Some(Quotas::default()));
        assert_eq!(Quotas::named("fast"), None);
        assert_eq!(Quotas::aws_default().invalid(), None);
        let bad = Quotas(BTreeMap::from([(
            "GetImageFrame".to_owned(),
            Quota {
                rate: 0.0,
                burst: 5,
            },
        )]));
        assert!(bad.invalid().unwrap().contains("GetImageFrame"));
    }
}
