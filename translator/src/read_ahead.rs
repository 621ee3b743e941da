//! The bound on frames held in memory ahead of the clients reading them, across every
//! request a translator (or the translators of one `serve`) answers. A frame reserves its
//! size before it is fetched and gives it back once its part has been handed to the
//! server to send; when the budget is spent, further fetches wait for clients to read.
//! Without it, each request held up to `frame_concurrency` frames whatever its client
//! read: eight clients that stopped reading forty 8 MiB frames held 1.5 GB.
//!
//! A frame's size is known before it is fetched only for native data; other frames reserve
//! their decoded size (an upper bound for lossless codestreams, and what a decoded frame
//! takes in any case). A reservation larger than the whole budget takes the whole budget,
//! so one large frame is served alone rather than never.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes are counted in KiB, so that budgets of several GiB fit the semaphore's permits.
const UNIT: u64 = 1024;

/// A shared budget of bytes held ahead of clients; clones share it.
#[derive(Debug, Clone)]
pub struct ReadAhead {
    permits: Arc<Semaphore>,
    units: u32,
}

/// Bytes reserved for one frame; given back when dropped.
#[derive(Debug)]
pub struct Reserved(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl ReadAhead {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from((bytes / UNIT).max(1024)).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.units) * UNIT
    }

    /// Reserves `bytes`, waiting while others hold the budget (in the order asked).
    pub async fn reserve(&self, bytes: u64) -> Reserved {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        // The semaphore is never closed, so this fails only if it were.
        Reserved(self.permits.clone().acquire_many_owned(units).await.ok())
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }
}

impl Default for ReadAhead {
    /// 512 MiB.
    fn default() -> Self {
        Self::new(512 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_the_budget_and_come_back() {
        let budget = ReadAhead::new(4 << 20);
        let a = budget.reserve(3 << 20).await;
        assert_eq!(budget.available(), 1 << 20);
        // More than is left waits until the first is given back.
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            budget.reserve(2 << 20),
        )
        .await;
        assert!(waiting.is_err());
        drop(a);
        let b = budget.reserve(2 << 20).await;
        assert_eq!(budget.available(), 2 << 20);
        drop(b);
        // Larger than the whole budget: takes all of it rather than waiting forever.
        let all = budget.reserve(1 << 30).await;
        assert_eq!(budget.available(), 0);
        drop(all);
        assert_eq!(budget.available(), budget.bytes());
    }
}
