//! Opaque pagination cursors: `base64url("v1|<list>|<position>")`. A cursor from another list, or
//! one that does not decode, is a 400 naming `cursor`, never a wrong page or a 500.

use crate::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

pub fn encode(list: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{list}|{position}"))
}

/// The position inside a cursor made by [`encode`] for the same `list`.
pub fn decode(list: &str, cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid_field("cursor", "the cursor is not valid for this list");
    if cursor.len() > 512 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(kind), Some(position)) if kind == list => Ok(position.to_owned()),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists_and_garbage() {
        let cursor = encode("posts", "abc");
        assert_eq!(decode("posts", &cursor).unwrap(), "abc");
        assert!(decode("followers", &cursor).is_err());
        assert!(decode("posts", "!!!").is_err());
        assert!(decode("posts", &URL_SAFE_NO_PAD.encode("v2|posts|x")).is_err());
    }
}
