//! Feed cursors: a position `(score, post id)`, handed to clients signed (HMAC-SHA256 with a
//! server secret) and stamped, so that a cursor that was altered, made for another feed, or is
//! older than a day is refused instead of answering a wrong page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use veilgram_core::ports::FeedEntry;
use veilgram_core::{PostId, Timestamp};

/// How long a cursor handed out stays usable.
pub const CURSOR_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedCursor {
    pub score: i64,
    pub post_id: PostId,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not valid for this list")]
    Invalid,
    #[error("the cursor has expired")]
    Expired,
}

impl FeedCursor {
    pub const fn new(score: i64, post_id: PostId) -> Self {
        Self { score, post_id }
    }

    /// The position as a feed entry (scores of time-ordered feeds are creation instants).
    pub fn entry(self) -> FeedEntry {
        FeedEntry {
            created_at: Timestamp::from_millis(self.score),
            post_id: self.post_id,
        }
    }

    /// The cursor for clients of `feed` (a name such as `home`, `popular`, `tag:seoul`).
    pub fn encode(self, key: &[u8], feed: &str, now: Timestamp) -> String {
        seal(key, feed, &format!("{}|{}", self.score, self.post_id), now)
    }

    pub fn decode(
        key: &[u8],
        feed: &str,
        cursor: &str,
        now: Timestamp,
    ) -> Result<Self, CursorError> {
        let position = unseal(key, feed, cursor, now)?;
        let (score, post_id) = position.split_once('|').ok_or(CursorError::Invalid)?;
        Ok(Self {
            score: score.parse().map_err(|_| CursorError::Invalid)?,
            post_id: post_id.parse().map_err(|_| CursorError::Invalid)?,
        })
    }
}

/// HMAC-SHA256 of `text`, keyed (HMAC takes keys of any length, so this cannot fail).
fn keyed(key: &[u8], text: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(text.as_bytes());
    mac
}

/// A position in list `list` (a feed, `user-posts`, `followers`, ...) as clients get it:
/// `base64url("v1|<list>|<position>|<issued>").base64url(mac)`, the MAC the first 16 bytes of
/// HMAC-SHA256 under the server's cursor key. Every cursor the API hands out is made here.
pub fn seal(key: &[u8], list: &str, position: &str, now: Timestamp) -> String {
    let text = format!("v1|{list}|{position}|{}", now.as_millis());
    let mac = keyed(key, &text).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&text),
        URL_SAFE_NO_PAD.encode(&mac[..16])
    )
}

/// The position inside a cursor [`seal`] made for `list`: refused if altered, made for another
/// list or under another key, or older than [`CURSOR_LIFETIME`].
pub fn unseal(key: &[u8], list: &str, cursor: &str, now: Timestamp) -> Result<String, CursorError> {
    if cursor.len() > 512 {
        return Err(CursorError::Invalid);
    }
    let (text, mac) = cursor.split_once('.').ok_or(CursorError::Invalid)?;
    let text = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(CursorError::Invalid)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| CursorError::Invalid)?;
    if mac.len() != 16 {
        return Err(CursorError::Invalid);
    }
    keyed(key, &text)
        .verify_truncated_left(&mac)
        .map_err(|_| CursorError::Invalid)?;
    let rest = text
        .strip_prefix("v1|")
        .and_then(|rest| rest.strip_prefix(list))
        .and_then(|rest| rest.strip_prefix('|'))
        .ok_or(CursorError::Invalid)?;
    let (position, issued) = rest.rsplit_once('|').ok_or(CursorError::Invalid)?;
    let issued: i64 = issued.parse().map_err(|_| CursorError::Invalid)?;
    if now.as_millis() - issued > CURSOR_LIFETIME.as_millis() as i64 {
        return Err(CursorError::Expired);
    }
    Ok(position.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering_other_feeds_and_age() {
        let key = b"0123456789abcdef0123456789abcdef";
        let now = Timestamp::now();
        let cursor = FeedCursor::new(1_700_000_000_000, PostId::generate());
        let text = cursor.encode(key, "home", now);
        assert_eq!(FeedCursor::decode(key, "home", &text, now), Ok(cursor));
        assert_eq!(
            FeedCursor::decode(key, "popular", &text, now),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            FeedCursor::decode(b"another key", "home", &text, now),
            Err(CursorError::Invalid)
        );
        let (body, mac) = text.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap())
                .unwrap()
                .replace("1700000000000", "1700000000001"),
        );
        assert_eq!(
            FeedCursor::decode(key, "home", &format!("{forged_body}.{mac}"), now),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            FeedCursor::decode(key, "home", "garbage", now),
            Err(CursorError::Invalid)
        );
        let later = now.plus(CURSOR_LIFETIME + Duration::from_secs(1));
        assert_eq!(
            FeedCursor::decode(key, "home", &text, later),
            Err(CursorError::Expired)
        );
    }
}
