//! The web client in real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver against a real `veilgram serve`: two people, two browsers. Every
//! scenario saves phone and desktop screenshots under the target directory and fails on any
//! console error or warning, which is where Content-Security-Policy violations appear.

mod webdriver;

use crate::{Server, StartOptions};
use serde_json::{json, Value};
use std::path::PathBuf;
use webdriver::{Browser, Driver, PHONE};

/// Where the screenshots go: `target/tmp/browser/<scenario>/`.
fn screenshots(scenario: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(scenario);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Stage {
    server: Server,
    driver: Driver,
    base: String,
    _data: tempfile::TempDir,
    profiles: tempfile::TempDir,
}

impl Stage {
    fn new() -> Self {
        Self::with_environment(Vec::new())
    }

    fn with_environment(environment: Vec<(&str, &str)>) -> Self {
        let data = tempfile::tempdir().unwrap();
        let server = Server::start(StartOptions {
            data_dir: Some(data.path()),
            environment,
            ..Default::default()
        });
        let base = format!("http://{}", server.address);
        Self {
            server,
            driver: Driver::start(),
            base,
            _data: data,
            profiles: tempfile::tempdir().unwrap(),
        }
    }

    async fn browser(&self, name: &str, language: &str) -> Browser {
        let profile = self.profiles.path().join(name);
        self.driver.browser(&profile, language, PHONE).await
    }

    async fn open(&self, browser: &Browser, route: &str) {
        browser.goto(&format!("{}/#{route}", self.base)).await;
    }
}

/// Signs up from the welcome screen, saves the key, and lands on the home feed.
async fn sign_up(stage: &Stage, browser: &Browser, nickname: &str) -> (String, String) {
    stage.open(browser, "/welcome").await;
    browser
        .find("#signup-nickname")
        .await
        .type_text(nickname)
        .await;
    browser.find("[data-testid=signup]").await.click().await;
    let user_id = browser.text("[data-testid=user-id]").await;
    let key = browser.text("[data-testid=recovery-key]").await;
    browser.find("[data-testid=key-saved]").await.click().await;
    browser
        .find("[data-testid=key-continue]")
        .await
        .click()
        .await;
    browser.find("[data-testid=feed]").await;
    (user_id, key)
}

impl Stage {
    /// Someone who only uses the API: (user id, access token).
    async fn api_account(&self, signup: Value) -> (String, String) {
        let (status, account) = self
            .server
            .request("POST", "/api/v1/auth/signup", Some(&signup), None)
            .await;
        assert_eq!(status, 201, "{account}");
        let field = |name: &str| account[name].as_str().unwrap().to_owned();
        (field("user_id"), field("access_token"))
    }

    /// Chooses a generated photo (`width`×`height`, with camera metadata) in a file input.
    async fn choose_photo(&self, browser: &Browser, input: &str, width: u32, height: u32) {
        let path = self
            .profiles
            .path()
            .join(format!("photo-{width}x{height}.jpg"));
        std::fs::write(
            &path,
            veilgram_testkit::samples::jpeg_with_metadata(width, height, 1),
        )
        .unwrap();
        browser
            .find(input)
            .await
            .type_text(path.to_str().unwrap())
            .await;
    }
}

/// Opens the composer and writes `text` in it.
async fn start_post(stage: &Stage, browser: &Browser, text: &str) {
    stage.open(browser, "/compose").await;
    browser
        .find("[data-testid=post-text]")
        .await
        .type_text(text)
        .await;
}

/// Publishes what the composer holds; the id of the post page it lands on.
async fn publish(browser: &Browser) -> String {
    browser
        .find("[data-testid=post-submit]")
        .await
        .click()
        .await;
    shown_post_id(browser).await
}

/// Writes a comment on the post page shown, and waits until the thread shows it.
async fn comment(browser: &Browser, text: &str) {
    browser
        .find("[data-testid=comment-text]")
        .await
        .type_text(text)
        .await;
    browser
        .find("[data-testid=comment-submit]")
        .await
        .click()
        .await;
    browser.wait_for_text("[data-testid=thread]", text).await;
}

/// The id of the post the browser shows (`#/post/<id>`).
async fn shown_post_id(browser: &Browser) -> String {
    browser
        .wait_until("location.hash.startsWith('#/post/')", "a post page")
        .await;
    browser
        .script("return location.hash.slice('#/post/'.length);", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_post_follow_comment_and_vote_live() {
    let stage = Stage::new();
    let shots = screenshots("social");
    let alice = stage.browser("alice", "en-US").await;
    let bora = stage.browser("bora", "en-US").await;
    let (alice_id, _) = sign_up(&stage, &alice, "Alice").await;
    sign_up(&stage, &bora, "Bora").await;

    // Alice posts a photo with a description, a hashtag and a poll.
    start_post(&stage, &alice, "Sunset over the river #sunset").await;
    stage
        .choose_photo(&alice, "[data-testid=media-picker]", 640, 480)
        .await;
    alice
        .find("[data-testid=alt-text]")
        .await
        .type_text("A red sun over dark water")
        .await;
    alice.wait_for_text(".uploads", "Ready.").await;
    alice.find("[data-testid=poll-on]").await.click().await;
    alice
        .find("[data-testid=poll-option-0]")
        .await
        .type_text("Yes")
        .await;
    alice
        .find("[data-testid=poll-option-1]")
        .await
        .type_text("No")
        .await;
    alice.snap(&shots, "01-composer").await;
    let post_id = publish(&alice).await;
    alice.find("[data-testid=poll]").await;
    let alt = alice
        .script(
            "return document.querySelector('.media-grid img').alt;",
            json!([]),
        )
        .await;
    assert_eq!(alt, json!("A red sun over dark water"));

    // Bora finds it by a fragment of a word in the top bar's search box, then by its
    // hashtag, and follows Alice from her profile.
    stage.open(&bora, "/").await;
    bora.find("#tag-search").await.type_text("rive").await;
    bora.script(
        "document.querySelector('form.tag-search').requestSubmit();",
        json!([]),
    )
    .await;
    bora.wait_for_text("[data-testid=feed]", "Sunset over the river")
        .await;
    // The other tabs: accounts by a fragment of a nickname, hashtags by a fragment of a tag;
    // and the search box completes a #tag as it is typed.
    bora.find("[data-testid=search-tab-users]")
        .await
        .click()
        .await;
    bora.wait_for_text("h1", "Search: rive").await;
    stage.open(&bora, "/search/lic/users").await;
    bora.wait_for_text("[data-testid=person-row]", "Alice")
        .await;
    stage.open(&bora, "/search/unse/hashtags").await;
    bora.wait_for_text("[data-testid=tag-row]", "#sunset").await;
    let search = bora.find("#tag-search").await;
    search.clear().await;
    search.type_text("#suns").await;
    bora.wait_for_text("[data-testid=search-suggestions]", "#sunset")
        .await;
    stage.open(&bora, "/tag/sunset").await;
    bora.wait_for_text("[data-testid=feed]", "Sunset over the river")
        .await;
    bora.find(".post .author").await.click().await;
    bora.wait_for_text("[data-testid=profile-name]", "Alice")
        .await;
    bora.find("[data-testid=follow]").await.click().await;
    bora.wait_for_text("[data-testid=follow]", "Unfollow").await;
    bora.snap(&shots, "02-profile").await;

    // Bora on her home feed sees Alice's next post arrive live.
    stage.open(&bora, "/").await;
    bora.find("[data-testid=feed]").await;
    // The composer completes the hashtag being typed from the tags people use.
    start_post(&stage, &alice, "Second post of the day #suns").await;
    alice
        .wait_for_text("[data-testid=tag-suggestions]", "#sunset")
        .await;
    alice
        .find("[data-testid=tag-suggestions] button")
        .await
        .click()
        .await;
    let completed = alice
        .script(
            "return document.querySelector('[data-testid=post-text]').value;",
            json!([]),
        )
        .await;
    assert_eq!(completed, json!("Second post of the day #sunset "));
    publish(&alice).await;
    bora.wait_for_text("[data-testid=new-posts]", "1 new post")
        .await;
    bora.snap(&shots, "03-new-posts-bar").await;
    bora.find("[data-testid=new-posts]").await.click().await;
    bora.wait_for_text("[data-testid=feed]", "Second post of the day")
        .await;
    bora.wait_for_text("[data-testid=feed]", "Sunset over the river")
        .await;

    // Alice watches her first post; Bora votes and comments on it.
    stage.open(&alice, &format!("/post/{post_id}")).await;
    alice.find("[data-testid=thread]").await;
    stage.open(&bora, &format!("/post/{post_id}")).await;
    bora.find("[data-testid=vote]").await.click().await;
    bora.wait_for_text("[data-testid=poll-total]", "1 vote")
        .await;
    comment(&bora, "Beautiful colours!").await;

    // Alice sees the comment, the tally and the notification arrive without reloading.
    alice
        .wait_for_text("[data-testid=thread]", "Beautiful colours!")
        .await;
    alice
        .wait_for_text("[data-testid=poll-total]", "1 vote")
        .await;
    alice.wait_for_text("[data-testid=poll]", "100%").await;
    alice
        .wait_for_text("[data-testid=comment-count]", "1 comment")
        .await;
    alice
        .wait_until(
            "!document.querySelector('[data-testid=unread-badge]').hidden",
            "the unread badge",
        )
        .await;
    alice.snap(&shots, "04-live-comment-and-tally").await;
    // Readable in both themes (WCAG AA contrast for all text on the screen).
    for scheme in ["light", "dark"] {
        alice.color_scheme(scheme).await;
        let low = alice.low_contrast().await;
        assert!(low.is_empty(), "{scheme}: {low:?}");
    }
    alice.snap(&shots, "04-live-comment-and-tally-dark").await;
    alice.color_scheme("light").await;
    alice
        .find("a[data-path='/notifications']")
        .await
        .click()
        .await;
    alice
        .wait_for_text("[data-testid=notifications]", "Bora commented on your post")
        .await;
    alice
        .wait_until(
            "document.querySelector('[data-testid=unread-badge]').hidden",
            "the badge cleared",
        )
        .await;
    alice.snap(&shots, "05-notifications").await;

    // A fresh load of the app, signed in and with the browser cache off (every file fetched
    // again): how long until the first feed shows.
    alice.cdp("Network.enable", json!({})).await;
    alice
        .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    alice.goto(&format!("{}/", stage.base)).await;
    alice
        .wait_until(
            "performance.getEntriesByName('veilgram:first-feed').length > 0",
            "the first feed",
        )
        .await;
    let first_feed = alice
        .script(
            "return performance.getEntriesByName('veilgram:first-feed')[0].startTime;",
            json!([]),
        )
        .await
        .as_f64()
        .unwrap();
    let fetched = alice
        .script(
            "return performance.getEntriesByType('resource').filter((r) => r.transferSize > 0).length;",
            json!([]),
        )
        .await;
    println!(
        "time from navigation to the first feed rendered (browser cache off, {fetched} requests): \
         {first_feed:.0} ms"
    );
    assert!(first_feed < 1000.0, "first feed after {first_feed} ms");

    for browser in [&alice, &bora] {
        browser.assert_clean_console().await;
    }
    assert!(alice_id.len() == 36);
    alice.quit().await;
    bora.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_threads_show_aliases_that_only_alias_blocks_hide() {
    let stage = Stage::new();
    let shots = screenshots("anonymous-and-block");
    let alice = stage.browser("alice", "en-US").await;
    let bora = stage.browser("bora", "en-US").await;
    sign_up(&stage, &alice, "Alice").await;
    sign_up(&stage, &bora, "Bora").await;

    start_post(&stage, &alice, "Ask me anything #ama").await;
    alice
        .find("[data-testid=anonymous-thread]")
        .await
        .click()
        .await;
    let post_id = publish(&alice).await;

    stage.open(&bora, &format!("/post/{post_id}")).await;
    comment(&bora, "Who are you?").await;
    alice
        .wait_for_text("[data-testid=thread]", "Who are you?")
        .await;
    comment(&alice, "Nobody you know").await;
    let aliases = alice
        .script(
            "return [...document.querySelectorAll('[data-testid=alias]')].map((e) => e.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(
        aliases,
        json!(["#1", "OP"]),
        "newest-first or oldest-first, both aliased"
    );
    let thread = alice.text("[data-testid=thread]").await;
    assert!(
        !thread.contains("Bora"),
        "no nickname in an anonymous thread: {thread}"
    );
    alice.snap(&shots, "01-anonymous-thread").await;

    // Bora blocks Alice from the post's author link.
    bora.find(".post .author").await.click().await;
    bora.find("[data-testid=block]").await.click().await;
    bora.find("[data-testid=confirm]").await.click().await;
    bora.wait_until("location.hash === '#/'", "home after blocking")
        .await;
    stage.open(&bora, "/tag/ama").await;
    bora.wait_for_text(".feed-end", "No posts here yet.").await;
    bora.snap(&shots, "02-blocked-feed").await;
    // Alice still sees #1's comment under her post: hiding it would tell her that #1 is the
    // account that blocked her.
    alice.reload().await;
    alice
        .wait_for_text("[data-testid=thread]", "Who are you?")
        .await;
    // She blocks #1 in her thread instead: the comment is hidden from her, and her list of
    // blocked commenters names the thread and the alias, never Bora.
    alice.find("[data-testid=block-alias]").await.click().await;
    alice.find("[data-testid=confirm]").await.click().await;
    alice
        .wait_for_text("#toast", "#1 is blocked in this thread.")
        .await;
    alice
        .wait_until(
            "!document.querySelector('[data-testid=thread]').textContent.includes('Who are you?')",
            "#1's comment hidden",
        )
        .await;
    let thread = alice.text("[data-testid=thread]").await;
    assert!(thread.contains("Nobody you know"), "{thread}");
    stage.open(&alice, "/settings").await;
    alice
        .wait_until(
            "document.querySelector('[data-testid=alias-blocks]')",
            "the settings page",
        )
        .await;
    // The list loads as it comes into view.
    alice
        .script(
            "document.querySelector('[data-testid=alias-blocks]').scrollIntoView(); return true;",
            json!([]),
        )
        .await;
    alice
        .wait_for_text("[data-testid=alias-blocks]", "#1 in a thread")
        .await;
    assert!(!alice
        .text("[data-testid=alias-blocks]")
        .await
        .contains("Bora"));
    alice.snap(&shots, "03-blocked-alias").await;
    alice
        .find("[data-testid=unblock-alias]")
        .await
        .click()
        .await;
    alice
        .wait_for_text("#toast", "#1 is unblocked in that thread.")
        .await;

    // Bora finds Alice among her blocked accounts and unblocks her: the post is back.
    stage.open(&bora, "/settings").await;
    bora.wait_for_text("[data-testid=blocked]", "Alice").await;
    bora.snap(&shots, "04-blocked-accounts").await;
    bora.find("[data-testid=unblock]").await.click().await;
    bora.wait_for_text("#toast", "Alice is unblocked.").await;
    stage.open(&bora, "/tag/ama").await;
    bora.wait_for_text("[data-testid=feed]", "Ask me anything")
        .await;

    for browser in [&alice, &bora] {
        browser.assert_clean_console().await;
    }
    alice.quit().await;
    bora.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_keyboard_sign_up_then_log_out_log_in_and_delete() {
    // With proofs of work on, as in production (at a quick difficulty).
    let stage = Stage::with_environment(vec![
        ("VEILGRAM_AUTH__PROOF_OF_WORK", "true"),
        ("VEILGRAM_AUTH__PROOF_OF_WORK_BITS", "5"),
    ]);
    let shots = screenshots("account");
    let phone = stage.browser("phone", "ko-KR").await;

    // The first load: everything but images, compressed, as the browser received it.
    stage.open(&phone, "/welcome").await;
    phone.wait_for_text("h1", "나답게").await;
    let weight: Value = phone
        .script(
            "const skip = new Set(['img', 'fetch', 'xmlhttprequest', 'video', 'beacon']);\
             const nav = performance.getEntriesByType('navigation')[0];\
             const assets = performance.getEntriesByType('resource').filter((r) => !skip.has(r.initiatorType));\
             return { bytes: nav.encodedBodySize + assets.reduce((sum, r) => sum + r.encodedBodySize, 0),\
                      files: assets.length + 1 };",
            json!([]),
        )
        .await;
    let bytes = weight["bytes"].as_f64().unwrap();
    println!(
        "first load: {} files, {:.1} KB compressed",
        weight["files"],
        bytes / 1024.0
    );
    assert!(weight["files"].as_u64().unwrap() > 10, "{weight}");
    assert!(bytes < 150.0 * 1024.0, "{weight}");
    phone.snap(&shots, "01-welcome-ko").await;

    // Sign-up with the keyboard alone: Enter submits, Space ticks, Enter continues.
    let nickname = phone.find("#signup-nickname").await;
    nickname.type_text("하늘").await;
    let started = std::time::Instant::now();
    nickname.type_text("\u{E007}").await;
    let user_id = phone.text("[data-testid=user-id]").await;
    println!(
        "sign-up with a 5-bit proof of work (4 MiB Argon2id) in Chromium: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let key = phone.text("[data-testid=recovery-key]").await;
    phone.snap(&shots, "02-recovery-key").await;
    phone
        .find("[data-testid=key-saved]")
        .await
        .type_text(" ")
        .await;
    phone
        .find("[data-testid=key-continue]")
        .await
        .type_text("\u{E007}")
        .await;
    phone.wait_for_text("h1", "홈").await;

    // A post in Korean, found again by the stem of a word that carries a particle.
    start_post(&stage, &phone, "서울에서 찍은 야경 #밤하늘").await;
    publish(&phone).await;
    stage.open(&phone, "/").await;
    phone.find("#tag-search").await.type_text("서울").await;
    phone
        .script(
            "document.querySelector('form.tag-search').requestSubmit();",
            json!([]),
        )
        .await;
    phone.wait_for_text("h1", "검색: 서울").await;
    phone
        .wait_for_text("[data-testid=feed]", "서울에서 찍은 야경")
        .await;

    // English from settings, then log out.
    stage.open(&phone, "/settings").await;
    phone.find("[data-testid=language]").await;
    phone
        .script(
            "const s = document.querySelector('[data-testid=language]'); s.value = 'en';\
             s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    phone.wait_for_text("h1", "Settings").await;
    phone.snap(&shots, "03-settings-en").await;

    // A new nickname, an export, and a new recovery key (shown once, like the first).
    let nickname = phone.find("[data-testid=nickname]").await;
    nickname.clear().await;
    nickname.type_text("Sky").await;
    phone.find("[data-testid=save-profile]").await.click().await;
    phone.wait_for_text("#toast", "Saved.").await;
    stage
        .choose_photo(&phone, "[data-testid=avatar-input]", 400, 400)
        .await;
    phone
        .wait_until(
            "document.querySelector('.settings img.avatar')?.src.includes('/media/')",
            "the new profile picture",
        )
        .await;
    phone.find("[data-testid=export]").await.click().await;
    phone
        .wait_for_text("#toast", "Your data was downloaded.")
        .await;
    phone.find("[data-testid=rotate-key]").await.click().await;
    phone.find("[data-testid=confirm]").await.click().await;
    let new_key = phone.text("[data-testid=recovery-key]").await;
    assert_ne!(new_key, key);
    phone.find("[data-testid=key-saved]").await.click().await;
    phone.find("[data-testid=key-continue]").await.click().await;
    phone.wait_for_text("h1", "Settings").await;
    let (status, _) = stage
        .server
        .request(
            "POST",
            "/api/v1/auth/login",
            Some(&json!({ "user_id": user_id, "recovery_key": key })),
            None,
        )
        .await;
    assert_eq!(status, 401, "the old recovery key stopped working");
    // Two more failures from this address: its next login needs a proof of work.
    for _ in 0..2 {
        let (status, _) = stage
            .server
            .request(
                "POST",
                "/api/v1/auth/login",
                Some(&json!({ "user_id": user_id, "recovery_key": key })),
                None,
            )
            .await;
        assert_eq!(status, 401);
    }
    let key = new_key;
    phone.find("[data-testid=logout]").await.click().await;
    phone
        .wait_until("location.hash === '#/welcome'", "the welcome screen")
        .await;

    // Back in on "another device" with the user id and recovery key.
    let laptop = stage.browser("laptop", "en-US").await;
    stage.open(&laptop, "/login").await;
    laptop.find("#login-user").await.type_text(&user_id).await;
    laptop.find("#login-key").await.type_text(&key).await;
    laptop.find("[data-testid=login]").await.click().await;
    laptop.wait_for_text("h1", "Home").await;
    stage.open(&laptop, &format!("/user/{user_id}")).await;
    laptop
        .wait_for_text("[data-testid=profile-name]", "Sky")
        .await;

    // Delete the account, confirming in the dialog.
    stage.open(&laptop, "/settings").await;
    laptop
        .find("[data-testid=delete-account]")
        .await
        .click()
        .await;
    laptop.snap(&shots, "04-delete-confirm").await;
    laptop.find("[data-testid=confirm]").await.click().await;
    laptop
        .wait_until("location.hash === '#/welcome'", "the welcome screen")
        .await;
    let (status, challenge) = stage
        .server
        .request(
            "POST",
            "/api/v1/auth/challenge",
            Some(&json!({ "purpose": "login" })),
            None,
        )
        .await;
    assert_eq!(status, 201, "{challenge}");
    let token = challenge["challenge"].as_str().unwrap();
    let (nonce, _) = veilgram_auth::proof::solve(token).unwrap();
    let (status, answer) = stage
        .server
        .request(
            "POST",
            "/api/v1/auth/login",
            Some(&json!({ "user_id": user_id, "recovery_key": key,
                          "proof": { "challenge": token, "nonce": nonce } })),
            None,
        )
        .await;
    assert_eq!(
        status, 401,
        "the deleted account's key no longer works: {answer}"
    );

    for browser in [&phone, &laptop] {
        browser.assert_clean_console().await;
    }
    phone.quit().await;
    laptop.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_after_a_server_restart_and_catches_up() {
    let mut stage = Stage::new();
    let shots = screenshots("reconnect");
    let bora = stage.browser("bora", "en-US").await;
    sign_up(&stage, &bora, "Bora").await;
    // Alice only uses the API.
    let (alice_id, alice_token) = stage.api_account(json!({ "nickname": "Alice" })).await;
    stage.open(&bora, &format!("/user/{alice_id}")).await;
    bora.find("[data-testid=follow]").await.click().await;
    bora.wait_for_text("[data-testid=follow]", "Unfollow").await;
    stage.open(&bora, "/").await;
    bora.wait_for_text(".feed-end", "Your home feed is empty")
        .await;

    // The server goes away: the page says it is reconnecting.
    let address = stage.server.address.clone();
    stage.server.kill_hard();
    bora.wait_until(
        "!document.querySelector('.connection').hidden",
        "the reconnecting notice",
    )
    .await;
    bora.snap(&shots, "01-reconnecting").await;

    // It comes back on the same address and data; Alice posts; Bora's page shows the post
    // without a reload (live, or by refetching what the new process cannot replay).
    stage.server = Server::start(StartOptions {
        data_dir: Some(stage._data.path()),
        environment: vec![("VEILGRAM_LISTEN", address.as_str())],
        ..Default::default()
    });
    let (status, _) = stage
        .server
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "Posted while you were away" })),
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, 201);
    bora.wait_until(
        "document.querySelector('.connection').hidden",
        "the connection back",
    )
    .await;
    bora.wait_until(
        "document.querySelector('[data-testid=feed]').innerText.includes('Posted while you were away') \
         || !document.querySelector('[data-testid=new-posts]').hidden",
        "the post, or the bar announcing it",
    )
    .await;
    bora.snap(&shots, "02-caught-up").await;

    // While the server was down the browser could only log refused connections.
    let unexpected: Vec<_> = bora
        .console()
        .await
        .into_iter()
        .filter(|(level, message)| {
            (level == "SEVERE" || level == "WARNING")
                && !message.contains("ERR_CONNECTION_REFUSED")
                && !message.contains("WebSocket connection")
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    bora.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_moderation_veils_a_post_and_its_author_appeals() {
    let stage = Stage::new();
    let shots = screenshots("automatic-moderation");
    let alice = stage.browser("alice", "en-US").await;
    let bora = stage.browser("bora", "ko-KR").await;
    sign_up(&stage, &alice, "Alice").await;
    sign_up(&stage, &bora, "Bora").await;
    start_post(&stage, &alice, "시 1 발 오늘 진짜 짜증나는 날").await;
    let post_id = publish(&alice).await;
    // The decision comes after the write, from the consumer group: wait for it.
    let path = format!("/api/v1/posts/{post_id}");
    let warned = veilgram_testkit::poll_until(std::time::Duration::from_secs(10), || {
        let (server, path) = (&stage.server, path.clone());
        async move {
            let (_, post) = server.request("GET", &path, None, None).await;
            (post["moderation"]["state"] == "warned").then_some(())
        }
    })
    .await;
    assert!(warned.is_some(), "the post was never warned");

    // A reader gets it behind a notice with the reason, and may show it anyway.
    stage.open(&bora, &format!("/post/{post_id}")).await;
    bora.wait_for_text("[data-testid=moderation-notice]", "욕설")
        .await;
    let veiled = bora
        .script(
            "return document.querySelector('[data-testid=veiled]').hidden",
            json!([]),
        )
        .await;
    assert_eq!(veiled, json!(true), "the text waits behind the notice");
    bora.snap(&shots, "01-reader-warned").await;
    bora.find("[data-testid=show-anyway]").await.click().await;
    bora.wait_for_text("[data-testid=veiled]", "짜증나는").await;

    // Its author is told why, and appeals once.
    alice.reload().await;
    alice
        .wait_for_text(
            "[data-testid=moderation-notice]",
            "Readers see this behind a warning: profanity.",
        )
        .await;
    alice.snap(&shots, "02-author-told").await;
    alice.find("[data-testid=appeal]").await.click().await;
    alice.find("[data-testid=confirm]").await.click().await;
    alice
        .wait_for_text("#toast", "Your appeal is with the moderators.")
        .await;
    let (status, _) = stage.server.request("GET", &path, None, None).await;
    assert_eq!(status, 200);
    for browser in [&alice, &bora] {
        browser.assert_clean_console().await;
    }
    alice.quit().await;
    bora.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_hides_a_reported_post_and_its_author_is_told_live() {
    let stage = Stage::new();
    let shots = screenshots("moderation");
    let alice = stage.browser("alice", "en-US").await;
    let judge = stage.browser("judge", "en-US").await;
    sign_up(&stage, &alice, "Alice").await;
    let (judge_id, _) = sign_up(&stage, &judge, "Judge").await;
    let granted = crate::server::binary()
        .args(["moderator", "grant", &judge_id])
        .env_clear()
        .env("VEILGRAM_DATA_DIR", stage._data.path())
        .output()
        .unwrap();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    start_post(&stage, &alice, "Totally legit offer #deals").await;
    let post_id = publish(&alice).await;
    // Someone reports it, through the API.
    let (_, reporter) = stage.api_account(json!({})).await;
    let (status, _) = stage
        .server
        .request(
            "POST",
            &format!("/api/v1/posts/{post_id}/report"),
            Some(&json!({ "reason": "spam" })),
            Some(&reporter),
        )
        .await;
    assert_eq!(status, 202);
    stage.open(&alice, "/").await;
    alice.find("[data-testid=feed]").await;

    // The moderator's navigation has the queue; the post is in it; "Hide" decides.
    judge.reload().await;
    judge.find("a[data-path='/moderation']").await.click().await;
    judge
        .wait_for_text("[data-testid=report-queue]", "Totally legit offer")
        .await;
    judge
        .wait_for_text("[data-testid=report-group]", "Spam × 1")
        .await;
    judge.snap(&shots, "01-queue").await;
    judge
        .find("[data-testid=report-group] [data-action=hide]")
        .await
        .click()
        .await;
    judge
        .wait_for_text("#toast", "The reports are closed")
        .await;
    judge.reload().await;
    judge.wait_for_text(".feed-end", "No open reports.").await;

    // Alice is told at once, and the notification stays in her list.
    alice
        .wait_for_text("#toast", "A moderator acted on something you posted")
        .await;
    alice
        .find("a[data-path='/notifications']")
        .await
        .click()
        .await;
    alice
        .wait_for_text(
            "[data-testid=notifications]",
            "A moderator acted on your content",
        )
        .await;
    alice.snap(&shots, "02-author-notified").await;
    // Nobody else sees the post any more.
    stage.open(&judge, "/tag/deals").await;
    judge.wait_for_text(".feed-end", "No posts here yet.").await;

    for browser in [&alice, &judge] {
        browser.assert_clean_console().await;
    }
    alice.quit().await;
    judge.quit().await;
}
