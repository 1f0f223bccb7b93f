//! Comments: nesting with bounded depth, validation, deletion rules, likes, anonymous-thread
//! aliases, visibility, and what account deletion leaves.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{json, Value};
use veilgram_testkit::TestDatabase;

async fn comment(
    app: &TestApp,
    token: &str,
    post: &str,
    text: &str,
    parent: Option<&str>,
) -> Value {
    let mut body = json!({ "text": text });
    if let Some(parent) = parent {
        body["parent_id"] = json!(parent);
    }
    let response = app
        .post(&format!("/api/v1/posts/{post}/comments"), body, Some(token))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    response.body
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

async fn replies_nest_up_to_the_depth_limit(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("thread_op")).await;
    let post = app
        .post_text(&author.access_token, "discuss", "public")
        .await;
    let top = comment(&app, &author.access_token, &post, "top", None).await;
    assert_eq!(
        (top["parent_id"].clone(), top["author"]["nickname"].clone()),
        (Value::Null, json!("thread_op"))
    );
    let first = comment(
        &app,
        &author.access_token,
        &post,
        "depth one",
        Some(&id(&top)),
    )
    .await;
    let second = comment(
        &app,
        &author.access_token,
        &post,
        "depth two",
        Some(&id(&first)),
    )
    .await;
    assert_eq!(second["parent_id"], id(&first).as_str());
    // Too deep: attaches beside the comment replied to, at the deepest level.
    let third = comment(
        &app,
        &author.access_token,
        &post,
        "would be depth three",
        Some(&id(&second)),
    )
    .await;
    assert_eq!(third["parent_id"], id(&first).as_str());

    let thread = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert_eq!(thread.status, StatusCode::OK, "{}", thread.text);
    let items = thread.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["reply_count"].as_i64(),
            items[0]["replies"][0]["id"].as_str()
        ),
        (Some(1), Some(id(&first).as_str()))
    );
    let replies = app
        .get(&format!("/api/v1/comments/{}/replies", id(&first)), None)
        .await;
    let reply_ids: Vec<&str> = replies.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(reply_ids, vec![id(&second).as_str(), id(&third).as_str()]);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), None).await.body["comment_count"],
        4
    );

    // Paging top-level comments.
    for index in 0..3 {
        comment(
            &app,
            &author.access_token,
            &post,
            &format!("more {index}"),
            None,
        )
        .await;
    }
    let first_page = app
        .get(&format!("/api/v1/posts/{post}/comments?limit=2"), None)
        .await;
    let next = first_page.body["next_cursor"].as_str().unwrap();
    let second_page = app
        .get(
            &format!("/api/v1/posts/{post}/comments?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(second_page.body["items"].as_array().unwrap().len(), 2);
    assert_ne!(
        second_page.body["items"][0]["id"],
        first_page.body["items"][0]["id"]
    );
}

async fn a_thread_page_shows_each_comments_first_three_replies(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let post = app.post_text(&author.access_token, "x", "public").await;
    let mut expected = Vec::new();
    for thread in 0..2 {
        let top = id(&comment(
            &app,
            &author.access_token,
            &post,
            &format!("top {thread}"),
            None,
        )
        .await);
        let mut replies = Vec::new();
        for reply in 0..4 {
            let text = format!("reply {thread}.{reply}");
            replies.push(id(&comment(
                &app,
                &author.access_token,
                &post,
                &text,
                Some(&top),
            )
            .await));
        }
        replies.truncate(3);
        expected.push((top, replies));
    }
    let page = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for (item, (top, replies)) in items.iter().zip(&expected) {
        assert_eq!(item["id"], top.as_str());
        assert_eq!(item["reply_count"], 4);
        let shown: Vec<&str> = item["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            shown,
            replies.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }
}

async fn bad_comments_are_refused(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let post = app.post_text(&author.access_token, "a", "public").await;
    let other_post = app.post_text(&author.access_token, "b", "public").await;
    let elsewhere = comment(&app, &author.access_token, &other_post, "elsewhere", None).await;
    let path = format!("/api/v1/posts/{post}/comments");
    let cases = [
        (json!({ "text": "" }), StatusCode::BAD_REQUEST, "text"),
        (
            json!({ "text": "x".repeat(1001) }),
            StatusCode::BAD_REQUEST,
            "text",
        ),
        (
            json!({ "text": "hi", "parent_id": uuid::Uuid::now_v7().to_string() }),
            StatusCode::NOT_FOUND,
            "parent_id",
        ),
        (
            json!({ "text": "hi", "parent_id": id(&elsewhere) }),
            StatusCode::NOT_FOUND,
            "parent_id",
        ),
        (
            json!({ "text": "hi", "parent_id": "nope" }),
            StatusCode::BAD_REQUEST,
            "parent_id",
        ),
        (
            json!({ "text": "hi", "author_id": author.user_id }),
            StatusCode::BAD_REQUEST,
            "author_id",
        ),
    ];
    for (body, status, field) in cases {
        let response = app
            .post(&path, body.clone(), Some(&author.access_token))
            .await;
        assert_eq!(
            (response.status, response.field()),
            (status, field),
            "{body}"
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), None).await.body["comment_count"],
        0
    );
    let missing = app
        .post(
            &format!("/api/v1/posts/{}/comments", uuid::Uuid::now_v7()),
            json!({ "text": "hi" }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(&path, json!({ "text": "hi" }), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn deleted_comments_with_replies_stay_as_deleted(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("post_owner")).await;
    let commenter = app.signup(Some("commenter")).await;
    let stranger = app.signup(None).await;
    let post = app.post_text(&author.access_token, "talk", "public").await;
    let parent = comment(&app, &commenter.access_token, &post, "parent says", None).await;
    let reply = comment(
        &app,
        &author.access_token,
        &post,
        "a reply",
        Some(&id(&parent)),
    )
    .await;
    let leaf = comment(&app, &commenter.access_token, &post, "leaf", None).await;

    let forbidden = app
        .delete(
            &format!("/api/v1/comments/{}", id(&parent)),
            &stranger.access_token,
        )
        .await;
    assert_eq!(
        (forbidden.status, forbidden.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        app.delete(
            &format!("/api/v1/comments/{}", id(&parent)),
            &commenter.access_token
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    // The post's author may delete anyone's comment on it.
    assert_eq!(
        app.delete(
            &format!("/api/v1/comments/{}", id(&leaf)),
            &author.access_token
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );

    let thread = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    let items = thread.body["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the leaf is gone, the parent stays: {}",
        thread.text
    );
    assert_eq!(
        (items[0]["text"].as_str(), items[0]["deleted"].as_bool()),
        (Some("[deleted]"), Some(true))
    );
    assert_eq!(items[0]["author"], Value::Null);
    assert!(!thread.text.contains("parent says") && !thread.text.contains("commenter"));
    assert_eq!(items[0]["replies"][0]["id"], id(&reply).as_str());
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), None).await.body["comment_count"],
        1
    );
    assert_eq!(
        app.delete(
            &format!("/api/v1/comments/{}", id(&parent)),
            &commenter.access_token
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

async fn comment_likes_are_idempotent_and_personal(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    let post = app.post_text(&author.access_token, "x", "public").await;
    let target = comment(&app, &author.access_token, &post, "like this", None).await;
    let like = format!("/api/v1/comments/{}/like", id(&target));
    for _ in 0..2 {
        assert_eq!(
            app.post(&like, json!({}), Some(&fan.access_token))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    let as_fan = app
        .get(
            &format!("/api/v1/posts/{post}/comments"),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(
        (
            as_fan.body["items"][0]["like_count"].as_i64(),
            as_fan.body["items"][0]["liked_by_me"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let as_anyone = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert_eq!(as_anyone.body["items"][0]["liked_by_me"], false);
    for _ in 0..2 {
        assert_eq!(
            app.delete(&like, &fan.access_token).await.status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}/comments"), None)
            .await
            .body["items"][0]["like_count"],
        0
    );
    let report = app
        .post(
            &format!("/api/v1/comments/{}/report", id(&target)),
            json!({ "reason": "spam" }),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(report.status, StatusCode::ACCEPTED);
    let bad = app
        .post(
            &format!("/api/v1/comments/{}/report", id(&target)),
            json!({ "reason": "meh" }),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(bad.field(), "reason");
}

async fn anonymous_threads_show_stable_unlinkable_aliases(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let op = app.signup(Some("secret_op")).await;
    let xavier = app.signup(Some("xavier_real")).await;
    let yuna = app.signup(Some("yuna_real")).await;
    let thread = app
        .post(
            "/api/v1/posts",
            json!({ "text": "ask me anything", "anonymous_thread": true }),
            Some(&op.access_token),
        )
        .await;
    assert_eq!(thread.body["anonymous_thread"], true);
    let thread = id(&thread.body);
    let alias = |value: &Value| value["author"]["alias"].as_str().unwrap().to_owned();
    assert_eq!(
        alias(&comment(&app, &xavier.access_token, &thread, "first!", None).await),
        "#1"
    );
    assert_eq!(
        alias(&comment(&app, &yuna.access_token, &thread, "second", None).await),
        "#2"
    );
    let again = comment(&app, &xavier.access_token, &thread, "me again", None).await;
    assert_eq!(alias(&again), "#1", "the same person keeps the same alias");
    assert_eq!(
        alias(&comment(&app, &op.access_token, &thread, "thanks", Some(&id(&again))).await),
        "OP"
    );

    let listing = app
        .get(
            &format!("/api/v1/posts/{thread}/comments"),
            Some(&yuna.access_token),
        )
        .await;
    for secret in [&xavier.user_id, &yuna.user_id, "xavier_real", "yuna_real"] {
        assert!(
            !listing.text.contains(secret),
            "an alias leaked who it is: {}",
            listing.text
        );
    }
    for item in listing.body["items"].as_array().unwrap() {
        let keys: Vec<&String> = item["author"].as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["alias"]);
    }

    // Aliases do not link across threads: in another thread Yuna comes first.
    let other = app
        .post(
            "/api/v1/posts",
            json!({ "text": "another", "anonymous_thread": true }),
            Some(&op.access_token),
        )
        .await;
    let other = id(&other.body);
    assert_eq!(
        alias(&comment(&app, &yuna.access_token, &other, "hi", None).await),
        "#1"
    );
    assert_eq!(
        alias(&comment(&app, &xavier.access_token, &other, "hi", None).await),
        "#2"
    );

    // Blocking the author of an aliased comment blocks the alias in that thread, and nothing
    // anywhere tells the blocker which account it is.
    let xavier_post = app
        .post_text(&xavier.access_token, "my named post", "public")
        .await;
    let blocked = app
        .post(
            &format!("/api/v1/comments/{}/block-author", id(&again)),
            json!({}),
            Some(&yuna.access_token),
        )
        .await;
    assert_eq!(
        (blocked.status, blocked.text.as_str()),
        (StatusCode::NO_CONTENT, "")
    );
    let aliases_seen = |token: Option<String>| {
        let app = &app;
        let thread = thread.clone();
        async move {
            let page = app
                .get(
                    &format!("/api/v1/posts/{thread}/comments"),
                    token.as_deref(),
                )
                .await;
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["author"]["alias"].as_str().unwrap().to_owned())
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(
        aliases_seen(Some(yuna.access_token.clone())).await,
        vec!["#2"],
        "#1's comments are hidden from the blocker"
    );
    assert_eq!(aliases_seen(None).await, vec!["#1", "#2", "#1"]);
    // The account is not blocked: its profile, posts and named post answer as before, both ways.
    for (path, token) in [
        (
            format!("/api/v1/users/{}", xavier.user_id),
            &yuna.access_token,
        ),
        (
            format!("/api/v1/users/{}/posts", xavier.user_id),
            &yuna.access_token,
        ),
        (format!("/api/v1/posts/{xavier_post}"), &yuna.access_token),
        (
            format!("/api/v1/users/{}", yuna.user_id),
            &xavier.access_token,
        ),
    ] {
        let response = app.get(&path, Some(token)).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.text);
    }
    // The blocker's lists name a thread and an alias, never the account.
    let blocks = app
        .get("/api/v1/users/me/blocks", Some(&yuna.access_token))
        .await;
    assert_eq!(blocks.body["items"], json!([]), "{}", blocks.text);
    let alias_blocks = app
        .get("/api/v1/users/me/alias-blocks", Some(&yuna.access_token))
        .await;
    assert_eq!(alias_blocks.status, StatusCode::OK, "{}", alias_blocks.text);
    let items = alias_blocks.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", alias_blocks.text);
    assert_eq!(items[0]["post_id"], thread.as_str());
    assert_eq!(items[0]["alias"], "#1");
    for secret in [&xavier.user_id, "xavier_real"] {
        assert!(!alias_blocks.text.contains(secret), "{}", alias_blocks.text);
    }
    // #1 replying to the blocker there notifies them no more; #2 still does.
    let yunas = comment(&app, &yuna.access_token, &thread, "mine", None).await;
    comment(&app, &xavier.access_token, &thread, "re", Some(&id(&yunas))).await;
    let op_reply = comment(&app, &op.access_token, &thread, "re", Some(&id(&yunas))).await;
    app.drain_events().await;
    let told = app
        .get("/api/v1/notifications", Some(&yuna.access_token))
        .await;
    let about: Vec<&str> = told.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["comment_id"].as_str())
        .collect();
    assert_eq!(about, vec![id(&op_reply).as_str()], "{}", told.text);
    // Blocking yourself through your own comment is refused, as for accounts.
    let own = app
        .post(
            &format!("/api/v1/comments/{}/block-author", id(&yunas)),
            json!({}),
            Some(&yuna.access_token),
        )
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "{}", own.text);
    // Lifting the block (by its id, which names nobody) shows #1 again.
    let block_id = items[0]["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(
            app.delete(
                &format!("/api/v1/users/me/alias-blocks/{block_id}"),
                &yuna.access_token
            )
            .await
            .status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        aliases_seen(Some(yuna.access_token.clone())).await,
        vec!["#1", "#2", "#1", "#2"]
    );

    // An account block does not hide that account's aliases either: the gap in the numbers
    // would say which alias it is.
    let named = app
        .post(
            &format!("/api/v1/users/{}/block", xavier.user_id),
            json!({}),
            Some(&yuna.access_token),
        )
        .await;
    assert_eq!(named.status, StatusCode::NO_CONTENT);
    assert_eq!(
        aliases_seen(Some(yuna.access_token.clone())).await,
        vec!["#1", "#2", "#1", "#2"]
    );
    let xaviers_view = app
        .get(
            &format!("/api/v1/posts/{thread}/comments"),
            Some(&xavier.access_token),
        )
        .await;
    assert_eq!(xaviers_view.body["items"].as_array().unwrap().len(), 4);
}

async fn comments_follow_post_visibility_and_blocks(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let follower = app.signup(None).await;
    let stranger = app.signup(None).await;
    app.post(
        &format!("/api/v1/users/{}/follow", author.user_id),
        json!({}),
        Some(&follower.access_token),
    )
    .await;
    let private = app
        .post_text(&author.access_token, "followers only", "followers")
        .await;
    let by_follower = comment(&app, &follower.access_token, &private, "hello", None).await;
    let path = format!("/api/v1/posts/{private}/comments");
    assert_eq!(
        app.get(&path, Some(&stranger.access_token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(
            &path,
            json!({ "text": "let me in" }),
            Some(&stranger.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    for action in ["like", "report"] {
        let response = app
            .post(
                &format!("/api/v1/comments/{}/{action}", id(&by_follower)),
                json!({ "reason": "spam" }),
                Some(&stranger.access_token),
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        app.get(
            &format!("/api/v1/comments/{}/replies", id(&by_follower)),
            Some(&stranger.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // A block hides each side's comments from the other.
    let public = app.post_text(&author.access_token, "open", "public").await;
    comment(
        &app,
        &stranger.access_token,
        &public,
        "stranger speaks",
        None,
    )
    .await;
    app.post(
        &format!("/api/v1/users/{}/block", stranger.user_id),
        json!({}),
        Some(&follower.access_token),
    )
    .await;
    let seen_by_follower = app
        .get(
            &format!("/api/v1/posts/{public}/comments"),
            Some(&follower.access_token),
        )
        .await;
    assert!(seen_by_follower.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let seen_by_author = app
        .get(
            &format!("/api/v1/posts/{public}/comments"),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(seen_by_author.body["items"].as_array().unwrap().len(), 1);
}

async fn a_deleted_account_leaves_only_deleted_placeholders(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let leaver = app.signup(Some("leaving_commenter")).await;
    let post = app.post_text(&author.access_token, "x", "public").await;
    let theirs = comment(&app, &leaver.access_token, &post, "my words", None).await;
    comment(
        &app,
        &author.access_token,
        &post,
        "answer",
        Some(&id(&theirs)),
    )
    .await;
    let target = comment(&app, &author.access_token, &post, "liked", None).await;
    app.post(
        &format!("/api/v1/comments/{}/like", id(&target)),
        json!({}),
        Some(&leaver.access_token),
    )
    .await;
    app.call(
        axum::http::Method::DELETE,
        "/api/v1/users/me",
        None,
        Some(&leaver.access_token),
    )
    .await;
    let thread = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert!(
        !thread.text.contains("my words") && !thread.text.contains("leaving_commenter"),
        "{}",
        thread.text
    );
    let items = thread.body["items"].as_array().unwrap();
    assert_eq!(items[0]["text"], "[deleted]");
    assert_eq!(items[1]["like_count"], 0);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), None).await.body["comment_count"],
        2
    );
}

/// The answer to a create is built without reading back; it must say exactly what later reads
/// say, in plain and anonymous threads, for comments and replies.
async fn a_created_comment_answers_what_reads_show(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let op = app.signup(Some("thread_op")).await;
    let guest = app.signup(Some("guest_writer")).await;
    for anonymous in [false, true] {
        let post = app
            .post(
                "/api/v1/posts",
                json!({ "text": "talk", "anonymous_thread": anonymous }),
                Some(&op.access_token),
            )
            .await;
        let post = id(&post.body);
        let top = comment(&app, &guest.access_token, &post, "top", None).await;
        let reply = comment(&app, &op.access_token, &post, "reply", Some(&id(&top))).await;
        let listing = app
            .get(
                &format!("/api/v1/posts/{post}/comments"),
                Some(&op.access_token),
            )
            .await;
        let listed_top = &listing.body["items"][0];
        let listed_reply = &listed_top["replies"][0];
        for (created, listed) in [(&top, listed_top), (&reply, listed_reply)] {
            let created = created.as_object().unwrap();
            assert!(!created.is_empty());
            for (field, value) in created {
                // Counts and `liked_by_me` are the viewer's; the reply count moved since.
                if field == "reply_count" || field == "replies" || field == "liked_by_me" {
                    continue;
                }
                assert_eq!(
                    &listed[field], value,
                    "{field} (anonymous thread: {anonymous})"
                );
            }
        }
    }
}

veilgram_testkit::for_each_engine!(
    a_created_comment_answers_what_reads_show,
    replies_nest_up_to_the_depth_limit,
    a_thread_page_shows_each_comments_first_three_replies,
    bad_comments_are_refused,
    deleted_comments_with_replies_stay_as_deleted,
    comment_likes_are_idempotent_and_personal,
    anonymous_threads_show_stable_unlinkable_aliases,
    comments_follow_post_visibility_and_blocks,
    a_deleted_account_leaves_only_deleted_placeholders,
);

mod idempotency {
    use crate::helpers::TestApp;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use serde_json::json;
    use veilgram_testkit::TestDatabase;

    async fn a_retried_comment_is_created_once(database: &TestDatabase) {
        let app = TestApp::new(database).await;
        let author = app.signup(None).await;
        let post = app.post_text(&author.access_token, "x", "public").await;
        let send = |key: &str, text: &str| {
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/v1/posts/{post}/comments"))
                .header("authorization", format!("Bearer {}", author.access_token))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(Body::from(json!({ "text": text }).to_string()))
                .unwrap()
        };
        let first = app.send(send("c-1", "once")).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = app.send(send("c-1", "once")).await;
        assert_eq!(
            (again.status, &again.body),
            (StatusCode::CREATED, &first.body)
        );
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = app.send(send("c-1", "different")).await;
        assert_eq!(
            (other.status, other.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
        );
        assert_eq!(
            app.get(&format!("/api/v1/posts/{post}"), None).await.body["comment_count"],
            1
        );
    }

    veilgram_testkit::for_each_engine!(a_retried_comment_is_created_once);
}

mod matrix {
    use crate::helpers::TestApp;
    use axum::http::StatusCode;
    use serde_json::json;
    use veilgram_testkit::TestDatabase;

    /// Every comment endpoint that takes an id, called by the comment's author, the post's author,
    /// a follower, a stranger and a blocked user, on a comment under a followers-only post.
    async fn every_comment_endpoint_answers_by_who_asks(database: &TestDatabase) {
        let app = TestApp::new(database).await;
        let post_author = app.signup(None).await;
        let commenter = app.signup(None).await;
        let follower = app.signup(None).await;
        let stranger = app.signup(None).await;
        let blocked = app.signup(None).await;
        for fan in [&commenter, &follower, &blocked] {
            app.post(
                &format!("/api/v1/users/{}/follow", post_author.user_id),
                json!({}),
                Some(&fan.access_token),
            )
            .await;
        }
        let post = app
            .post_text(&post_author.access_token, "followers only", "followers")
            .await;
        let comment =
            super::id(&super::comment(&app, &commenter.access_token, &post, "hi", None).await);
        // The commenter blocks one follower: that follower can no longer reach the comment.
        app.post(
            &format!("/api/v1/users/{}/block", blocked.user_id),
            json!({}),
            Some(&commenter.access_token),
        )
        .await;

        const OK: StatusCode = StatusCode::OK;
        const NONE: StatusCode = StatusCode::NO_CONTENT;
        const ACC: StatusCode = StatusCode::ACCEPTED;
        const GONE: StatusCode = StatusCode::NOT_FOUND;
        const NO: StatusCode = StatusCode::FORBIDDEN;
        // (who, replies, like, report, reply, delete)
        let cases = [
            (
                "follower",
                &follower,
                OK,
                NONE,
                ACC,
                StatusCode::CREATED,
                NO,
            ),
            ("stranger", &stranger, GONE, GONE, GONE, GONE, GONE),
            (
                "blocked", &blocked, GONE, GONE, GONE,
                // A comment the replier cannot see is no comment to reply to.
                GONE, GONE,
            ),
        ];
        for (label, who, replies, like, report, reply, delete) in cases {
            let token = who.access_token.as_str();
            assert_eq!(
                app.get(&format!("/api/v1/comments/{comment}/replies"), Some(token))
                    .await
                    .status,
                replies,
                "{label}: replies"
            );
            assert_eq!(
                app.post(
                    &format!("/api/v1/comments/{comment}/like"),
                    json!({}),
                    Some(token)
                )
                .await
                .status,
                like,
                "{label}: like"
            );
            assert_eq!(
                app.post(
                    &format!("/api/v1/comments/{comment}/report"),
                    json!({ "reason": "spam" }),
                    Some(token)
                )
                .await
                .status,
                report,
                "{label}: report"
            );
            let replied = app
                .post(
                    &format!("/api/v1/posts/{post}/comments"),
                    json!({ "text": "re", "parent_id": comment }),
                    Some(token),
                )
                .await;
            assert_eq!(replied.status, reply, "{label}: reply {}", replied.text);
            assert_eq!(
                app.delete(&format!("/api/v1/comments/{comment}"), token)
                    .await
                    .status,
                delete,
                "{label}: delete"
            );
            let block = app
                .post(
                    &format!("/api/v1/comments/{comment}/block-author"),
                    json!({}),
                    Some(token),
                )
                .await;
            assert_eq!(
                block.status,
                if replies == OK { NONE } else { GONE },
                "{label}: block author"
            );
            if replies == OK {
                app.delete(&format!("/api/v1/users/{}/block", commenter.user_id), token)
                    .await;
            }
        }
        // The commenter and the post's author may delete it.
        assert_eq!(
            app.delete(
                &format!("/api/v1/comments/{comment}"),
                &commenter.access_token
            )
            .await
            .status,
            NONE
        );
        let second =
            super::id(&super::comment(&app, &commenter.access_token, &post, "again", None).await);
        assert_eq!(
            app.delete(
                &format!("/api/v1/comments/{second}"),
                &post_author.access_token
            )
            .await
            .status,
            NONE
        );
        assert_eq!(
            app.get(
                &format!("/api/v1/comments/{}/replies", uuid::Uuid::now_v7()),
                None
            )
            .await
            .status,
            GONE
        );
    }

    veilgram_testkit::for_each_engine!(every_comment_endpoint_answers_by_who_asks);
}
