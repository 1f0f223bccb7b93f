//! Search through the API: Korean and English fragments, the caller's visibility, paging, bad
//! input.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;
use veilgram_testkit::TestDatabase;

async fn found(app: &TestApp, query: &str, token: Option<&str>) -> Vec<String> {
    found_of(app, "posts", query, token).await
}

async fn accounts(app: &TestApp, query: &str, token: Option<&str>) -> Vec<String> {
    found_of(app, "users", query, token).await
}

/// The ids of what a search of `kind` answers.
async fn found_of(app: &TestApp, kind: &str, query: &str, token: Option<&str>) -> Vec<String> {
    let path = format!("/api/v1/search?type={kind}&q={}", urlencode(query));
    let response = app.get(&path, token).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{query}: {}",
        response.text
    );
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn posts_are_found_by_korean_and_english_fragments(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let token = author.access_token.as_str();
    let seoul = app
        .post_text(token, "서울에서 찍은 #야경 사진, photography", "public")
        .await;
    let insta = app.post_text(token, "인스타그램 말고 여기", "public").await;
    app.drain_events().await;
    assert_eq!(
        found(&app, "서울", None).await,
        vec![seoul.clone()],
        "particle"
    );
    assert_eq!(
        found(&app, "스타", None).await,
        vec![insta.clone()],
        "fragment"
    );
    assert_eq!(
        found(&app, "#야경", None).await,
        vec![seoul.clone()],
        "hashtag"
    );
    assert_eq!(
        found(&app, "ＰＨＯＴＯ", None).await,
        vec![seoul.clone()],
        "width, case"
    );
    assert!(found(&app, "부산", None).await.is_empty());
    // An edit is found by its new words only; a deleted post is not found at all.
    let edited = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/posts/{insta}"),
            Some(json!({ "text": "부산 바다" })),
            Some(token),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    app.delete(&format!("/api/v1/posts/{seoul}"), token).await;
    app.drain_events().await;
    assert!(found(&app, "스타", None).await.is_empty());
    assert_eq!(found(&app, "부산", None).await, vec![insta]);
    assert!(found(&app, "서울", None).await.is_empty());
}

async fn search_shows_only_what_the_caller_may_see(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let follower = app.signup(None).await;
    let stranger = app.signup(None).await;
    let blocked = app.signup(None).await;
    for fan in [&follower, &blocked] {
        app.follow(&fan.access_token, &author.user_id).await;
    }
    let public = app
        .post_text(&author.access_token, "고양이 공개", "public")
        .await;
    let private = app
        .post_text(&author.access_token, "고양이 비공개", "followers")
        .await;
    app.post(
        &format!("/api/v1/users/{}/block", blocked.user_id),
        json!({}),
        Some(&author.access_token),
    )
    .await;
    app.drain_events().await;
    let mut both = found(&app, "고양이", Some(&follower.access_token)).await;
    both.sort();
    let mut expected = vec![public.clone(), private.clone()];
    expected.sort();
    assert_eq!(both, expected, "a follower finds followers-only posts");
    assert_eq!(found(&app, "고양이", None).await, vec![public.clone()]);
    assert_eq!(
        found(&app, "고양이", Some(&stranger.access_token)).await,
        vec![public.clone()]
    );
    assert!(
        found(&app, "고양이", Some(&blocked.access_token))
            .await
            .is_empty(),
        "nothing between people who blocked each other"
    );
    // A deleted account leaves nothing in the index.
    app.delete("/api/v1/users/me", &author.access_token).await;
    app.drain_events().await;
    assert!(found(&app, "고양이", Some(&follower.access_token))
        .await
        .is_empty());
}

/// A post a moderator hid, and every post of a suspended author, leave the index (the author
/// still sees a hidden post on its own page).
async fn moderation_takes_posts_out_of_search(database: &TestDatabase) {
    use crate::moderation::{moderator, queue, report, resolve};
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let spammer = app.signup(Some("spammer_kim")).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let hidden = app
        .post_text(&author.access_token, "수상한 광고 hidden", "public")
        .await;
    let spam = app
        .post_text(&spammer.access_token, "수상한 스팸 suspended", "public")
        .await;
    app.drain_events().await;
    assert_eq!(found(&app, "수상한", None).await.len(), 2);
    assert_eq!(
        accounts(&app, "spammer", None).await,
        vec![spammer.user_id.clone()]
    );
    for (post, action) in [(&hidden, "hide"), (&spam, "suspend_author")] {
        let path = format!("/api/v1/posts/{post}/report");
        report(&app, &path, "spam", &reader).await;
        let groups = queue(&app, "", &judge.access_token).await;
        let id = groups["items"][0]["id"].as_str().unwrap().to_owned();
        let resolved = resolve(&app, &id, action, &judge.access_token).await;
        assert_eq!(resolved, StatusCode::NO_CONTENT, "{action}");
    }
    app.drain_events().await;
    assert!(found(&app, "수상한", Some(&reader.access_token))
        .await
        .is_empty());
    assert!(found(&app, "수상한", None).await.is_empty());
    assert!(
        accounts(&app, "spammer", None).await.is_empty(),
        "nor the account"
    );
}

async fn search_pages_by_signed_cursor_and_refuses_bad_input(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let mut posted = Vec::new();
    for n in 0..5 {
        posted.push(
            app.post_text(&author.access_token, &format!("강아지 {n}"), "public")
                .await,
        );
    }
    app.drain_events().await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/search?q=%EA%B0%95%EC%95%84%EC%A7%80&sort=recent&limit=2".to_owned();
    loop {
        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for post in page.body["items"].as_array().unwrap() {
            seen.push(post["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                let other = app
                    .get(&format!("/api/v1/search?q=other&cursor={cursor}"), None)
                    .await;
                assert_eq!(
                    other.status,
                    StatusCode::BAD_REQUEST,
                    "a cursor of another search"
                );
                path = format!(
                    "/api/v1/search?q=%EA%B0%95%EC%95%84%EC%A7%80&sort=recent&limit=2&cursor={cursor}"
                );
            }
            None => break,
        }
    }
    posted.reverse();
    assert_eq!(seen, posted, "newest first, each once");
    for (path, field) in [
        ("/api/v1/search", None),
        ("/api/v1/search?q=", Some("q")),
        ("/api/v1/search?q=x&sort=best", Some("sort")),
        ("/api/v1/search?q=x&type=everything", Some("type")),
        ("/api/v1/search?q=x&limit=1000", Some("limit")),
        ("/api/v1/search?q=x&cursor=forged", Some("cursor")),
    ] {
        let refused = app.get(path, None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{path}");
        if let Some(field) = field {
            assert_eq!(refused.field(), field, "{path}");
        }
    }
    let long = format!("/api/v1/search?q={}", "a".repeat(201));
    assert_eq!(app.get(&long, None).await.field(), "q");
    for syntax in ["\"", "*", "AND (", "\\", "a:b", "%00"] {
        let response = app
            .get(&format!("/api/v1/search?q={}", urlencode(syntax)), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{syntax:?} is text");
    }
}

async fn suggest(app: &TestApp, typed: &str) -> Vec<(String, i64)> {
    let path = format!("/api/v1/search/hashtags/suggest?q={}", urlencode(typed));
    let response = app.get(&path, None).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{typed}: {}",
        response.text
    );
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["tag"].as_str().unwrap().to_owned(),
                item["uses"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn hashtags_complete_by_use_with_the_exact_tag_first(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let token = author.access_token.as_str();
    for text in [
        "#seoul #seoultrip",
        "#seoul",
        "#seoul #seo",
        "#a_b #axb",
        "#서울 #서울맛집",
        "#서울맛집",
    ] {
        app.post_text(token, text, "public").await;
    }
    app.post_text(token, "#seoulsecret #seoulsecret2", "followers")
        .await;
    let owned = |items: &[(&str, i64)]| -> Vec<(String, i64)> {
        items
            .iter()
            .map(|(tag, uses)| ((*tag).to_owned(), *uses))
            .collect()
    };
    assert_eq!(
        suggest(&app, "seo").await,
        owned(&[("seo", 1), ("seoul", 3), ("seoultrip", 1)]),
        "the exact tag first, then by use; followers-only posts are not counted"
    );
    assert_eq!(
        suggest(&app, "#ＳＥＯＵＬ").await,
        owned(&[("seoul", 3), ("seoultrip", 1)])
    );
    assert_eq!(
        suggest(&app, "서울").await,
        owned(&[("서울", 1), ("서울맛집", 2)])
    );
    assert_eq!(
        suggest(&app, "a_").await,
        owned(&[("a_b", 1)]),
        "_ is a letter"
    );
    assert!(suggest(&app, "%").await.is_empty());
    assert_eq!(
        app.get("/api/v1/search/hashtags/suggest?q=", None)
            .await
            .field(),
        "q"
    );
}

async fn set_status(app: &TestApp, token: &str, status: &str) {
    let changed = app
        .call(
            axum::http::Method::PATCH,
            "/api/v1/users/me",
            Some(json!({ "status_message": status })),
            Some(token),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
}

/// Accounts are found by fragments of their nickname and status message as soon as they sign
/// up or change them, ranked by followers on request; deactivated, blocked (either way) and
/// deleted accounts are not found, and a reactivated one is again.
async fn accounts_are_found_as_profiles_are_seen(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let mina = app.signup(Some("서울고양이")).await;
    let jun = app.signup(Some("고양이집사")).await;
    let viewer = app.signup(Some("viewer01")).await;
    set_status(&app, &mina.access_token, "부산에서 photography").await;
    app.follow(&viewer.access_token, &jun.user_id).await;
    app.drain_events().await;
    assert_eq!(
        accounts(&app, "부산", None).await,
        vec![mina.user_id.clone()],
        "status"
    );
    assert_eq!(
        accounts(&app, "PHOTO", None).await,
        vec![mina.user_id.clone()]
    );
    assert_eq!(
        accounts(&app, "고양이집사", None).await,
        vec![jun.user_id.clone()],
        "whole nickname"
    );
    let popular = app
        .get(
            "/api/v1/search?type=users&sort=popular&q=%EA%B3%A0%EC%96%91",
            None,
        )
        .await;
    assert_eq!(popular.status, StatusCode::OK, "{}", popular.text);
    assert_eq!(
        popular.body["items"][0]["id"],
        jun.user_id.as_str(),
        "most followed first"
    );
    assert_eq!(popular.body["items"][0]["nickname"], "고양이집사");
    assert!(
        found(&app, "부산", None).await.is_empty(),
        "posts are another type"
    );
    // A new status replaces the old one.
    set_status(&app, &mina.access_token, "제주 여행 중").await;
    app.drain_events().await;
    assert!(accounts(&app, "부산", None).await.is_empty());
    assert_eq!(
        accounts(&app, "제주", None).await,
        vec![mina.user_id.clone()]
    );
    // Blocks hide both ways; deactivation hides until the next login.
    app.post(
        &format!("/api/v1/users/{}/block", viewer.user_id),
        json!({}),
        Some(&mina.access_token),
    )
    .await;
    assert!(accounts(&app, "제주", Some(&viewer.access_token))
        .await
        .is_empty());
    assert!(accounts(&app, "viewer", Some(&mina.access_token))
        .await
        .is_empty());
    assert_eq!(accounts(&app, "제주", None).await.len(), 1);
    app.deactivate(&jun.access_token).await;
    app.drain_events().await;
    assert!(accounts(&app, "집사", None).await.is_empty(), "deactivated");
    let login = app.login(&jun.user_id, &jun.recovery_key).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    app.drain_events().await;
    assert_eq!(
        accounts(&app, "집사", None).await,
        vec![jun.user_id.clone()],
        "back"
    );
    app.delete("/api/v1/users/me", &mina.access_token).await;
    app.drain_events().await;
    assert!(accounts(&app, "제주", None).await.is_empty(), "deleted");
    let recent = app
        .get("/api/v1/search?type=users&sort=recent&q=a", None)
        .await;
    assert_eq!(recent.status, StatusCode::BAD_REQUEST);
    assert_eq!(recent.field(), "sort", "accounts have no sign-up order");
}

/// `type=hashtags` finds tags holding the text anywhere, ranked as suggestions are, in pages.
async fn hashtags_are_found_by_any_fragment_in_pages(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let token = author.access_token.as_str();
    for text in [
        "#인스타그램 #스타벅스",
        "#스타벅스",
        "#스타 #스타벅스",
        "#photostar",
    ] {
        app.post_text(token, text, "public").await;
    }
    let mut seen = Vec::new();
    let first = "/api/v1/search?type=hashtags&q=%EC%8A%A4%ED%83%80&limit=2";
    let mut path = first.to_owned();
    loop {
        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for item in page.body["items"].as_array().unwrap() {
            seen.push((
                item["tag"].as_str().unwrap().to_owned(),
                item["uses"].as_i64().unwrap(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<(String, i64)> = [("스타", 1), ("스타벅스", 3), ("인스타그램", 1)]
        .iter()
        .map(|(tag, uses)| ((*tag).to_owned(), *uses))
        .collect();
    assert_eq!(seen, expected, "the exact tag, then by use, then by name");
    let english = app
        .get("/api/v1/search?type=hashtags&q=%23STAR", None)
        .await;
    assert_eq!(
        english.body["items"][0]["tag"], "photostar",
        "{}",
        english.text
    );
    let forged = app
        .get("/api/v1/search?type=hashtags&q=x&cursor=forged", None)
        .await;
    assert_eq!(forged.field(), "cursor");
}

veilgram_testkit::for_each_engine!(
    accounts_are_found_as_profiles_are_seen,
    hashtags_are_found_by_any_fragment_in_pages,
    moderation_takes_posts_out_of_search,
    hashtags_complete_by_use_with_the_exact_tag_first,
    posts_are_found_by_korean_and_english_fragments,
    search_shows_only_what_the_caller_may_see,
    search_pages_by_signed_cursor_and_refuses_bad_input,
);
