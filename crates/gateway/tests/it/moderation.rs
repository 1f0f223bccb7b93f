//! Moderation: the report queue grouped by content, and decisions (dismiss, hide, delete,
//! suspend the author) that close the reports, notify the author and take effect everywhere.

use crate::helpers::{Account, TestApp};
use axum::http::StatusCode;
use serde_json::{json, Value};
use veilgram_core::ports::ModerationStore;
use veilgram_testkit::TestDatabase;

pub(crate) async fn moderator(app: &TestApp) -> Account {
    let account = app.signup(None).await;
    let id = account.user_id.parse().unwrap();
    assert!(app.store.set_role(id, "moderator").await.unwrap());
    account
}

pub(crate) async fn report(app: &TestApp, path: &str, reason: &str, by: &Account) {
    let answer = app
        .post(path, json!({ "reason": reason }), Some(&by.access_token))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
}

pub(crate) async fn queue(app: &TestApp, query: &str, token: &str) -> Value {
    let answer = app
        .get(&format!("/api/v1/admin/reports{query}"), Some(token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

pub(crate) async fn resolve(
    app: &TestApp,
    report_id: &str,
    action: &str,
    token: &str,
) -> StatusCode {
    app.post(
        &format!("/api/v1/admin/reports/{report_id}/resolve"),
        json!({ "action": action }),
        Some(token),
    )
    .await
    .status
}

async fn notification_types(app: &TestApp, account: &Account) -> Vec<Value> {
    app.drain_events().await;
    let list = app
        .get("/api/v1/notifications", Some(&account.access_token))
        .await;
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| json!([item["type"], item["post_id"], item["actor"]]))
        .collect()
}

async fn moderators_work_through_grouped_reports(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("author")).await;
    let readers = [app.signup(None).await, app.signup(None).await];
    let judge = moderator(&app).await;
    let post = app
        .post_text(&author.access_token, "buy cheap pills", "public")
        .await;
    let comment = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "rude words" }),
            Some(&author.access_token),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    report(
        &app,
        &format!("/api/v1/posts/{post}/report"),
        "spam",
        &readers[0],
    )
    .await;
    report(
        &app,
        &format!("/api/v1/posts/{post}/report"),
        "abuse",
        &readers[1],
    )
    .await;
    report(
        &app,
        &format!("/api/v1/comments/{comment}/report"),
        "abuse",
        &readers[0],
    )
    .await;

    // Members see no queue and decide nothing.
    let refused = app
        .get("/api/v1/admin/reports", Some(&readers[0].access_token))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        app.get("/api/v1/admin/reports", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&judge.access_token).await.body["role"], "moderator");
    assert_eq!(app.me(&author.access_token).await.body["role"], "member");

    // Two groups, oldest first, one page at a time.
    let first = queue(&app, "?limit=1", &judge.access_token).await;
    let group = &first["items"][0];
    assert_eq!(group["target_kind"], "post");
    assert_eq!(group["post_id"], post.as_str());
    assert_eq!(group["author_id"], author.user_id.as_str());
    assert_eq!(group["text"], "buy cheap pills");
    assert_eq!(group["reports"], 2);
    assert_eq!(group["reasons"], json!({ "abuse": 1, "spam": 1 }));
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = queue(
        &app,
        &format!("?limit=1&cursor={cursor}"),
        &judge.access_token,
    )
    .await;
    assert_eq!(second["items"][0]["target_kind"], "comment");
    assert_eq!(second["items"][0]["comment_id"], comment.as_str());
    assert!(second["next_cursor"].is_null());
    let tampered = app
        .get(
            &format!(
                "/api/v1/admin/reports?cursor={}x",
                &cursor[..cursor.len() - 1]
            ),
            Some(&judge.access_token),
        )
        .await;
    assert_eq!(tampered.status, StatusCode::BAD_REQUEST);

    let post_report = group["id"].as_str().unwrap().to_owned();
    let comment_report = second["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        resolve(&app, &post_report, "ban_forever", &judge.access_token).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        resolve(&app, &post_report, "hide", &readers[0].access_token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        resolve(&app, &readers[0].user_id, "hide", &judge.access_token).await,
        StatusCode::NOT_FOUND
    );

    // Hide the post: gone for everyone but its author, who is told (not by whom).
    assert_eq!(
        resolve(&app, &post_report, "hide", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    let post_path = format!("/api/v1/posts/{post}");
    assert_eq!(
        app.get(&post_path, Some(&readers[1].access_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let own = app.get(&post_path, Some(&author.access_token)).await;
    assert_eq!(own.body["moderation"]["state"], "hidden");
    assert_eq!(
        notification_types(&app, &author).await,
        vec![json!(["moderation", post, null])]
    );
    // Its reports are closed: resolving again finds nothing.
    assert_eq!(
        resolve(&app, &post_report, "dismiss", &judge.access_token).await,
        StatusCode::NOT_FOUND
    );

    // "Hide" on a comment deletes it.
    assert_eq!(
        resolve(&app, &comment_report, "hide", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    let comments = app
        .get(
            &format!("/api/v1/posts/{post}/comments"),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(
        comments.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        comments.text
    );
    assert!(queue(&app, "", &judge.access_token).await["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

async fn dismissing_deleting_and_suspending(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(Some("spammer")).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let fine = app
        .post_text(&author.access_token, "a fine post", "public")
        .await;
    let bad = app
        .post_text(&author.access_token, "a bad post", "public")
        .await;
    let worse = app
        .post_text(&author.access_token, "a worse post", "public")
        .await;
    for post in [&fine, &bad, &worse] {
        report(
            &app,
            &format!("/api/v1/posts/{post}/report"),
            "spam",
            &reader,
        )
        .await;
    }
    let ids: Vec<String> = queue(&app, "", &judge.access_token).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);

    // Dismissed: nothing changes, nobody is told.
    assert_eq!(
        resolve(&app, &ids[0], "dismiss", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{fine}"), Some(&reader.access_token))
            .await
            .status,
        StatusCode::OK
    );
    assert!(notification_types(&app, &author).await.is_empty());

    // Deleted as its author would delete it; the notice links nothing.
    assert_eq!(
        resolve(&app, &ids[1], "delete", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{bad}"), Some(&author.access_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        notification_types(&app, &author).await,
        vec![json!(["moderation", null, null])]
    );

    // Suspended: signed out at once, cannot sign in again, their content hidden.
    assert_eq!(
        resolve(&app, &ids[2], "suspend_author", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.me(&author.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&author.user_id, &author.recovery_key)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&author.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{fine}"), Some(&reader.access_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", author.user_id), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A moderator may also delete any post they can see directly; a member may not.
    let other = app.post_text(&reader.access_token, "mine", "public").await;
    assert_eq!(
        app.delete(&format!("/api/v1/posts/{other}"), &author.access_token)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let member = app.signup(None).await;
    assert_eq!(
        app.delete(&format!("/api/v1/posts/{other}"), &member.access_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/api/v1/posts/{other}"), &judge.access_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

/// The application layer's moderation, called as an automatic moderation consumer would: by
/// the system, with no moderator account. It closes the reports, hides the post from everyone
/// but its author and tells the author; an ordinary account calling it is refused.
async fn the_system_moderates_without_a_moderator_account(database: &TestDatabase) {
    use veilgram_core::ports::{Actor, ModerationAction};
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let post = app
        .post_text(&author.access_token, "flagged automatically", "public")
        .await;
    report(
        &app,
        &format!("/api/v1/posts/{post}/report"),
        "abuse",
        &reader,
    )
    .await;
    let groups = queue(&app, "", &judge.access_token).await;
    let report_id: veilgram_core::ReportId =
        groups["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let member = Actor::User(reader.user_id.parse().unwrap());
    assert!(app
        .app
        .moderate(member, report_id, ModerationAction::Hide)
        .await
        .is_err());
    app.app
        .moderate(Actor::System, report_id, ModerationAction::Hide)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), Some(&reader.access_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), Some(&author.access_token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        queue(&app, "", &judge.access_token).await["items"],
        json!([])
    );
    assert_eq!(
        notification_types(&app, &author).await,
        vec![json!(["moderation", post, null])]
    );
}

/// The worst text is refused at the write, by the keyword rules, with the category and never
/// the word; nothing of it is stored; what the policy only warns about is written.
async fn the_worst_text_is_refused_at_the_write_and_nothing_is_stored(database: &TestDatabase) {
    use axum::http::Method;
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let token = Some(author.access_token.as_str());
    let refused = |answer: &crate::helpers::TestResponse, field: &str| {
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.text
        );
        assert_eq!(answer.body["error"]["code"], "blocked_by_moderation");
        assert_eq!(answer.body["error"]["field"], field);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("slur"), "{message}");
        assert!(!message.contains("n1gg3r"), "the word is never repeated");
    };
    let answer = app
        .post("/api/v1/posts", json!({ "text": "you n1gg3r" }), token)
        .await;
    refused(&answer, "text");
    assert_eq!(app.me(&author.access_token).await.body["posts_count"], 0);

    let ordinary = app
        .post(
            "/api/v1/posts",
            json!({ "text": "시발점에서 다시 시작" }),
            token,
        )
        .await;
    assert_eq!(ordinary.status, StatusCode::CREATED, "{}", ordinary.text);
    let post = ordinary.body["id"].as_str().unwrap().to_owned();
    let warned = app
        .post("/api/v1/posts", json!({ "text": "시 1 발 진짜" }), token)
        .await;
    assert_eq!(
        warned.status,
        StatusCode::CREATED,
        "profanity only warns by default"
    );

    let edit = app
        .call(
            Method::PATCH,
            &format!("/api/v1/posts/{post}"),
            Some(json!({ "text": "you n1gg3r" })),
            token,
        )
        .await;
    refused(&edit, "text");
    let kept = app.get(&format!("/api/v1/posts/{post}"), token).await;
    assert_eq!(kept.body["text"], "시발점에서 다시 시작");

    let comment = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "n i g g e r" }),
            token,
        )
        .await;
    refused(&comment, "text");
    let comments = app
        .get(&format!("/api/v1/posts/{post}/comments"), token)
        .await;
    assert_eq!(comments.body["items"], json!([]));

    let status = app
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(json!({ "status_message": "f a g g o t" })),
            token,
        )
        .await;
    refused(&status, "status_message");
    assert_eq!(
        app.me(&author.access_token).await.body["status_message"],
        ""
    );

    // An operator who blocks profanity too.
    let strict = TestApp::with_options(
        database,
        crate::helpers::Options {
            moderation: veilgram_classify::Policy::parse("profanity=block").unwrap(),
            ..Default::default()
        },
    )
    .await;
    let writer = strict.signup(None).await;
    let answer = strict
        .post(
            "/api/v1/posts",
            json!({ "text": "시 1 발 진짜" }),
            Some(&writer.access_token),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("profanity"));
}

async fn moderation_of(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let answer = app.get(path, Some(token)).await;
    (answer.status, answer.body["moderation"].clone())
}

async fn log_entries(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app
        .get("/api/v1/admin/moderation-log?limit=50", Some(token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().unwrap().clone()
}

/// What is written is classified after the write, by the system: profanity is warned about
/// (with the reason, for every reader), an edit that cleans it lifts the warning, and every
/// decision is in the moderators' log with its rule and score.
async fn automatic_moderation_warns_and_an_edit_lifts_it(database: &TestDatabase) {
    use axum::http::Method;
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let post = app
        .post(
            "/api/v1/posts",
            json!({ "text": "시 1 발 진짜 짜증나" }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    assert_eq!(post.body["moderation"], json!({ "state": "visible" }));
    let path = format!("/api/v1/posts/{}", post.body["id"].as_str().unwrap());
    app.drain_events().await;
    assert_eq!(
        moderation_of(&app, &path, &reader.access_token).await,
        (
            StatusCode::OK,
            json!({ "state": "warned", "reason": "profanity" })
        )
    );
    assert_eq!(
        notification_types(&app, &author).await,
        vec![json!(["moderation", post.body["id"], null])]
    );
    let log = log_entries(&app, &judge.access_token).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["decision"], "warn");
    assert_eq!(log[0]["category"], "profanity");
    assert_eq!(log[0]["rule"], "ko-profanity");
    assert_eq!(log[0]["score"], 1.0);
    assert_eq!(log[0]["by"], "system");
    assert_eq!(log[0]["post_id"], post.body["id"]);
    // Warned, not queued: nothing for the moderators to judge.
    assert_eq!(
        queue(&app, "", &judge.access_token).await["items"],
        json!([])
    );
    // Redelivered events change nothing.
    app.drain_events().await;
    assert_eq!(log_entries(&app, &judge.access_token).await.len(), 1);

    // The author appeals, once per decision; nobody else can, and a note has a limit.
    let appeal = format!("{path}/appeal");
    let long_note = "가".repeat(501);
    let too_long = app
        .post(
            &appeal,
            json!({ "note": long_note }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_long.body["error"]["field"], "note");
    let foreign = app
        .post(&appeal, json!({}), Some(&reader.access_token))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let filed = app
        .post(
            &appeal,
            json!({ "note": "욕이 아니라 인용이에요" }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(filed.status, StatusCode::ACCEPTED, "{}", filed.text);
    let again = app
        .post(&appeal, json!({}), Some(&author.access_token))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["code"], "already_appealed");
    let groups = queue(&app, "", &judge.access_token).await["items"].clone();
    assert_eq!(groups[0]["post_id"], post.body["id"]);
    assert_eq!(groups[0]["reasons"], json!({ "appeal": 1 }));
    assert_eq!(groups.as_array().unwrap().len(), 1);

    let edit = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "text": "좋은 하루 보내세요" })),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
    app.drain_events().await;
    assert_eq!(
        moderation_of(&app, &path, &reader.access_token).await,
        (StatusCode::OK, json!({ "state": "visible" }))
    );
    let log = log_entries(&app, &judge.access_token).await;
    assert_eq!(log[0]["decision"], "allow", "newest first: {log:?}");
    let nothing = app
        .post(&appeal, json!({}), Some(&author.access_token))
        .await;
    assert_eq!(nothing.status, StatusCode::CONFLICT);
    assert_eq!(nothing.body["error"]["code"], "nothing_to_appeal");
    // The log is for moderators only.
    let refused = app
        .get("/api/v1/admin/moderation-log", Some(&reader.access_token))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

/// Under a policy that hides toxicity and queues profanity: a toxic post is hidden from
/// everyone but its author (who sees why) and waits in the queue, where a moderator's dismissal
/// shows it again; a toxic comment is hidden the same way; queued profanity stays visible.
async fn automatic_moderation_hides_pending_review(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        crate::helpers::Options {
            moderation: veilgram_classify::Policy::parse("toxicity=hide,profanity=queue").unwrap(),
            ..Default::default()
        },
    )
    .await;
    let author = app.signup(None).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let toxic = app
        .post(
            "/api/v1/posts",
            json!({ "text": "you are a stupid idiot, shut up" }),
            Some(&author.access_token),
        )
        .await;
    let toxic_id = toxic.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/posts/{toxic_id}");
    let queued = app
        .post(
            "/api/v1/posts",
            json!({ "text": "시 1 발 진짜" }),
            Some(&author.access_token),
        )
        .await;
    let queued_id = queued.body["id"].as_str().unwrap().to_owned();
    let clean = app
        .post(
            "/api/v1/posts",
            json!({ "text": "오늘 날씨가 좋네요" }),
            Some(&author.access_token),
        )
        .await;
    let clean_id = clean.body["id"].as_str().unwrap().to_owned();
    let comment = app
        .post(
            &format!("/api/v1/posts/{clean_id}/comments"),
            json!({ "text": "shut up you stupid idiot" }),
            Some(&reader.access_token),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED, "{}", comment.text);
    app.drain_events().await;

    assert_eq!(
        app.get(&path, Some(&reader.access_token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        moderation_of(&app, &path, &author.access_token).await,
        (
            StatusCode::OK,
            json!({ "state": "hidden", "reason": "toxicity" })
        )
    );
    assert_eq!(
        moderation_of(
            &app,
            &format!("/api/v1/posts/{queued_id}"),
            &reader.access_token
        )
        .await,
        (StatusCode::OK, json!({ "state": "visible" }))
    );
    let comments_path = format!("/api/v1/posts/{clean_id}/comments");
    let seen_by_author = app.get(&comments_path, Some(&author.access_token)).await;
    assert_eq!(
        seen_by_author.body["items"],
        json!([]),
        "hidden from others"
    );
    let seen_by_writer = app.get(&comments_path, Some(&reader.access_token)).await;
    assert_eq!(
        seen_by_writer.body["items"][0]["moderation"],
        json!({ "state": "hidden", "reason": "toxicity" })
    );
    let comment_id = comment.body["id"].as_str().unwrap();
    let appealed = app
        .post(
            &format!("/api/v1/comments/{comment_id}/appeal"),
            json!({}),
            Some(&reader.access_token),
        )
        .await;
    assert_eq!(appealed.status, StatusCode::ACCEPTED, "{}", appealed.text);

    let groups = queue(&app, "", &judge.access_token).await["items"].clone();
    let queued_targets: Vec<(&str, &str)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            let appealed = group["target_kind"] == "comment";
            let reasons = if appealed {
                json!({ "appeal": 1, "automatic": 1 })
            } else {
                json!({ "automatic": 1 })
            };
            assert_eq!(group["reasons"], reasons);
            (
                group["target_kind"].as_str().unwrap(),
                group["post_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        queued_targets,
        vec![
            ("post", toxic_id.as_str()),
            ("post", queued_id.as_str()),
            ("comment", clean_id.as_str())
        ]
    );
    let toxic_group = groups[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        resolve(&app, &toxic_group, "dismiss", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        moderation_of(&app, &path, &reader.access_token).await,
        (StatusCode::OK, json!({ "state": "visible" })),
        "a dismissal shows it again"
    );
    let log = log_entries(&app, &judge.access_token).await;
    assert_eq!(
        (log[0]["decision"].as_str(), log[0]["by"].as_str()),
        (Some("dismiss"), Some("moderator"))
    );
    let automatic: Vec<(&str, &str)> = log[1..]
        .iter()
        .map(|entry| {
            (
                entry["decision"].as_str().unwrap(),
                entry["category"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        automatic,
        vec![
            ("hide", "toxicity"),
            ("queue", "profanity"),
            ("hide", "toxicity")
        ]
    );
}

/// Reports that weigh enough hide an item pending review; reports from brand-new accounts
/// weigh nothing, so a brigade of them cannot.
async fn weighty_reports_hide_and_fresh_brigades_do_not(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let judge = moderator(&app).await;
    let target = app
        .post(
            "/api/v1/posts",
            json!({ "text": "평범한 글입니다" }),
            Some(&author.access_token),
        )
        .await;
    let path = format!("/api/v1/posts/{}", target.body["id"].as_str().unwrap());
    // Ten accounts made a minute ago: their reports are queued, nothing more.
    for _ in 0..10 {
        let fresh = app.signup(None).await;
        report(&app, &format!("{path}/report"), "abuse", &fresh).await;
    }
    app.drain_events().await;
    let reader = app.signup(None).await;
    assert_eq!(
        app.get(&path, Some(&reader.access_token)).await.status,
        StatusCode::OK,
        "a brigade of fresh accounts hides nothing"
    );
    // Three established accounts with no record: that is the threshold.
    for n in 0..3 {
        let established = app.signup(None).await;
        database.backdate_account(&established.user_id, 30).await;
        report(&app, &format!("{path}/report"), "abuse", &established).await;
        app.drain_events().await;
        let status = app.get(&path, Some(&reader.access_token)).await.status;
        let expected = if n < 2 {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(status, expected, "after {} established reports", n + 1);
    }
    let (_, moderation) = moderation_of(&app, &path, &author.access_token).await;
    assert_eq!(
        moderation,
        json!({ "state": "hidden", "reason": "reports" })
    );
    let log = log_entries(&app, &judge.access_token).await;
    assert_eq!(
        (log[0]["decision"].as_str(), log[0]["rule"].as_str()),
        (Some("hide"), Some("report-threshold"))
    );
    assert!(log[0]["score"].as_f64().unwrap() >= 3.0);
}

/// Spam without personal data: the fifth near copy of a text in a day is hidden pending review
/// (reason `spam`), whoever posts it; short everyday texts are never copies; an account younger
/// than a day may not post a pile of links.
async fn near_copies_and_new_accounts_links_are_spam(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let mut paths = Vec::new();
    for n in 0..6 {
        let spammer = app.signup(None).await;
        // Spacing and case change nothing; neither does one letter more.
        let text = if n % 2 == 0 {
            "지금 가입하면 포인트 만원 지급! 프로필 링크 확인 FAST".to_owned()
        } else {
            "지금  가입하면 포인트 만원 지급!! 프로필 링크 확인 fastt".to_owned()
        };
        let post = app
            .post(
                "/api/v1/posts",
                json!({ "text": text }),
                Some(&spammer.access_token),
            )
            .await;
        assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
        paths.push(format!(
            "/api/v1/posts/{}",
            post.body["id"].as_str().unwrap()
        ));
        // Short everyday words, from everyone: never spam.
        app.post(
            "/api/v1/posts",
            json!({ "text": "좋아요 ㅋㅋ" }),
            Some(&spammer.access_token),
        )
        .await;
        app.drain_events().await;
    }
    let mut statuses = Vec::new();
    for path in &paths {
        statuses.push(
            app.get(path, Some(&reader.access_token))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 404, 404],
        "from the fifth copy on"
    );
    let log = log_entries(&app, &judge.access_token).await;
    assert!(
        log.iter().all(|entry| entry["category"] == "spam"),
        "{log:?}"
    );
    assert_eq!(log[0]["rule"], "near-copies-accounts");

    let fresh = app.signup(None).await;
    let links = app
        .post(
            "/api/v1/posts",
            json!({ "text": "deals https://a.example/1 https://b.example/2 https://c.example/3" }),
            Some(&fresh.access_token),
        )
        .await;
    let path = format!("/api/v1/posts/{}", links.body["id"].as_str().unwrap());
    app.drain_events().await;
    assert_eq!(
        moderation_of(&app, &path, &fresh.access_token).await,
        (
            StatusCode::OK,
            json!({ "state": "hidden", "reason": "spam" })
        )
    );
    assert_eq!(
        log_entries(&app, &judge.access_token).await[0]["rule"],
        "new-account-links"
    );
}

veilgram_testkit::for_each_engine!(
    near_copies_and_new_accounts_links_are_spam,
    weighty_reports_hide_and_fresh_brigades_do_not,
    automatic_moderation_warns_and_an_edit_lifts_it,
    automatic_moderation_hides_pending_review,
    the_worst_text_is_refused_at_the_write_and_nothing_is_stored,
    the_system_moderates_without_a_moderator_account,
    moderators_work_through_grouped_reports,
    dismissing_deleting_and_suspending,
);
