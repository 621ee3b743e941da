//! The allocator of the `dicomweb-edge` binary (and of the benchmarks that measure its
//! memory, which include this file): jemalloc, with options chosen for RSS that follows
//! what the process holds.

/// jemalloc, whose size classes and purging keep the edge cache's real memory close to its
/// `--cache-mb` under churn (glibc's arenas kept 1.6x of it in the soak bench).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`): freed pages go back to the system within about a
/// second, from a background thread, rather than after jemalloc's default 10 s; so RSS
/// follows what the cache and the requests in flight hold. `_RJEM_MALLOC_CONF` overrides.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 60] =
    b"dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true\0";
