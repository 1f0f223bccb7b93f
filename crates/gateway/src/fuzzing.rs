//! Entry points for the fuzz targets in `fuzz/`, not part of the API: each hands a client's
//! bytes to the parser the server itself uses and checks what that parser must always do.

use crate::extract::{ApiQuery, PageQuery, MAX_PAGE};
use crate::routes::realtime::{ClientMessage, Topic};
use axum::extract::FromRequestParts;
use axum::http::{Request, StatusCode};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// A WebSocket text frame as a socket reads it: anything parses or is refused, and a channel it
/// names has one spelling that names the same topic again.
pub fn websocket_message(body: &str) {
    let Some(message) = ClientMessage::parse(body) else {
        return;
    };
    if let ClientMessage::Subscribe { channel, .. } | ClientMessage::Unsubscribe { channel } =
        message
    {
        if let Some(topic) = Topic::parse(&channel) {
            assert_eq!(Topic::parse(&topic.channel()), Some(topic));
        }
    }
}

/// A query string as the paginated lists read it (`?limit=&cursor=`): a page of 1 to 100
/// items, or a 400 in the API's format (naming `limit` when the limit is at fault).
pub fn page_query(query: &str) {
    let Ok(request) = Request::builder()
        .uri(format!("/api/v1/feed/popular?{query}"))
        .body(())
    else {
        return;
    };
    let (mut parts, ()) = request.into_parts();
    match ready(ApiQuery::<PageQuery>::from_request_parts(&mut parts, &())) {
        Ok(ApiQuery(page)) => match page.limit() {
            Ok(limit) => assert!((1..=MAX_PAGE).contains(&limit)),
            Err(error) => assert_eq!(error.field.as_deref(), Some("limit")),
        },
        Err(error) => assert_eq!(error.status, StatusCode::BAD_REQUEST),
    }
}

/// The value of a future that never waits (an extractor reading only the request's head).
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("extractors of the request head do not wait"),
    }
}
