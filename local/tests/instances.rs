//! Many translator instances behind one edge, as a deployment's Lambda instances are: each
//! with its own caches and client, requests spread over them at random. Sharing what they
//! resolve through the edge's cache (the default) makes a study cost HealthImaging one
//! search and one metadata read per image set however many instances serve it; alone,
//! every instance pays its own. And under AHI's default quotas a burst of frame requests
//! is slowed, not refused.

mod common;

use common::*;
use futures_util::StreamExt;
use healthimaging::emulator::quotas::{Quota, Quotas};

const AS_STORED: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;

/// Every frame of the demo's HTJ2K CT through `s`, 16 at a time; the statuses seen.
async fn every_frame(s: &dicomweb_edge::stack::RunningStack) -> Vec<u16> {
    let paths: Vec<String> = demo_series(s, "Axial 3mm HTJ2K")
        .iter()
        .flat_map(|i| (1..=i.frames.len()).map(|n| i.frames_path(&n.to_string())))
        .collect();
    assert!(paths.len() >= 40, "{} frames", paths.len());
    futures_util::stream::iter(paths)
        .map(|p| async move { get(s, &p, Some(AS_STORED)).await.0 })
        .buffer_unordered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_what_they_resolve_through_the_edge() {
    for shared in [true, false] {
        let s = start_demo(|o| {
            o.translators = 8;
            o.shared_resolution = shared;
        })
        .await;
        let statuses = every_frame(&s).await;
        assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
        let (searches, metadata) = (
            calls(&s, "SearchImageSets"),
            calls(&s, "GetImageSetMetadata"),
        );
        if shared {
            // One search for the study and one read of its image set, for 8 cold instances.
            assert_eq!((searches, metadata), (1, 1), "shared");
            // The internal resources are the edge's own: a viewer cannot read them.
            let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
            for path in [
                format!("/datastore/{}/internal/studies/{}", ct.datastore, ct.study),
                format!(
                    "/datastore/{}/internal/image-sets/{}",
                    ct.datastore, ct.image_set
                ),
            ] {
                let (status, _, body) = get(&s, &path, None).await;
                assert_eq!(status, 403, "{path}");
                assert_eq!(&body[..], b"this resource is for the edge's own use\n");
            }
        } else {
            // Alone, the instances that served a frame each searched and read the metadata.
            assert!((2..=8).contains(&searches), "alone: {searches} searches");
            assert_eq!(metadata, searches, "alone");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_frame_quota_is_slowed_not_refused() {
    // A frame quota the demo CT's frames overrun: a burst of 10, then 50 per second.
    let s = start_demo(|o| {
        o.translators = 4;
        o.cache_bytes = 0;
    })
    .await;
    let em = s.emulator.as_ref().unwrap().emulator.clone();
    em.set_quotas(Quotas(
        [(
            "GetImageFrame".to_owned(),
            Quota {
                rate: 50.0,
                burst: 10,
            },
        )]
        .into(),
    ));
    let statuses = every_frame(&s).await;
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    let throttled = em.throttled().get("GetImageFrame").copied().unwrap_or(0);
    assert!(throttled > 0, "the quota was never reached");
}
