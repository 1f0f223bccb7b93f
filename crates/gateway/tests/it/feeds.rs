//! Feeds through the API: home (fan-out, follows, unfollows, blocks, deletions, rebuilds, merged
//! celebrities), popular and hashtag feeds, cursors, and a cache outage. Each test runs on a
//! database engine paired with a cache adapter: SQLite with memory, PostgreSQL with Redis, and
//! SQLite with the Redis Cluster.

use crate::helpers::{Account, Options, OwnRedis, TestApp};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use veilgram_core::cache::{Cache, CacheKey};
use veilgram_core::events::{DomainEvent, EventEnvelope, LoggedEvent};
use veilgram_core::{PostId, Timestamp};
use veilgram_events::EventHandler;
use veilgram_feeds::{FeedFanout, FeedSettings};
use veilgram_testkit::cache::TestCache;
use veilgram_testkit::TestDatabase;

async fn app_with(database: &TestDatabase, cache: Arc<dyn Cache>, fan_out_limit: i64) -> TestApp {
    TestApp::with_options(
        database,
        Options {
            cache: Some(cache),
            feed_settings: FeedSettings {
                timeline_length: 800,
                fan_out_limit,
                ..FeedSettings::default()
            },
            ..Options::default()
        },
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|post| post["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn home(app: &TestApp, token: &str) -> Vec<String> {
    let page = app.get("/api/v1/feed/home?limit=100", Some(token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    ids(&page.body)
}

async fn home_follows_fan_out_follows_unfollows_blocks_and_deletions(
    database: &TestDatabase,
    cache: &TestCache,
) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    let stranger = app.signup(None).await;
    app.follow(&fan.access_token, &author.user_id).await;
    // Read first, so the timelines exist and later posts arrive by fan-out, not by rebuild.
    assert!(home(&app, &fan.access_token).await.is_empty());
    assert!(home(&app, &stranger.access_token).await.is_empty());
    let public = app.post_text(&author.access_token, "hello", "public").await;
    let private = app
        .post_text(&author.access_token, "friends only", "followers")
        .await;
    let own = app.post_text(&fan.access_token, "mine", "public").await;
    app.drain_events().await;
    assert_eq!(
        home(&app, &fan.access_token).await,
        [own.clone(), private.clone(), public.clone()]
    );
    assert!(home(&app, &stranger.access_token).await.is_empty());
    assert_eq!(
        home(&app, &author.access_token).await,
        [private.clone(), public.clone()],
        "the author's own posts are in their home"
    );

    // Following brings the followee's recent posts, followers-only included.
    app.follow(&stranger.access_token, &author.user_id).await;
    app.drain_events().await;
    assert_eq!(
        home(&app, &stranger.access_token).await,
        [private.clone(), public.clone()]
    );

    // Unfollowing removes them; a block removes them both ways.
    let response = app
        .call(
            axum::http::Method::DELETE,
            &format!("/api/v1/users/{}/follow", author.user_id),
            None,
            Some(&fan.access_token),
        )
        .await;
    assert!(response.status.is_success());
    app.drain_events().await;
    assert_eq!(
        home(&app, &fan.access_token).await,
        std::slice::from_ref(&own)
    );
    let response = app
        .post(
            &format!("/api/v1/users/{}/block", stranger.user_id),
            json!({}),
            Some(&author.access_token),
        )
        .await;
    assert!(response.status.is_success());
    app.drain_events().await;
    assert!(home(&app, &stranger.access_token).await.is_empty());

    // A deleted post disappears, before any event is consumed.
    app.follow(&fan.access_token, &author.user_id).await;
    app.drain_events().await;
    assert!(home(&app, &fan.access_token).await.contains(&public));
    let response = app
        .call(
            axum::http::Method::DELETE,
            &format!("/api/v1/posts/{public}"),
            None,
            Some(&author.access_token),
        )
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(!home(&app, &fan.access_token).await.contains(&public));
}

/// Fan-out reads followers a page at a time and writes several pages at once: every follower
/// gets the post, whatever page they are on, the last page full or not.
async fn fan_out_reaches_followers_on_every_page(database: &TestDatabase, cache: &TestCache) {
    let app = TestApp::with_options(
        database,
        Options {
            cache: Some(Arc::clone(&cache.cache)),
            feed_settings: FeedSettings {
                fan_out_page: 2,
                ..FeedSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let author = app.signup(None).await;
    let mut fans = Vec::new();
    let mut posted: Vec<String> = Vec::new();
    // Seven followers: three full pages and one short; then eight: four full.
    for followers in [7, 8] {
        while fans.len() < followers {
            let fan = app.signup(None).await;
            app.follow(&fan.access_token, &author.user_id).await;
            app.drain_events().await;
            assert_eq!(home(&app, &fan.access_token).await, posted);
            fans.push(fan);
        }
        let text = format!("to {followers}");
        posted.insert(
            0,
            app.post_text(&author.access_token, &text, "public").await,
        );
        app.drain_events().await;
        for fan in &fans {
            assert_eq!(home(&app, &fan.access_token).await, posted);
        }
    }
}

/// A timeline lost from the cache (eviction, a new cache) is rebuilt from the store.
async fn a_lost_timeline_is_rebuilt_from_the_store(database: &TestDatabase, cache: &TestCache) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    app.follow(&fan.access_token, &author.user_id).await;
    let mut posted = Vec::new();
    for n in 0..5 {
        posted.push(
            app.post_text(&author.access_token, &format!("n{n}"), "followers")
                .await,
        );
    }
    app.drain_events().await;
    posted.reverse();
    assert_eq!(home(&app, &fan.access_token).await, posted);
    // The same database behind an empty cache: nothing of the timeline survives in it.
    let fresh = app_with(
        database,
        Arc::new(veilgram_cache::MemoryCache::default()),
        10_000,
    )
    .await;
    let fan_again = fresh
        .post(
            "/api/v1/auth/login",
            json!({ "user_id": fan.user_id, "recovery_key": fan.recovery_key }),
            None,
        )
        .await;
    let token = fan_again.body["access_token"].as_str().unwrap();
    assert_eq!(home(&fresh, token).await, posted);
}

/// Pages stay stable while new posts arrive above them.
async fn pages_are_stable_while_posts_arrive(database: &TestDatabase, cache: &TestCache) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    app.follow(&fan.access_token, &author.user_id).await;
    let mut posted = Vec::new();
    for n in 0..25 {
        posted.push(
            app.post_text(&author.access_token, &format!("p{n}"), "public")
                .await,
        );
    }
    app.drain_events().await;
    posted.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/feed/home?limit=10&cursor={cursor}"),
            None => "/api/v1/feed/home?limit=10".to_owned(),
        };
        let page = app.get(&path, Some(&fan.access_token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(ids(&page.body));
        // New posts keep arriving between pages.
        app.post_text(&author.access_token, "newer", "public").await;
        app.drain_events().await;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen, posted,
        "every post once, newest first, none of the newer ones"
    );
}

/// Authors above the fan-out limit are not copied into timelines; readers merge them in.
async fn followed_celebrities_are_merged_at_read_time(database: &TestDatabase, cache: &TestCache) {
    let app = app_with(database, Arc::clone(&cache.cache), 1).await;
    let star = app.signup(None).await;
    let fans = [app.signup(None).await, app.signup(None).await];
    for fan in &fans {
        app.follow(&fan.access_token, &star.user_id).await;
        assert!(home(&app, &fan.access_token).await.is_empty());
    }
    let own = app.post_text(&fans[0].access_token, "mine", "public").await;
    let post = app.post_text(&star.access_token, "to many", "public").await;
    app.drain_events().await;
    let timeline = veilgram_feeds::home_key(fans[0].user_id.parse().unwrap());
    let stored: Vec<String> = app
        .cache
        .sorted_range_desc(&timeline, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|member| member.member)
        .collect();
    assert!(!stored.contains(&post), "not fanned out: {stored:?}");
    assert_eq!(home(&app, &fans[0].access_token).await, [post.clone(), own]);
    assert_eq!(home(&app, &fans[1].access_token).await, [post]);
}

async fn popular_ranks_public_posts_by_engagement(database: &TestDatabase, cache: &TestCache) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let quiet = app.post_text(&author.access_token, "quiet", "public").await;
    let loved = app.post_text(&author.access_token, "loved", "public").await;
    let hidden = app
        .post_text(&author.access_token, "friends only", "followers")
        .await;
    let newest = app
        .post_text(&author.access_token, "newest", "public")
        .await;
    for _ in 0..3 {
        let reader = app.signup(None).await;
        for post in [&loved, &hidden] {
            app.post(
                &format!("/api/v1/posts/{post}/like"),
                json!({}),
                Some(&reader.access_token),
            )
            .await;
        }
        app.post(
            &format!("/api/v1/posts/{loved}/comments"),
            json!({ "text": "wow" }),
            Some(&reader.access_token),
        )
        .await;
    }
    app.drain_events().await;
    let page = app.get("/api/v1/feed/popular", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(
        ids(&page.body),
        [loved, newest, quiet],
        "engagement first, then recency"
    );
}

async fn hashtag_feeds_page_public_posts_and_refuse_bad_cursors(
    database: &TestDatabase,
    cache: &TestCache,
) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let mut tagged = Vec::new();
    for n in 0..7 {
        tagged.push(
            app.post_text(&author.access_token, &format!("#Seoul {n}"), "public")
                .await,
        );
    }
    app.post_text(&author.access_token, "#seoul secret", "followers")
        .await;
    app.post_text(&author.access_token, "#busan", "public")
        .await;
    app.drain_events().await;
    tagged.reverse();
    let first = app.get("/api/v1/feed/hashtags/seoul?limit=4", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(ids(&first.body), tagged[..4]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!("/api/v1/feed/hashtags/%23SEOUL?limit=4&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(ids(&second.body), tagged[4..]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // An edit that takes the tag away takes the post out of the tag's feed.
    let edited = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/posts/{}", tagged[0]),
            Some(json!({ "text": "now #busan only" })),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    app.drain_events().await;
    let after_edit = app.get("/api/v1/feed/hashtags/seoul?limit=100", None).await;
    assert_eq!(ids(&after_edit.body), tagged[1..]);
    let busan = app.get("/api/v1/feed/hashtags/busan?limit=100", None).await;
    assert!(ids(&busan.body).contains(&tagged[0]), "{}", busan.text);

    for (path, field) in [
        (
            format!("/api/v1/feed/hashtags/busan?cursor={cursor}"),
            "cursor",
        ),
        (format!("/api/v1/feed/popular?cursor={cursor}"), "cursor"),
        (
            format!(
                "/api/v1/feed/hashtags/seoul?cursor={}x",
                &cursor[..cursor.len() - 1]
            ),
            "cursor",
        ),
        (
            "/api/v1/feed/hashtags/seoul?cursor=bm9wZQ".to_owned(),
            "cursor",
        ),
        ("/api/v1/feed/hashtags/not%20a%20tag".to_owned(), "tag"),
        ("/api/v1/feed/hashtags/seoul?limit=0".to_owned(), "limit"),
    ] {
        let response = app.get(&path, None).await;
        assert_eq!(
            (response.status, response.field()),
            (StatusCode::BAD_REQUEST, field),
            "{path}: {}",
            response.text
        );
    }
    for path in ["/api/v1/feed/home", "/api/v1/feed/home?limit=0"] {
        assert_eq!(
            app.get(path, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}: no token comes before a bad query"
        );
    }
}

/// Redis stops mid-run: feeds answer 503 with `Retry-After` at once (no hang), posting goes on,
/// and once Redis is back (empty), timelines are rebuilt and nothing written meanwhile is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_answers_503_and_loses_nothing() {
    let mut redis = OwnRedis::start_anywhere();
    let port = redis.port;
    let url = veilgram_cache::CacheUrl::Redis(format!("redis://127.0.0.1:{}", redis.port));
    let cache = veilgram_cache::connect(&url, "", veilgram_cache::DEFAULT_NEAR_CACHE_BYTES)
        .await
        .unwrap();
    let database = TestDatabase::sqlite();
    let app = app_with(&database, cache, 10_000).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    app.follow(&fan.access_token, &author.user_id).await;
    app.drain_events().await;
    let before = app
        .post_text(&author.access_token, "before", "public")
        .await;
    app.drain_events().await;
    assert_eq!(
        home(&app, &fan.access_token).await,
        std::slice::from_ref(&before)
    );

    // A server syncs its revocation mirror from the store every second, which keeps
    // authentication going while the cache is down; this one has just done so.
    app.auth.sync_revocations().await.unwrap();
    redis.stop();
    let asked = std::time::Instant::now();
    let down = app.get("/api/v1/feed/home", Some(&fan.access_token)).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text
    );
    assert!(down.headers.contains_key("retry-after"));
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let during = app
        .post_text(&author.access_token, "during", "public")
        .await;
    assert!(
        app.try_drain_events().await.is_err(),
        "the fan-out waits for the cache"
    );

    let _redis = OwnRedis::start(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.try_drain_events().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "no reconnection");
        tokio::task::yield_now().await;
    }
    let mut back = app.get("/api/v1/feed/home", Some(&fan.access_token)).await;
    while back.status != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "{}", back.text);
        back = app.get("/api/v1/feed/home", Some(&fan.access_token)).await;
    }
    assert_eq!(ids(&back.body), [during, before], "rebuilt, nothing lost");
}

/// Every post of `viewer`'s home feed, read through the post cache and cache counters, equals a
/// direct read of it from the store; answers the feed's ids.
async fn feed_matches_direct_reads(app: &TestApp, viewer: &Account, when: &str) -> Vec<String> {
    let page = app
        .get("/api/v1/feed/home?limit=100", Some(&viewer.access_token))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for item in page.body["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let direct = app
            .get(&format!("/api/v1/posts/{id}"), Some(&viewer.access_token))
            .await;
        assert_eq!(
            item, &direct.body,
            "{when}: the feed and a direct read differ"
        );
    }
    ids(&page.body)
}

async fn feed_posts_stay_true_through_likes_comments_votes_edits_renames_and_blocks(
    database: &TestDatabase,
    cache: &TestCache,
) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    app.follow(&fan.access_token, &author.user_id).await;
    let created = app
        .post(
            "/api/v1/posts",
            json!({ "text": "which one?", "visibility": "public",
                    "poll": { "options": ["tea", "coffee"], "closes_in_seconds": 3600 } }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let poll_post = created.body["id"].as_str().unwrap().to_owned();
    let poll_id = created.body["poll"]["id"].as_str().unwrap().to_owned();
    let for_followers = app
        .post_text(&author.access_token, "for followers", "followers")
        .await;
    app.drain_events().await;
    let both = vec![for_followers.clone(), poll_post.clone()];
    for viewer in [&fan, &author] {
        assert_eq!(feed_matches_direct_reads(&app, viewer, "fresh").await, both);
    }

    let liked = app
        .post(
            &format!("/api/v1/posts/{poll_post}/like"),
            json!({}),
            Some(&fan.access_token),
        )
        .await;
    assert!(liked.status.is_success(), "{}", liked.text);
    let commented = app
        .post(
            &format!("/api/v1/posts/{for_followers}/comments"),
            json!({ "text": "nice" }),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(commented.status, StatusCode::CREATED, "{}", commented.text);
    // Read between the like and the vote, so the vote alone must refresh what the cache holds
    // about the voter (its event names no voter).
    home(&app, &fan.access_token).await;
    let voted = app
        .post(
            &format!("/api/v1/polls/{poll_id}/votes"),
            json!({ "option_index": 1 }),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(voted.status, StatusCode::OK, "{}", voted.text);
    app.drain_events().await;
    for viewer in [&fan, &author] {
        feed_matches_direct_reads(&app, viewer, "after a like, a comment and a vote").await;
    }
    let page = app.get("/api/v1/feed/home", Some(&fan.access_token)).await;
    let shown = &page.body["items"];
    assert_eq!(
        (
            shown[1]["like_count"].as_i64(),
            shown[1]["liked_by_me"].as_bool(),
            shown[1]["poll"]["options"][1]["votes"].as_i64(),
            shown[1]["poll"]["my_vote"].as_i64(),
            shown[0]["comment_count"].as_i64(),
        ),
        (Some(1), Some(true), Some(1), Some(1), Some(1)),
        "{}",
        page.text
    );

    let edited = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/posts/{poll_post}"),
            Some(json!({ "text": "which one, really?" })),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let unliked = app
        .delete(
            &format!("/api/v1/posts/{poll_post}/like"),
            &fan.access_token,
        )
        .await;
    assert!(unliked.status.is_success(), "{}", unliked.text);
    app.drain_events().await;
    feed_matches_direct_reads(&app, &fan, "after an edit and an unlike").await;

    // Bylines and relations are dropped by the handler that changed them: no event needed.
    let renamed = app
        .call(
            axum::http::Method::PATCH,
            "/api/v1/users/me",
            Some(json!({ "nickname": "renamed_author" })),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    feed_matches_direct_reads(&app, &fan, "after a rename").await;
    // A deactivated author's posts leave feeds at once, and come back when they log in.
    app.deactivate(&author.access_token).await;
    assert!(home(&app, &fan.access_token).await.is_empty());
    let back = app.login(&author.user_id, &author.recovery_key).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    let author = Account {
        access_token: back.body["access_token"].as_str().unwrap().to_owned(),
        ..author
    };
    assert_eq!(home(&app, &fan.access_token).await, both);
    let blocked = app
        .post(
            &format!("/api/v1/users/{}/block", fan.user_id),
            json!({}),
            Some(&author.access_token),
        )
        .await;
    assert!(blocked.status.is_success(), "{}", blocked.text);
    assert!(
        home(&app, &fan.access_token).await.is_empty(),
        "a block hides the posts before any event is handled"
    );
}

/// Counts come from cache counters that events adjust; reconciliation sets them from the store
/// again, so a redelivered event (a crash between handling and acknowledging) or a lost counter
/// ends in the truth.
async fn like_count(app: &TestApp, viewer: &Account) -> i64 {
    let page = app
        .get("/api/v1/feed/home", Some(&viewer.access_token))
        .await;
    page.body["items"][0]["like_count"].as_i64().unwrap()
}

async fn cached_counts_converge_after_a_redelivered_event_and_a_lost_counter(
    database: &TestDatabase,
    cache: &TestCache,
) {
    let app = app_with(database, Arc::clone(&cache.cache), 10_000).await;
    let author = app.signup(None).await;
    let liker = app.signup(None).await;
    let post = app
        .post_text(&author.access_token, "count me", "public")
        .await;
    app.drain_events().await;
    assert_eq!(like_count(&app, &author).await, 0);
    let liked = app
        .post(
            &format!("/api/v1/posts/{post}/like"),
            json!({}),
            Some(&liker.access_token),
        )
        .await;
    assert!(liked.status.is_success(), "{}", liked.text);
    app.drain_events().await;
    assert_eq!(like_count(&app, &author).await, 1);

    let post_id: PostId = post.parse().unwrap();
    let redelivered = LoggedEvent {
        offset: 0,
        envelope: EventEnvelope::new(
            Some(liker.user_id.parse().unwrap()),
            Timestamp::now(),
            DomainEvent::PostLiked {
                post_id,
                author_id: author.user_id.parse().unwrap(),
                user_id: liker.user_id.parse().unwrap(),
            },
        ),
    };
    FeedFanout::new(Arc::clone(&app.feeds))
        .handle(&redelivered)
        .await
        .unwrap();
    assert_eq!(
        like_count(&app, &author).await,
        2,
        "served from the cache counter"
    );
    assert!(app.feeds.reconcile_counters().await.unwrap() >= 1);
    assert_eq!(
        like_count(&app, &author).await,
        1,
        "reconciled with the store"
    );
    assert_eq!(
        app.feeds.reconcile_counters().await.unwrap(),
        0,
        "nothing left queued"
    );

    app.cache
        .delete(&[CacheKey::of_post(post_id, "likes")])
        .await
        .unwrap();
    assert_eq!(
        like_count(&app, &author).await,
        1,
        "a lost counter is loaded from the store"
    );
}

macro_rules! feed_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = veilgram_testkit::TestDatabase::sqlite();
                    let cache = veilgram_testkit::cache::TestCache::create(
                        veilgram_testkit::cache::CacheKind::Memory).await;
                    super::$test(&database, &cache).await;
                }
            )*
        }
        mod postgres_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = veilgram_testkit::TestDatabase::postgres().await;
                    let cache = veilgram_testkit::cache::TestCache::create(
                        veilgram_testkit::cache::CacheKind::Redis).await;
                    super::$test(&database, &cache).await;
                }
            )*
        }
        mod sqlite_redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = veilgram_testkit::TestDatabase::sqlite();
                    let cache = veilgram_testkit::cache::TestCache::create(
                        veilgram_testkit::cache::CacheKind::Cluster).await;
                    super::$test(&database, &cache).await;
                }
            )*
        }
    };
}

feed_tests!(
    home_follows_fan_out_follows_unfollows_blocks_and_deletions,
    fan_out_reaches_followers_on_every_page,
    a_lost_timeline_is_rebuilt_from_the_store,
    pages_are_stable_while_posts_arrive,
    followed_celebrities_are_merged_at_read_time,
    popular_ranks_public_posts_by_engagement,
    hashtag_feeds_page_public_posts_and_refuse_bad_cursors,
    feed_posts_stay_true_through_likes_comments_votes_edits_renames_and_blocks,
    cached_counts_converge_after_a_redelivered_event_and_a_lost_counter,
);
