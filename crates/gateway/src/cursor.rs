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
