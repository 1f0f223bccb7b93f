//! Posts' JSON as feed pages show them, remembered per post. A warm page is mostly posts shown
//! before, unchanged, and serializing them again (escaping every string, formatting every date)
//! was the largest single part of a warm page's time after hydration. A remembered rendering is
//! used only when the post, as this reader sees it, equals the one it was made from, so it is
//! byte for byte what serializing anew would give: nothing needs invalidating, and a change
//! (a like, an edit, another reader's `liked_by_me`) simply renders anew.
//!
//! Posts with a poll are not remembered: a poll's rendering says whether it has closed, which
//! depends on the clock, not only on the post.

use crate::routes::posts::PostView;
use veilgram_core::memo::Memo;
use veilgram_core::ports::PostRecord;
use veilgram_core::PostId;

/// What the renderings of one process may hold, posts and JSON together, about.
const BUDGET: usize = 16 << 20;

struct Rendering {
    post: PostRecord,
    json: Box<[u8]>,
}

pub(crate) struct RenderedPosts {
    memo: Memo<PostId, Rendering>,
}

impl Default for RenderedPosts {
    fn default() -> Self {
        Self {
            memo: Memo::new(BUDGET),
        }
    }
}

/// What remembering a rendering costs, roughly: its JSON, and the post it is checked against
/// (about as large).
fn cost(json: &[u8]) -> usize {
    2 * json.len() + 128
}

impl RenderedPosts {
    /// A page's body: byte for byte what serializing `PostPage { items, next_cursor }` gives.
    pub(crate) fn page(&self, posts: Vec<PostRecord>, next_cursor: Option<String>) -> Vec<u8> {
        let mut out = Vec::with_capacity(posts.len() * 512 + 64);
        out.extend_from_slice(b"{\"items\":[");
        for (index, post) in posts.into_iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            self.write(post, &mut out);
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        // A string or null: writing it to memory cannot fail.
        let _ = serde_json::to_writer(&mut out, &next_cursor);
        out.push(b'}');
        out
    }

    /// Appends `post` as `PostView` serializes it.
    fn write(&self, post: PostRecord, out: &mut Vec<u8>) {
        if post.poll.is_some() {
            let _ = serde_json::to_writer(&mut *out, &PostView::from(post));
            return;
        }
        let reused = self.memo.find(&post.id, |rendering| {
            (rendering.post == post).then(|| out.extend_from_slice(&rendering.json))
        });
        if reused.is_some() {
            return;
        }
        let start = out.len();
        let _ = serde_json::to_writer(&mut *out, &PostView::from(post.clone()));
        let json: Box<[u8]> = out[start..].into();
        let cost = cost(&json);
        self.memo.remember(post.id, Rendering { post, json }, cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::posts::PostPage;
    use veilgram_core::ports::{MediaRecord, PollRecord, Visibility};
    use veilgram_core::{PollId, Timestamp, UserId};

    fn post(text: &str) -> PostRecord {
        PostRecord {
            id: PostId::generate(),
            poll: None,
            media: Vec::new(),
            author_id: UserId::random(),
            author_nickname: "night_owl".to_owned(),
            author_avatar_media_id: None,
            text: text.to_owned(),
            visibility: Visibility::Public,
            anonymous_thread: false,
            hashtags: vec!["veilgram".to_owned()],
            like_count: 3,
            comment_count: 1,
            liked_by_me: false,
            created_at: Timestamp::from_millis(1_790_000_000_123),
            edited_at: None,
            moderation_state: "visible".to_owned(),
            moderation_reason: None,
        }
    }

    fn serialized(posts: &[PostRecord], next_cursor: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&PostPage {
            items: posts.iter().cloned().map(PostView::from).collect(),
            next_cursor: next_cursor.map(str::to_owned),
        })
        .unwrap()
    }

    /// Rendered the first time, remembered the second, rendered anew once anything changed:
    /// always what serializing the page gives.
    #[test]
    fn pages_equal_their_serialization_whether_remembered_or_not() {
        let mut quoted = post("a \"quote\", a \\ and a\nnew line, ünïcödé, 🎉, \u{1}");
        quoted.author_avatar_media_id = Some("0192a4c1-aaaa-7bbb-8ccc-ddddeeeeffff".to_owned());
        quoted.edited_at = Some(Timestamp::from_millis(1_790_000_100_000));
        quoted.media = vec![MediaRecord {
            id: veilgram_core::MediaId::random(),
            owner_id: quoted.author_id,
            bytes: 1000,
            kind: "image".to_owned(),
            status: "ready".to_owned(),
            key: Some("k".to_owned()),
            thumbnail_key: None,
            poster_key: None,
            width: Some(640),
            height: Some(480),
            duration_ms: None,
            blurhash: None,
            alt: Some("alt text".to_owned()),
        }];
        let mut polled = post("with a poll");
        polled.poll = Some(PollRecord {
            id: PollId::generate(),
            post_id: polled.id,
            options: vec![("yes".to_owned(), 2), ("no".to_owned(), 1)],
            total_votes: 3,
            closes_at: Timestamp::from_millis(4_000_000_000_000),
            my_vote: Some(0),
        });
        let mut posts = vec![post("plain"), quoted, polled];
        let rendered = RenderedPosts::default();
        for next_cursor in [Some("next \"page\""), None, Some("again")] {
            assert_eq!(
                String::from_utf8(rendered.page(posts.clone(), next_cursor.map(str::to_owned)))
                    .unwrap(),
                String::from_utf8(serialized(&posts, next_cursor)).unwrap()
            );
            // What another reader sees, or the next like, differs.
            posts[0].liked_by_me = !posts[0].liked_by_me;
            posts[1].like_count += 1;
        }
        assert!(rendered.page(Vec::new(), None) == serialized(&[], None));
    }

    #[test]
    fn renderings_stay_within_their_budget() {
        let rendered = RenderedPosts::default();
        let long = "x".repeat(2000);
        for _ in 0..20_000 {
            rendered.page(vec![post(&long)], None);
        }
        assert!(rendered.memo.largest_shard_bytes() <= BUDGET / veilgram_core::memo::SHARDS);
    }
}
