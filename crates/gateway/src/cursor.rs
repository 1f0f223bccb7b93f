//! Opaque pagination cursors of the lists outside the feeds (a user's posts, followers, blocks,
//! comments, the moderation queue): signed and stamped like the feed cursors, with the same
//! code (`veilgram_feeds::cursor`). A cursor altered, made for another list, or older than a
//! day is a 400 naming `cursor`, never a wrong page or a 500.

use crate::app::AppState;
use crate::error::ApiError;

pub fn encode(state: &AppState, list: &str, position: &str) -> String {
    state.feeds.seal_position(list, position)
}

/// The position inside a cursor made by [`encode`] for the same `list`.
pub fn decode(state: &AppState, list: &str, cursor: &str) -> Result<String, ApiError> {
    Ok(state.feeds.unseal_position(list, cursor)?)
}

/// The id a cursor of `list` holds, when its position is one id.
pub fn decode_id<I: std::str::FromStr>(
    state: &AppState,
    list: &str,
    cursor: &str,
) -> Result<I, ApiError> {
    decode(state, list, cursor)?
        .parse()
        .map_err(|_| ApiError::invalid_field("cursor", "the cursor is not valid for this list"))
}

/// A page of `list` read with one item more than `limit`: the first `limit` items, and the
/// cursor at the last of them (its `position`) when there was more.
pub fn page<T>(
    state: &AppState,
    list: &str,
    mut items: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = if more {
        items
            .last()
            .map(|last| encode(state, list, &position(last)))
    } else {
        None
    };
    (items, next)
}
