//! The cache contract: every operation of the port, run on the in-memory adapter, on the
//! machine's Redis and on a six-node Redis Cluster alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_cache::CacheUrl;
use veilgram_core::cache::{Bytes, CacheKey, Scored, MAX_SCORE};
use veilgram_core::{PostId, UserId};
use veilgram_testkit::cache::TestCache;

/// Polls until `key` is gone, for at most two seconds (expiry is lazy on every adapter).
async fn until_gone(test: &TestCache, key: &CacheKey) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if !test.cache.exists(key).await.unwrap() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

async fn values_are_stored_read_in_order_and_deleted(test: &TestCache) {
    let cache = &test.cache;
    let user = UserId::random();
    let (a, b, missing) = (
        CacheKey::of_user(user, "a"),
        CacheKey::of_user(user, "b"),
        CacheKey::of_user(user, "missing"),
    );
    cache.set(&a, b"first", None).await.unwrap();
    cache.set(&b, &[0, 159, 255], None).await.unwrap();
    assert_eq!(
        cache.get(&a).await.unwrap(),
        Some(Bytes::from_static(b"first"))
    );
    assert_eq!(
        cache
            .get_many(&[b.clone(), missing.clone(), a.clone()])
            .await
            .unwrap(),
        vec![
            Some(Bytes::from_static(&[0, 159, 255])),
            None,
            Some(Bytes::from_static(b"first"))
        ],
        "binary-safe, in the order asked, None where missing"
    );
    cache.set(&a, b"second", None).await.unwrap();
    assert_eq!(
        cache.get(&a).await.unwrap(),
        Some(Bytes::from_static(b"second"))
    );
    assert!(cache.exists(&a).await.unwrap());
    cache.delete(&[a.clone(), missing.clone()]).await.unwrap();
    assert!(!cache.exists(&a).await.unwrap());
    assert_eq!(cache.get(&a).await.unwrap(), None);
    assert!(cache.get_many(&[]).await.unwrap().is_empty());
}

async fn values_expire(test: &TestCache) {
    let cache = &test.cache;
    let key = CacheKey::named(&format!("expiring-{}", UserId::random()));
    cache
        .set(&key, b"soon gone", Some(Duration::from_millis(150)))
        .await
        .unwrap();
    let left = cache.time_to_live(&key).await.unwrap().expect("has a TTL");
    assert!(left <= Duration::from_millis(150), "{left:?}");
    assert!(until_gone(test, &key).await, "expired within two seconds");
    assert_eq!(cache.time_to_live(&key).await.unwrap(), None);
    let forever = CacheKey::named(&format!("forever-{}", UserId::random()));
    cache.set(&forever, b"x", None).await.unwrap();
    assert_eq!(cache.time_to_live(&forever).await.unwrap(), None);
}

async fn counters_count_and_keep_their_first_expiry(test: &TestCache) {
    let cache = &test.cache;
    let post = PostId::generate();
    let likes = CacheKey::of_post(post, "likes");
    assert_eq!(cache.increment(&likes, 1, None).await.unwrap(), 1);
    assert_eq!(cache.increment(&likes, 4, None).await.unwrap(), 5);
    assert_eq!(cache.increment(&likes, -2, None).await.unwrap(), 3);
    assert_eq!(cache.time_to_live(&likes).await.unwrap(), None);

    // A window counter: the expiry is set by the call that creates it and kept after.
    let window = CacheKey::of_user(UserId::random(), "rate:post");
    cache
        .increment(&window, 1, Some(Duration::from_millis(200)))
        .await
        .unwrap();
    let first = cache.time_to_live(&window).await.unwrap().expect("TTL");
    cache
        .increment(&window, 1, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let second = cache.time_to_live(&window).await.unwrap().expect("TTL");
    assert!(second <= first, "{second:?} > {first:?}: the window moved");
    assert!(until_gone(test, &window).await);
    assert_eq!(
        cache
            .increment(&window, 1, Some(Duration::from_secs(60)))
            .await
            .unwrap(),
        1,
        "a new window starts from zero"
    );

    let other = CacheKey::of_post(PostId::generate(), "likes");
    let never = CacheKey::of_post(PostId::generate(), "likes");
    cache
        .set_counters(&[(other.clone(), 42)], None)
        .await
        .unwrap();
    assert_eq!(
        cache
            .counters(&[likes.clone(), never.clone(), other.clone()])
            .await
            .unwrap(),
        vec![Some(3), None, Some(42)]
    );
    let text = CacheKey::of_post(post, "text");
    cache.set(&text, b"not a number", None).await.unwrap();
    assert!(cache.counters(std::slice::from_ref(&text)).await.is_err());
    assert!(cache.increment(&text, 1, None).await.is_err());
}

/// A counter kept by events is adjusted only while it exists: a missing one stays missing
/// (its reader loads the truth) instead of restarting from the event's delta.
async fn existing_counters_are_adjusted_and_missing_ones_left_alone(test: &TestCache) {
    let cache = &test.cache;
    let likes = CacheKey::of_post(PostId::generate(), "likes");
    assert_eq!(cache.adjust_existing(&likes, 1).await.unwrap(), None);
    assert_eq!(
        cache.counters(std::slice::from_ref(&likes)).await.unwrap(),
        vec![None]
    );
    cache
        .set_counters(&[(likes.clone(), 10)], Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(cache.adjust_existing(&likes, 1).await.unwrap(), Some(11));
    assert_eq!(cache.adjust_existing(&likes, -3).await.unwrap(), Some(8));
    let ttl = cache.time_to_live(&likes).await.unwrap().unwrap();
    assert!(
        ttl > Duration::from_secs(50),
        "adjusting keeps the expiry: {ttl:?}"
    );
    let text = CacheKey::of_post(PostId::generate(), "text");
    cache.set(&text, b"words", None).await.unwrap();
    assert!(cache.adjust_existing(&text, 1).await.is_err());
}

/// Many values are written in one call, across slots, each with the expiry asked for.
async fn many_values_are_set_at_once_with_their_expiry(test: &TestCache) {
    let cache = &test.cache;
    let values: Vec<(CacheKey, Vec<u8>)> = (0..1500)
        .map(|index| {
            let key = CacheKey::of_post(PostId::generate(), "post");
            (key, format!("body {index}").into_bytes())
        })
        .collect();
    cache
        .set_many(&values, Some(Duration::from_secs(120)))
        .await
        .unwrap();
    let keys: Vec<CacheKey> = values.iter().map(|(key, _)| key.clone()).collect();
    let read = cache.get_many(&keys).await.unwrap();
    let expected: Vec<Option<Bytes>> = values
        .iter()
        .map(|(_, value)| Some(Bytes::from(value.clone())))
        .collect();
    assert_eq!(read, expected);
    let ttl = cache.time_to_live(&keys[1499]).await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(100) && ttl <= Duration::from_secs(120));
    cache.set_many(&values[..1], None).await.unwrap();
    assert_eq!(cache.time_to_live(&keys[0]).await.unwrap(), None);
    cache.delete(&keys).await.unwrap();
}

async fn concurrent_increments_are_all_counted(test: &TestCache) {
    let key = CacheKey::of_post(PostId::generate(), "comments");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let cache = Arc::clone(&test.cache);
        let key = key.clone();
        tasks.spawn(async move { cache.increment(&key, 1, None).await.unwrap() });
    }
    let mut seen = Vec::new();
    while let Some(value) = tasks.join_next().await {
        seen.push(value.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<i64>>(),
        "each saw a distinct value"
    );
}

async fn sorted_sets_are_capped_ranked_and_paged(test: &TestCache) {
    let cache = &test.cache;
    let timeline = CacheKey::of_user(UserId::random(), "home");
    let entries: Vec<Scored> = (1..=30)
        .map(|n| Scored::new(n * 1000, format!("post-{n:02}")))
        .collect();
    cache
        .sorted_add(&timeline, &entries[..20], 25)
        .await
        .unwrap();
    cache
        .sorted_add(&timeline, &entries[20..], 25)
        .await
        .unwrap();
    assert_eq!(cache.sorted_len(&timeline).await.unwrap(), 25, "capped");
    // Paging from the top, ten at a time, by the last score seen.
    let mut walked = Vec::new();
    let mut below = None;
    loop {
        let page = cache.sorted_range_desc(&timeline, below, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        below = page.last().map(|last| last.score);
        walked.extend(page);
    }
    let expected: Vec<Scored> = entries[5..].iter().rev().cloned().collect();
    assert_eq!(walked, expected, "the 25 highest, highest first");
    // Members alone, as timelines are read.
    assert_eq!(
        cache
            .sorted_members_desc(&timeline, Some(28_000), 3)
            .await
            .unwrap(),
        ["post-27", "post-26", "post-25"]
    );
    assert!(cache
        .sorted_members_desc(&timeline, None, 0)
        .await
        .unwrap()
        .is_empty());

    // A member added again takes its new score; removal; the cap drops the lowest.
    cache
        .sorted_add(&timeline, &[Scored::new(99_000, "post-10")], 25)
        .await
        .unwrap();
    let top = cache.sorted_range_desc(&timeline, None, 2).await.unwrap();
    assert_eq!(
        top,
        vec![
            Scored::new(99_000, "post-10"),
            Scored::new(30_000, "post-30")
        ]
    );
    cache
        .sorted_remove(
            &timeline,
            &["post-10".into(), "post-29".into(), "nope".into()],
        )
        .await
        .unwrap();
    assert_eq!(cache.sorted_len(&timeline).await.unwrap(), 23);
    let top = cache.sorted_range_desc(&timeline, None, 2).await.unwrap();
    assert_eq!(
        top,
        vec![
            Scored::new(30_000, "post-30"),
            Scored::new(28_000, "post-28")
        ]
    );
    assert!(cache
        .sorted_add(&timeline, &[Scored::new(MAX_SCORE + 1, "too-big")], 25)
        .await
        .is_err());
    let nothing = CacheKey::of_user(UserId::random(), "home");
    assert!(cache
        .sorted_range_desc(&nothing, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(cache
        .sorted_members_desc(&nothing, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(cache.sorted_len(&nothing).await.unwrap(), 0);
    assert!(!cache.exists(&nothing).await.unwrap());
}

/// Members of one score are ordered by their bytes, highest first, whatever their lengths and
/// alphabets: a page cut inside a run of equal scores holds its highest members, so a reader
/// paging by `(score, member)` misses none. Fan-out keeps that order too.
async fn equal_scores_are_ordered_by_member_highest_first(test: &TestCache) {
    let cache = &test.cache;
    let timeline = CacheKey::of_user(UserId::random(), "home");
    let members = ["a", "ab", "abc", "b", "B", "é", "0190-x", "~"];
    let scored: Vec<Scored> = members
        .iter()
        .map(|member| Scored::new(7, *member))
        .collect();
    cache.sorted_add(&timeline, &scored, 100).await.unwrap();
    cache
        .sorted_add_each(
            std::slice::from_ref(&timeline),
            &Scored::new(7, "aa"),
            100,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    cache
        .sorted_add(&timeline, &[Scored::new(6, "zz"), Scored::new(8, "")], 100)
        .await
        .unwrap();
    let mut expected: Vec<&str> = members.iter().copied().chain(["aa"]).collect();
    expected.sort_unstable_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    let expected: Vec<Scored> = std::iter::once(Scored::new(8, ""))
        .chain(expected.into_iter().map(|member| Scored::new(7, member)))
        .chain([Scored::new(6, "zz")])
        .collect();
    let all = cache.sorted_range_desc(&timeline, None, 100).await.unwrap();
    assert_eq!(all, expected);
    // A limit inside the run of 7s, and a page below 8.
    let top = cache.sorted_range_desc(&timeline, None, 4).await.unwrap();
    assert_eq!(top, expected[..4]);
    let members: Vec<String> = expected[..4].iter().map(|s| s.member.clone()).collect();
    assert_eq!(
        cache.sorted_members_desc(&timeline, None, 4).await.unwrap(),
        members
    );
    let below = cache
        .sorted_range_desc(&timeline, Some(8), 3)
        .await
        .unwrap();
    assert_eq!(below, expected[1..4]);
    // The cap drops the lowest: the 6, then the lowest member of the 7s.
    cache.sorted_add(&timeline, &[], 9).await.unwrap();
    let kept = cache.sorted_range_desc(&timeline, None, 100).await.unwrap();
    assert_eq!(kept, expected[..9]);
    cache
        .sorted_remove(&timeline, &["ab".into(), "é".into()])
        .await
        .unwrap();
    let left: Vec<Scored> = expected[..9]
        .iter()
        .filter(|scored| scored.member != "ab" && scored.member != "é")
        .cloned()
        .collect();
    assert_eq!(
        cache.sorted_range_desc(&timeline, None, 100).await.unwrap(),
        left
    );
    // A NUL is refused, by every adapter alike.
    assert!(cache
        .sorted_add(&timeline, &[Scored::new(1, "a\0b")], 100)
        .await
        .is_err());
}

/// Keys of one user share a hash tag (one cluster slot); reads across many users' keys, which
/// land on different slots and nodes, still answer in order.
async fn keys_are_tagged_and_reads_cross_slots(test: &TestCache) {
    let user = UserId::random();
    assert_eq!(
        CacheKey::of_user(user, "home").hash_tag(),
        CacheKey::of_user(user, "rate:login").hash_tag()
    );
    assert_ne!(
        CacheKey::of_user(user, "home").hash_tag(),
        CacheKey::of_user(UserId::random(), "home").hash_tag()
    );
    let keys: Vec<CacheKey> = (0..40)
        .map(|_| CacheKey::of_post(PostId::generate(), "likes"))
        .collect();
    let values: Vec<(CacheKey, i64)> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| (key.clone(), index as i64))
        .collect();
    test.cache.set_counters(&values, None).await.unwrap();
    let read = test.cache.counters(&keys).await.unwrap();
    assert_eq!(read, (0..40).map(Some).collect::<Vec<_>>());
    test.cache.delete(&keys).await.unwrap();
    assert_eq!(test.cache.counters(&keys).await.unwrap(), vec![None; 40]);
}

/// Fan-out reaches every set, across slots, and caps each (an adapter may trim some adds
/// late: see `Cache::sorted_add_each`); a set it creates gets the given expiry, one with an
/// expiry keeps it.
async fn fan_out_adds_to_every_set_and_new_ones_expire(test: &TestCache) {
    let cache = &test.cache;
    let cached: Vec<CacheKey> = (0..100)
        .map(|_| CacheKey::of_user(UserId::random(), "home"))
        .collect();
    for key in &cached {
        cache
            .sorted_add(key, &[Scored::new(1, "older")], 3)
            .await
            .unwrap();
        cache.expire(key, Duration::from_secs(3600)).await.unwrap();
    }
    let missing = CacheKey::of_user(UserId::random(), "home");
    let mut targets = cached.clone();
    targets.push(missing.clone());
    let ttl = Duration::from_secs(600);
    // Enough adds that a lazy adapter has trimmed every set and set the new one's expiry
    // (Redis: one add in eight per set; none in 160 has odds of 5 in 10^10).
    let adds = 160;
    for n in 2..2 + adds {
        cache
            .sorted_add_each(&targets, &Scored::new(n, format!("new-{n}")), 3, ttl)
            .await
            .unwrap();
    }
    let newest: Vec<String> = (adds - 1..adds + 2)
        .rev()
        .map(|n| format!("new-{n}"))
        .collect();
    for key in &targets {
        let members: Vec<String> = cache
            .sorted_range_desc(key, None, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|scored| scored.member)
            .collect();
        assert_eq!(members, newest);
        let held = cache.sorted_len(key).await.unwrap();
        assert!(held < adds as usize, "{held} members: never trimmed");
    }
    for key in &cached {
        let kept = cache.time_to_live(key).await.unwrap().expect("expires");
        assert!(
            kept > Duration::from_secs(3000),
            "{kept:?}: the expiry was kept"
        );
    }
    let left = cache
        .time_to_live(&missing)
        .await
        .unwrap()
        .expect("expires");
    assert!(left <= ttl && left > Duration::from_secs(500), "{left:?}");
}

/// Near keys (which the Redis adapter may answer from copies in this process) read what was
/// last written, by this process, at once.
async fn near_keys_read_what_was_last_written(test: &TestCache) {
    let cache = &test.cache;
    let post = PostId::generate();
    let (body, likes) = (
        CacheKey::of_post(post, "post").near(),
        CacheKey::of_post(post, "likes").near(),
    );
    let plain = CacheKey::of_post(post, "plain");
    assert_eq!(cache.get(&body).await.unwrap(), None);
    cache.set(&body, b"one", None).await.unwrap();
    cache.set(&plain, b"plain", None).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            cache
                .get_many(&[plain.clone(), body.clone()])
                .await
                .unwrap(),
            vec![
                Some(Bytes::from_static(b"plain")),
                Some(Bytes::from_static(b"one"))
            ]
        );
    }
    cache.set(&body, b"two", None).await.unwrap();
    assert_eq!(
        cache.get(&body).await.unwrap(),
        Some(Bytes::from_static(b"two"))
    );
    cache
        .set_many(&[(body.clone(), b"three".to_vec())], None)
        .await
        .unwrap();
    assert_eq!(
        cache.get(&body).await.unwrap(),
        Some(Bytes::from_static(b"three"))
    );
    // Written unmarked, read marked: the same key.
    cache
        .set(&CacheKey::of_post(post, "post"), b"four", None)
        .await
        .unwrap();
    assert_eq!(
        cache.get(&body).await.unwrap(),
        Some(Bytes::from_static(b"four"))
    );
    cache.delete(std::slice::from_ref(&body)).await.unwrap();
    assert_eq!(cache.get(&body).await.unwrap(), None);

    assert_eq!(
        cache.counters(std::slice::from_ref(&likes)).await.unwrap(),
        vec![None]
    );
    cache.increment(&likes, 2, None).await.unwrap();
    assert_eq!(
        cache.counters(std::slice::from_ref(&likes)).await.unwrap(),
        vec![Some(2)]
    );
    cache.adjust_existing(&likes, 3).await.unwrap();
    assert_eq!(
        cache.counters(std::slice::from_ref(&likes)).await.unwrap(),
        vec![Some(5)]
    );
    cache
        .set_counters(&[(likes.clone(), 9)], None)
        .await
        .unwrap();
    assert_eq!(cache.counters(&[likes]).await.unwrap(), vec![Some(9)]);
}

#[test]
fn cache_urls_name_their_adapter_or_are_refused() {
    assert_eq!(CacheUrl::parse(None).unwrap(), CacheUrl::Memory);
    assert_eq!(CacheUrl::parse(Some(" ")).unwrap(), CacheUrl::Memory);
    assert_eq!(
        CacheUrl::parse(Some("redis://127.0.0.1:6379/2")).unwrap(),
        CacheUrl::Redis("redis://127.0.0.1:6379/2".into())
    );
    assert_eq!(
        CacheUrl::parse(Some("redis-cluster://10.0.0.1:7000, 10.0.0.2:7000")).unwrap(),
        CacheUrl::Cluster(vec![
            "redis://10.0.0.1:7000".into(),
            "redis://10.0.0.2:7000".into()
        ])
    );
    assert!(CacheUrl::parse(Some("redis-cluster://")).is_err());
    assert!(CacheUrl::parse(Some("memcached://127.0.0.1")).is_err());
}

veilgram_testkit::for_each_cache!(
    values_are_stored_read_in_order_and_deleted,
    values_expire,
    counters_count_and_keep_their_first_expiry,
    existing_counters_are_adjusted_and_missing_ones_left_alone,
    many_values_are_set_at_once_with_their_expiry,
    concurrent_increments_are_all_counted,
    sorted_sets_are_capped_ranked_and_paged,
    equal_scores_are_ordered_by_member_highest_first,
    keys_are_tagged_and_reads_cross_slots,
    fan_out_adds_to_every_set_and_new_ones_expire,
    near_keys_read_what_was_last_written,
);

/// The near cache on one Redis server, seen from two processes (two adapters).
mod near {
    use std::time::Duration;
    use veilgram_cache::RedisCache;
    use veilgram_core::cache::{Bytes, Cache, CacheKey};
    use veilgram_core::PostId;

    struct Processes {
        /// With a near cache.
        reader: RedisCache<redis::aio::ConnectionManager>,
        /// Without one: changes the keys behind the reader's back.
        writer: RedisCache<redis::aio::ConnectionManager>,
        prefix: String,
    }

    /// Two processes and a near key the writer set to `value` and the reader read once.
    async fn processes_sharing(value: &[u8]) -> (Processes, CacheKey) {
        let url = veilgram_testkit::cache::redis_url();
        let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
        let processes = Processes {
            reader: RedisCache::connect(&url, &prefix, 1 << 20).await.unwrap(),
            writer: RedisCache::connect(&url, &prefix, 0).await.unwrap(),
            prefix,
        };
        let key = CacheKey::of_post(PostId::generate(), "post").near();
        processes.writer.set(&key, value, None).await.unwrap();
        assert_eq!(
            processes.reader.get(&key).await.unwrap(),
            Some(Bytes::copy_from_slice(value))
        );
        (processes, key)
    }

    impl Processes {
        /// Does `change`, then waits (at most 5 s) until Redis told the reader something.
        async fn and_wait<F: std::future::Future<Output = ()>>(&self, change: F) {
            let mut told = self.reader.near_told().expect("a near cache");
            let before = *told.borrow_and_update();
            change.await;
            tokio::time::timeout(Duration::from_secs(5), told.wait_for(|now| *now > before))
                .await
                .expect("Redis tells the near cache within 5 s")
                .unwrap();
        }

        /// The writer sets `key` to `value`; once Redis told the reader, the reader reads it.
        async fn set_then_read(&self, key: &CacheKey, value: &'static [u8]) {
            self.and_wait(async { self.writer.set(key, value, None).await.unwrap() })
                .await;
            assert_eq!(
                self.reader.get(key).await.unwrap(),
                Some(Bytes::from_static(value))
            );
        }

        fn hits(&self) -> u64 {
            self.reader.near_statistics().unwrap().hits
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_made_by_another_process_reach_the_copies() {
        let (processes, key) = processes_sharing(b"one").await;
        let (reader, writer) = (&processes.reader, &processes.writer);
        let hits = processes.hits();
        assert_eq!(
            reader.get(&key).await.unwrap(),
            Some(Bytes::from_static(b"one"))
        );
        assert_eq!(
            processes.hits(),
            hits + 1,
            "the second read is answered here"
        );

        processes.set_then_read(&key, b"two").await;
        processes
            .and_wait(async { writer.delete(std::slice::from_ref(&key)).await.unwrap() })
            .await;
        assert_eq!(reader.get(&key).await.unwrap(), None);
        // A missing key is kept as missing, and its creation is told too.
        assert_eq!(reader.get(&key).await.unwrap(), None);
        processes
            .and_wait(async { writer.increment(&key, 4, None).await.map(|_| ()).unwrap() })
            .await;
        assert_eq!(reader.counters(&[key]).await.unwrap(), vec![Some(4)]);
        let figures = processes.reader.near_statistics().unwrap();
        assert!(figures.invalidations >= 3);
        // What `/metrics` shows of it.
        let metrics = processes.reader.metrics();
        for (name, value) in [
            ("hits", figures.hits),
            ("misses", figures.misses),
            ("invalidations", figures.invalidations),
        ] {
            let line = format!("veilgram_cache_near_{name}_total {value}\n");
            assert!(metrics.contains(&line), "{line:?} in {metrics}");
        }
        assert_eq!(processes.writer.metrics(), "", "no near cache, no figures");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_tracking_connection_drops_every_copy() {
        let (processes, key) = processes_sharing(b"before").await;
        let (reader, writer) = (&processes.reader, &processes.writer);
        assert_eq!(
            reader.get(&key).await.unwrap(),
            Some(Bytes::from_static(b"before"))
        );

        let url = veilgram_testkit::cache::redis_url();
        let mut admin = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let name = format!("veilgram-near-{}", processes.prefix.trim_end_matches(':'));
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut admin)
            .await
            .unwrap();
        let id = clients
            .lines()
            .find(|line| line.contains(&format!(" name={name} ")))
            .and_then(|line| line.strip_prefix("id="))
            .and_then(|rest| rest.split(' ').next())
            .expect("the tracking connection is listed under its name")
            .to_owned();
        processes
            .and_wait(async {
                let _: () = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(&id)
                    .query_async(&mut admin)
                    .await
                    .map(|_: i64| ())
                    .unwrap();
            })
            .await;
        assert_eq!(reader.near_statistics().unwrap().resets, 1);
        // Changed while nobody told the reader: its copy went with the connection.
        writer.set(&key, b"after", None).await.unwrap();
        assert_eq!(
            reader.get(&key).await.unwrap(),
            Some(Bytes::from_static(b"after"))
        );
        // A new tracking connection keeps copies again, and is told again.
        assert_eq!(
            reader.get(&key).await.unwrap(),
            Some(Bytes::from_static(b"after"))
        );
        processes.set_then_read(&key, b"again").await;
    }
}

mod pubsub {
    use std::sync::Arc;
    use std::time::Duration;
    use veilgram_cache::{LocalPubSub, RedisPubSub};
    use veilgram_core::pubsub::{PubSub, Published};

    fn message(channel: &str, text: &str) -> Published {
        Published {
            channel: channel.to_owned(),
            payload: Arc::from(text),
        }
    }

    /// The next message on `channel` (other tests share the machine's Redis), within 5 s.
    async fn next_on(
        receiver: &mut tokio::sync::broadcast::Receiver<Published>,
        channel: &str,
    ) -> Published {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), receiver.recv())
                .await
                .expect("a message within 5 s")
                .unwrap();
            if message.channel == channel {
                return message;
            }
        }
    }

    #[tokio::test]
    async fn in_process_messages_reach_every_subscriber() {
        let bus = LocalPubSub::default();
        let (mut first, mut second) = (bus.subscribe(), bus.subscribe());
        bus.publish(&[message("user:1", "a"), message("post:2", "b")])
            .await
            .unwrap();
        for receiver in [&mut first, &mut second] {
            assert_eq!(next_on(receiver, "user:1").await, message("user:1", "a"));
            assert_eq!(next_on(receiver, "post:2").await, message("post:2", "b"));
        }
    }

    /// Two processes' adapters on one Redis: each sees the other's messages once, and its own
    /// once (delivered locally, its echo from Redis dropped).
    #[tokio::test]
    async fn messages_cross_processes_through_redis_once() {
        let url = veilgram_testkit::cache::redis_url();
        let first = RedisPubSub::connect(&url).await.unwrap();
        let second = RedisPubSub::connect(&url).await.unwrap();
        first.wait_subscribed().await;
        second.wait_subscribed().await;
        let (mut at_first, mut at_second) = (first.subscribe(), second.subscribe());
        let channel = format!("user:{}", uuid::Uuid::new_v4());
        first
            .publish(&[message(&channel, "{\"from\":\"first\"}")])
            .await
            .unwrap();
        second
            .publish(&[message(&channel, "{\"from\":\"second\"}")])
            .await
            .unwrap();
        let mut seen_first = vec![
            next_on(&mut at_first, &channel).await,
            next_on(&mut at_first, &channel).await,
        ];
        let mut seen_second = vec![
            next_on(&mut at_second, &channel).await,
            next_on(&mut at_second, &channel).await,
        ];
        let expected = vec![
            message(&channel, "{\"from\":\"first\"}"),
            message(&channel, "{\"from\":\"second\"}"),
        ];
        for seen in [&mut seen_first, &mut seen_second] {
            seen.sort_by(|a, b| a.payload.cmp(&b.payload));
            assert_eq!(*seen, expected);
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(300), next_on(&mut at_first, &channel))
                .await
                .is_err(),
            "no echo"
        );
    }
}
