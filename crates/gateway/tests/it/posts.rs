//! Posts: create, read, edit, delete, likes, reports, idempotency, pagination, and the
//! authorization matrix (author, follower, stranger, blocked, anonymous).

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use veilgram_testkit::TestDatabase;

async fn a_post_is_created_read_edited_and_deleted(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("poster")).await;
    app.signup(Some("mina")).await;
    let created = app
        .post(
            "/api/v1/posts",
            json!({ "text": "Sunset in #Busan #바다 with @Mina", "visibility": "public" }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let post = &created.body;
    assert_eq!(post["author"]["id"], author.user_id.as_str());
    assert_eq!(post["author"]["nickname"], "poster");
    assert_eq!(post["hashtags"], json!(["busan", "바다"]));
    assert_eq!(
        (post["like_count"].as_i64(), post["comment_count"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(post["liked_by_me"], false);
    assert_eq!(post["edited_at"], Value::Null);
    assert_eq!(post["moderation"]["state"], "visible");
    let id = post["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    let read = app
        .get(&format!("/api/v1/posts/{id}"), Some(&author.access_token))
        .await;
    assert_eq!(&read.body, post, "the create answer is what a read shows");
    assert_eq!(app.me(&author.access_token).await.body["posts_count"], 1);

    let path = format!("/api/v1/posts/{id}");
    let anonymous = app.get(&path, None).await;
    assert_eq!(
        (anonymous.status, anonymous.body["text"].as_str()),
        (StatusCode::OK, Some("Sunset in #Busan #바다 with @Mina"))
    );

    let edited = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "text": "Now #Seoul" })),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(edited.body["hashtags"], json!(["seoul"]));
    assert!(edited.body["edited_at"].is_string());

    assert_eq!(
        app.delete(&path, &author.access_token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.me(&author.access_token).await.body["posts_count"], 0);
}

async fn bad_posts_are_refused_and_nothing_is_written(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let many_tags: String = (0..31).map(|index| format!("#tag{index} ")).collect();
    let cases = [
        (
            json!({ "text": "" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "text",
        ),
        (
            json!({ "text": "   " }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "text",
        ),
        (
            json!({ "text": "x".repeat(2201) }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "text",
        ),
        (
            json!({ "text": many_tags }),
            StatusCode::BAD_REQUEST,
            "too_many_hashtags",
            "text",
        ),
        (
            json!({ "text": "hi", "visibility": "secret" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "visibility",
        ),
        (
            json!({ "text": "hi", "media_ids": vec!["m"; 11] }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "media_ids",
        ),
        (
            json!({ "text": "hi", "media_ids": [uuid::Uuid::new_v4().to_string()] }),
            StatusCode::NOT_FOUND,
            "not_found",
            "media_ids",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["only one"], "closes_in_seconds": 600 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.options",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["a", "b", "c", "d", "e"], "closes_in_seconds": 600 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.options",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["a", "x".repeat(81)], "closes_in_seconds": 600 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.options",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["Same", "same"], "closes_in_seconds": 600 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.options",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["a", "b"], "closes_in_seconds": 299 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.closes_in_seconds",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["a", "b"], "closes_in_seconds": 604801 } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.closes_in_seconds",
        ),
        (
            json!({ "text": "hi", "poll": { "options": ["a", "b"] } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "poll.closes_in_seconds",
        ),
        (
            json!({ "text": "hi", "author_id": uuid::Uuid::new_v4().to_string() }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "author_id",
        ),
        (
            json!({ "text": "hi", "like_count": 1000 }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "like_count",
        ),
        (
            json!({ "text": 5 }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "text",
        ),
    ];
    for (body, status, code, field) in cases {
        let response = app
            .post("/api/v1/posts", body.clone(), Some(&author.access_token))
            .await;
        assert_eq!(
            (response.status, response.code(), response.field()),
            (status, code, field),
            "{body}"
        );
    }
    assert_eq!(
        app.me(&author.access_token).await.body["posts_count"],
        0,
        "nothing was written"
    );
    let anonymous = app
        .post("/api/v1/posts", json!({ "text": "hi" }), None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // Exactly 2200 characters and 30 hashtags are fine.
    let thirty: String = (0..30).map(|index| format!("#t{index} ")).collect();
    assert_eq!(
        app.post(
            "/api/v1/posts",
            json!({ "text": thirty }),
            Some(&author.access_token)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            "/api/v1/posts",
            json!({ "text": "가".repeat(2200) }),
            Some(&author.access_token)
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

async fn an_idempotency_key_makes_a_retry_return_the_first_post(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let send = |key: &str, body: Value| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/posts")
            .header("authorization", format!("Bearer {}", author.access_token))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let first = app
        .send(send("retry-1", json!({ "text": "once only" })))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app
        .send(send("retry-1", json!({ "text": "once only" })))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body, "a replay answers the first post");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other_body = app
        .send(send("retry-1", json!({ "text": "something else" })))
        .await;
    assert_eq!(
        (other_body.status, other_body.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let other_key = app
        .send(send("retry-2", json!({ "text": "once only" })))
        .await;
    assert_ne!(other_key.body["id"], first.body["id"]);
    let bad_key = app
        .send(send(&"k".repeat(256), json!({ "text": "x" })))
        .await;
    assert_eq!(
        (bad_key.status, bad_key.field()),
        (StatusCode::BAD_REQUEST, "Idempotency-Key")
    );
    assert_eq!(app.me(&author.access_token).await.body["posts_count"], 2);
    // Keys belong to their user: another user's same key is a different request.
    let someone = app.signup(None).await;
    let theirs = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/posts")
                .header("authorization", format!("Bearer {}", someone.access_token))
                .header("content-type", "application/json")
                .header("idempotency-key", "retry-1")
                .body(Body::from(json!({ "text": "once only" }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["id"], first.body["id"]);
}

async fn likes_are_idempotent_counted_and_personal(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    let id = app
        .post_text(&author.access_token, "like me", "public")
        .await;
    let like = format!("/api/v1/posts/{id}/like");
    for _ in 0..2 {
        assert_eq!(
            app.post(&like, json!({}), Some(&fan.access_token))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    let path = format!("/api/v1/posts/{id}");
    let seen_by_fan = app.get(&path, Some(&fan.access_token)).await;
    assert_eq!(
        (
            seen_by_fan.body["like_count"].as_i64(),
            seen_by_fan.body["liked_by_me"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let seen_by_author = app.get(&path, Some(&author.access_token)).await;
    assert_eq!(seen_by_author.body["liked_by_me"], false);
    assert_eq!(app.get(&path, None).await.body["liked_by_me"], false);
    for _ in 0..2 {
        assert_eq!(
            app.delete(&like, &fan.access_token).await.status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(app.get(&path, None).await.body["like_count"], 0);
    let missing = format!("/api/v1/posts/{}/like", uuid::Uuid::now_v7());
    assert_eq!(
        app.post(&missing, json!({}), Some(&fan.access_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn reports_are_accepted_once_and_validated(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let reporter = app.signup(None).await;
    let id = app
        .post_text(&author.access_token, "report me", "public")
        .await;
    let report = format!("/api/v1/posts/{id}/report");
    let bad = app
        .post(
            &report,
            json!({ "reason": "boring" }),
            Some(&reporter.access_token),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::BAD_REQUEST, "reason")
    );
    let long_note = app
        .post(
            &report,
            json!({ "reason": "spam", "note": "x".repeat(501) }),
            Some(&reporter.access_token),
        )
        .await;
    assert_eq!(
        (long_note.status, long_note.field()),
        (StatusCode::BAD_REQUEST, "note")
    );
    for _ in 0..2 {
        let accepted = app
            .post(
                &report,
                json!({ "reason": "spam", "note": "ads" }),
                Some(&reporter.access_token),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    }
}

async fn a_users_posts_page_newest_first_with_opaque_cursors(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(
            app.post_text(&author.access_token, &format!("post {index}"), "public")
                .await,
        );
    }
    ids.reverse();
    let base = format!("/api/v1/users/{}/posts", author.user_id);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{base}?limit=2&cursor={cursor}"),
            None => format!("{base}?limit=2"),
        };
        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every post once, newest first");
    // A post created while paging does not shift later pages.
    let first = app.get(&format!("{base}?limit=2"), None).await;
    let next = first.body["next_cursor"].as_str().unwrap().to_owned();
    app.post_text(&author.access_token, "late", "public").await;
    let second = app
        .get(&format!("{base}?limit=2&cursor={next}"), None)
        .await;
    assert_eq!(second.body["items"][0]["id"], ids[2].as_str());

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage", "cursor"),
        ("sort=new", "sort"),
    ] {
        let response = app.get(&format!("{base}?{query}"), None).await;
        assert_eq!(
            (response.status, response.field()),
            (StatusCode::BAD_REQUEST, field),
            "{query}"
        );
    }
    // Cursors are signed: one made for another list, one forged in the old unsigned form
    // (a client choosing where the page starts), and one altered are all refused.
    use base64::Engine as _;
    let unsigned = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("v1|user-posts|{}", ids[1]));
    let (body, mac) = next.split_once('.').unwrap();
    let swapped = if body.ends_with('A') { 'B' } else { 'A' };
    let altered = format!("{}{swapped}.{mac}", &body[..body.len() - 1]);
    for cursor in [
        app.feeds.seal_position("followers", "1:x"),
        unsigned,
        altered,
    ] {
        let response = app.get(&format!("{base}?cursor={cursor}"), None).await;
        assert_eq!(
            (response.status, response.field()),
            (StatusCode::BAD_REQUEST, "cursor"),
            "{cursor}"
        );
    }
}

/// Every id-taking post endpoint, called by the author, a follower, a stranger, a blocked user
/// and an anonymous caller, on a followers-only post and on a public one.
async fn the_authorization_matrix_holds(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("matrix_author")).await;
    let follower = app.signup(None).await;
    let stranger = app.signup(None).await;
    let blocked = app.signup(None).await;
    assert_eq!(
        app.post(
            &format!("/api/v1/users/{}/follow", author.user_id),
            json!({}),
            Some(&follower.access_token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/users/{}/follow", author.user_id),
            json!({}),
            Some(&blocked.access_token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/users/{}/block", blocked.user_id),
            json!({}),
            Some(&author.access_token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );

    let private = app
        .post_text(&author.access_token, "followers only", "followers")
        .await;
    let public = app
        .post_text(&author.access_token, "for everyone", "public")
        .await;
    let listing = format!("/api/v1/users/{}/posts", author.user_id);

    #[derive(Clone, Copy)]
    struct Expect {
        read: StatusCode,
        like: StatusCode,
        report: StatusCode,
        edit: StatusCode,
        delete: StatusCode,
    }
    const OK: StatusCode = StatusCode::OK;
    const NONE: StatusCode = StatusCode::NO_CONTENT;
    const GONE: StatusCode = StatusCode::NOT_FOUND;
    const NO: StatusCode = StatusCode::FORBIDDEN;
    const ACC: StatusCode = StatusCode::ACCEPTED;
    let hidden = Expect {
        read: GONE,
        like: GONE,
        report: GONE,
        edit: GONE,
        delete: GONE,
    };
    let visible_not_mine = Expect {
        read: OK,
        like: NONE,
        report: ACC,
        edit: NO,
        delete: NO,
    };
    let cases: Vec<(&str, Option<&str>, &str, Expect)> = vec![
        (
            "follower/private",
            Some(&follower.access_token),
            &private,
            Expect { ..visible_not_mine },
        ),
        (
            "stranger/private",
            Some(&stranger.access_token),
            &private,
            Expect { ..hidden },
        ),
        (
            "blocked/private",
            Some(&blocked.access_token),
            &private,
            Expect { ..hidden },
        ),
        (
            "stranger/public",
            Some(&stranger.access_token),
            &public,
            Expect {
                read: OK,
                like: NONE,
                report: ACC,
                edit: NO,
                delete: NO,
            },
        ),
        (
            "blocked/public",
            Some(&blocked.access_token),
            &public,
            Expect {
                read: GONE,
                like: GONE,
                report: GONE,
                edit: GONE,
                delete: GONE,
            },
        ),
        (
            "author/private",
            Some(&author.access_token),
            &private,
            Expect {
                read: OK,
                like: NONE,
                report: ACC,
                edit: OK,
                delete: NONE,
            },
        ),
    ];
    for (label, token, id, expect) in cases {
        let path = format!("/api/v1/posts/{id}");
        let read = app.call(Method::GET, &path, None, token).await;
        assert_eq!(read.status, expect.read, "{label}: read");
        if expect.read == GONE {
            assert_eq!(
                read.body["error"]["code"], "not_found",
                "{label}: a hidden post looks missing"
            );
        }
        let token = token.unwrap();
        assert_eq!(
            app.post(&format!("{path}/like"), json!({}), Some(token))
                .await
                .status,
            expect.like,
            "{label}: like"
        );
        let unlike_expected = if expect.like == NONE { NONE } else { GONE };
        assert_eq!(
            app.delete(&format!("{path}/like"), token).await.status,
            unlike_expected,
            "{label}: unlike"
        );
        assert_eq!(
            app.post(
                &format!("{path}/report"),
                json!({ "reason": "other" }),
                Some(token)
            )
            .await
            .status,
            expect.report,
            "{label}: report"
        );
        assert_eq!(
            app.call(
                Method::PATCH,
                &path,
                Some(json!({ "text": "changed" })),
                Some(token)
            )
            .await
            .status,
            expect.edit,
            "{label}: edit"
        );
        assert_eq!(
            app.delete(&path, token).await.status,
            expect.delete,
            "{label}: delete"
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/posts/{public}"), None)
            .await
            .status,
        StatusCode::OK,
        "anonymous/public"
    );
    // The private post was deleted by its author above; make another for the listing checks.
    let private = app
        .post_text(&author.access_token, "followers only again", "followers")
        .await;
    let ids = |response: &crate::helpers::TestResponse| -> Vec<String> {
        response.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids(&app.get(&listing, Some(&follower.access_token)).await).contains(&private));
    assert!(!ids(&app.get(&listing, Some(&stranger.access_token)).await).contains(&private));
    assert!(!ids(&app.get(&listing, None).await).contains(&private));
    assert_eq!(
        app.get(&listing, Some(&blocked.access_token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/posts/{}", uuid::Uuid::now_v7()),
            Some(&author.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/v1/posts/not-an-id", None).await.field(), "id");
}

veilgram_testkit::for_each_engine!(
    a_post_is_created_read_edited_and_deleted,
    bad_posts_are_refused_and_nothing_is_written,
    an_idempotency_key_makes_a_retry_return_the_first_post,
    likes_are_idempotent_counted_and_personal,
    reports_are_accepted_once_and_validated,
    a_users_posts_page_newest_first_with_opaque_cursors,
    the_authorization_matrix_holds,
);
