//! Polls: created with a post, one private vote per user, 409 on a second vote, 410 after closing.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{NewPoll, NewPost, PostStore, Visibility};
use veilgram_core::{PollId, PostId, Timestamp, UserId};
use veilgram_testkit::TestDatabase;

async fn create_poll(app: &TestApp, token: &str, visibility: &str) -> Value {
    let response = app
        .post(
            "/api/v1/posts",
            json!({ "text": "which? #poll", "visibility": visibility,
                    "poll": { "options": ["tea", "coffee", "water"], "closes_in_seconds": 3600 } }),
            Some(token),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    // The answer is built without reading back: it must be what a read shows.
    let id = response.body["id"].as_str().unwrap();
    let read = app.get(&format!("/api/v1/posts/{id}"), Some(token)).await;
    assert_eq!(read.body, response.body);
    response.body
}

async fn one_private_vote_per_person(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let voter = app.signup(None).await;
    let other = app.signup(None).await;
    let post = create_poll(&app, &author.access_token, "public").await;
    let poll = &post["poll"];
    assert_eq!(
        poll["options"],
        json!([{ "text": "tea", "votes": 0 }, { "text": "coffee", "votes": 0 }, { "text": "water", "votes": 0 }])
    );
    assert_eq!(
        (
            poll["total_votes"].as_i64(),
            poll["closed"].as_bool(),
            poll["my_vote"].clone()
        ),
        (Some(0), Some(false), Value::Null)
    );
    let poll_id = poll["id"].as_str().unwrap();
    let votes = format!("/api/v1/polls/{poll_id}/votes");

    let voted = app
        .post(
            &votes,
            json!({ "option_index": 1 }),
            Some(&voter.access_token),
        )
        .await;
    assert_eq!(voted.status, StatusCode::OK, "{}", voted.text);
    assert_eq!(
        (
            voted.body["options"][1]["votes"].as_i64(),
            voted.body["total_votes"].as_i64(),
            voted.body["my_vote"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let again = app
        .post(
            &votes,
            json!({ "option_index": 0 }),
            Some(&voter.access_token),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "already_voted")
    );
    for bad in [json!({ "option_index": 3 }), json!({ "option_index": -1 })] {
        let response = app.post(&votes, bad, Some(&other.access_token)).await;
        assert_eq!(
            (response.status, response.field()),
            (StatusCode::BAD_REQUEST, "option_index")
        );
    }
    app.post(
        &votes,
        json!({ "option_index": 1 }),
        Some(&other.access_token),
    )
    .await;

    let public = app.get(&format!("/api/v1/polls/{poll_id}"), None).await;
    assert_eq!(
        (
            public.body["total_votes"].as_i64(),
            public.body["my_vote"].clone()
        ),
        (Some(2), Value::Null)
    );
    assert!(
        !public.text.contains(&voter.user_id) && !public.text.contains(&other.user_id),
        "votes are private"
    );
    let through_post = app
        .get(
            &format!("/api/v1/posts/{}", post["id"].as_str().unwrap()),
            Some(&voter.access_token),
        )
        .await;
    assert_eq!(through_post.body["poll"]["my_vote"], 1);
    assert_eq!(
        app.post(&votes, json!({ "option_index": 0 }), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // A voter who deletes their account takes their vote with them.
    app.call(
        axum::http::Method::DELETE,
        "/api/v1/users/me",
        None,
        Some(&other.access_token),
    )
    .await;
    let after = app.get(&format!("/api/v1/polls/{poll_id}"), None).await;
    assert_eq!(
        (
            after.body["total_votes"].as_i64(),
            after.body["options"][1]["votes"].as_i64()
        ),
        (Some(1), Some(1))
    );
}

async fn polls_follow_their_posts_visibility(database: &TestDatabase) {
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
    let post = create_poll(&app, &author.access_token, "followers").await;
    let poll_id = post["poll"]["id"].as_str().unwrap();
    assert_eq!(
        app.get(
            &format!("/api/v1/polls/{poll_id}"),
            Some(&stranger.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let votes = format!("/api/v1/polls/{poll_id}/votes");
    assert_eq!(
        app.post(
            &votes,
            json!({ "option_index": 0 }),
            Some(&stranger.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &votes,
            json!({ "option_index": 0 }),
            Some(&follower.access_token)
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/polls/{}", uuid::Uuid::now_v7()), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn a_closed_poll_refuses_votes_with_410(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let voter = app.signup(None).await;
    // The API refuses polls closing in under five minutes; set one up that has already closed.
    let author_id: UserId = author.user_id.parse().unwrap();
    let post_id = PostId::generate();
    let poll_id = PollId::generate();
    let created_at = Timestamp::now().minus(Duration::from_secs(7200));
    let post = NewPost {
        id: post_id,
        media: Vec::new(),
        poll: Some(NewPoll {
            id: poll_id,
            options: vec!["yes".into(), "no".into()],
            closes_at: created_at.plus(Duration::from_secs(600)),
        }),
        author_id,
        text: "closed poll".into(),
        visibility: Visibility::Public,
        anonymous_thread: false,
        hashtags: Vec::new(),
        mentions: Vec::new(),
        created_at,
    };
    let event = EventEnvelope::new(
        Some(author_id),
        created_at,
        DomainEvent::PostCreated {
            post_id,
            author_id,
            visibility: veilgram_core::ports::Visibility::Public,
            hashtags: Vec::new(),
            mentions: Vec::new(),
        },
    );
    app.store.create_post(&post, None, &event).await.unwrap();
    let closed = app
        .post(
            &format!("/api/v1/polls/{poll_id}/votes"),
            json!({ "option_index": 0 }),
            Some(&voter.access_token),
        )
        .await;
    assert_eq!(
        (closed.status, closed.code()),
        (StatusCode::GONE, "poll_closed")
    );
    assert_eq!(
        app.get(&format!("/api/v1/polls/{poll_id}"), None)
            .await
            .body["closed"],
        true
    );
}

veilgram_testkit::for_each_engine!(
    one_private_vote_per_person,
    polls_follow_their_posts_visibility,
    a_closed_poll_refuses_votes_with_410,
);
