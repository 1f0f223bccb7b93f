//! `GET /ws`: live events over a WebSocket (API.md "Realtime").
//!
//! The client authenticates with its first message (`{"type":"auth","token":…,"since"?}`; a
//! token in the URL is never read), then subscribes to `post:<id>` and `poll:<id>` channels it
//! may see. Its own `user:<id>` channel is subscribed on auth. Limits: 4 KiB messages (1009
//! beyond; nothing the protocol sends is larger, and the protocol layer reads no message past
//! 16 KiB at all, so a socket costs little before it has proved anything), authentication
//! within 5 s (1008), at most 16 unauthenticated sockets per client address (429 at upgrade),
//! a bounded outgoing queue (1013 when the client cannot keep up), 64 channels and 20 messages
//! a second per connection (1008 beyond), and the session is re-checked every two seconds
//! (expiry and revocations, without verifying the signature again), so logout, deletion or
//! expiry closes the socket (1008) within five.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_core::{PollId, PostId};
use veilgram_realtime::Replay;

/// Messages above this close the socket with 1009, after they were read whole (so the close
/// reaches the client). An auth message (a token) is well under 2 KiB; the others under 200 B.
const MAX_FRAME: usize = 4 * 1024;
/// The protocol layer stops reading beyond this (an abrupt end: nothing larger is buffered).
const HARD_LIMIT: usize = 16 * 1024;
const AUTH_WITHIN: Duration = Duration::from_secs(5);
const HEARTBEAT: Duration = Duration::from_secs(25);
const RECHECK: Duration = Duration::from_secs(2);
/// How long a closing socket waits for the client's close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Client messages allowed per second.
const MESSAGES_PER_SECOND: u32 = 20;

const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const TRY_AGAIN_LATER: u16 = 1013;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientMessage {
    Auth {
        token: String,
        since: Option<String>,
    },
    Subscribe {
        channel: String,
        since: Option<String>,
    },
    Unsubscribe {
        channel: String,
    },
    Ping,
}

impl ClientMessage {
    /// A client's message, or `None` for anything unknown or malformed.
    pub(crate) fn parse(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }
}

/// What a channel a client asks for names: a post's or a poll's updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topic {
    Post(PostId),
    Poll(PollId),
}

impl Topic {
    /// The topic of `channel` (`post:<id>`, `poll:<id>`), or `None` for any other channel.
    pub(crate) fn parse(channel: &str) -> Option<Self> {
        if let Some(id) = channel.strip_prefix("post:") {
            return id.parse().ok().map(Self::Post);
        }
        channel
            .strip_prefix("poll:")
            .and_then(|id| id.parse().ok())
            .map(Self::Poll)
    }

    /// The channel's one spelling, the one events are published on (a client may write the id
    /// in another form a UUID parser accepts).
    pub(crate) fn channel(self) -> String {
        match self {
            Self::Post(id) => format!("post:{id}"),
            Self::Poll(id) => format!("poll:{id}"),
        }
    }
}

/// The origin a browser page must come from: the allowlist, or this server itself.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return true; // not a browser: nothing to protect against
    };
    if allowed.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    !host.is_empty()
        && [format!("http://{host}"), format!("https://{host}")]
            .iter()
            .any(|own| own == origin)
}

pub async fn websocket(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(rejection.status(), "not_a_websocket", rejection.body_text())
                .into_response()
        }
    };
    if !origin_allowed(&headers, &state.ws_origins) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open a socket",
        )
        .into_response();
    }
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let address = state.rate_limits.client_address(
        peer.map(|Extension(ConnectInfo(peer))| peer.ip()),
        forwarded,
    );
    // Until it authenticates, a socket counts against its address.
    let unauthenticated = match address {
        Some(address) => match state.unauthenticated_sockets.claim(address) {
            Some(slot) => Some(slot),
            None => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_sockets",
                    "too many sockets from this address are not signed in yet",
                );
                error
                    .headers
                    .push((header::RETRY_AFTER, HeaderValue::from_static("5")));
                return error.into_response();
            }
        },
        None => None,
    };
    upgrade
        .max_message_size(HARD_LIMIT)
        .max_frame_size(HARD_LIMIT)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(state, socket, unauthenticated))
}

fn text(value: &serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

fn error_message(code: &str, message: &str) -> Message {
    text(&serde_json::json!({ "type": "error", "code": code, "message": message }))
}

/// Closes with `code`, then waits (briefly) for the client's answering close, reading past
/// what it had already sent: dropping the connection with unread data would reset it, and the
/// client could lose the close frame and its code.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends what a channel carried after `since`, or tells the client to refetch it.
async fn replay(
    state: &AppState,
    socket: &mut WebSocket,
    channel: &str,
    since: Option<&str>,
) -> bool {
    let Some(since) = since else {
        return true;
    };
    match state.hub.replay(channel, since) {
        Replay::Missed(missed) => {
            for payload in missed {
                if socket
                    .send(Message::Text(Utf8Bytes::from(payload.as_ref())))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            true
        }
        Replay::Refetch => socket
            .send(text(
                &serde_json::json!({ "type": "refetch", "channel": channel }),
            ))
            .await
            .is_ok(),
    }
}

/// A message over [`MAX_FRAME`], or one the protocol layer stopped reading (over
/// [`HARD_LIMIT`]): either is answered with 1009.
fn too_big(incoming: &Result<Message, axum::Error>) -> bool {
    match incoming {
        Ok(Message::Text(text)) => text.len() > MAX_FRAME,
        Ok(Message::Binary(bytes)) => bytes.len() > MAX_FRAME,
        Ok(_) => false,
        Err(error) => error.to_string().contains("too long"),
    }
}

async fn session(
    state: AppState,
    mut socket: WebSocket,
    unauthenticated: Option<crate::server::AddressSlot>,
) {
    let first = match tokio::time::timeout(AUTH_WITHIN, socket.recv()).await {
        Ok(Some(incoming)) if too_big(&incoming) => {
            close(&mut socket, TOO_BIG, "frame too large").await;
            return;
        }
        Ok(Some(Ok(Message::Text(first)))) => first,
        _ => {
            close(&mut socket, POLICY, "authenticate first").await;
            return;
        }
    };
    let Some(ClientMessage::Auth { token, since }) = ClientMessage::parse(first.as_str()) else {
        close(&mut socket, POLICY, "authenticate first").await;
        return;
    };
    let Ok(principal) = state.auth.authenticate(&token).await else {
        let _ = socket
            .send(error_message("unauthorized", "the token is not valid"))
            .await;
        close(&mut socket, POLICY, "unauthorized").await;
        return;
    };
    drop(unauthenticated);
    let user = principal.user_id;
    let own = veilgram_core::live::user_channel(user);
    let mut registration = state.hub.register();
    let connection = registration.id;
    state.hub.subscribe(connection, &own);
    let ready = serde_json::json!({ "type": "ready", "user_id": user.to_string(), "channel": own });
    if socket.send(text(&ready)).await.is_err()
        || !replay(&state, &mut socket, &own, since.as_deref()).await
    {
        state.hub.remove(connection);
        return;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut recheck = tokio::time::interval(RECHECK);
    let mut window = (Instant::now(), 0u32);
    let slow = Arc::clone(&registration.slow);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let message = match incoming {
                    Some(incoming) if too_big(&incoming) => {
                        close(&mut socket, TOO_BIG, "frame too large").await;
                        break;
                    }
                    None | Some(Ok(Message::Close(_)) | Err(_)) => break,
                    Some(Ok(message)) => message,
                };
                if window.0.elapsed() >= Duration::from_secs(1) {
                    window = (Instant::now(), 0);
                }
                window.1 += 1;
                if window.1 > MESSAGES_PER_SECOND {
                    close(&mut socket, POLICY, "too many messages").await;
                    break;
                }
                let answer = match message {
                    Message::Text(body) => handle(&state, &mut socket, connection, user, body.as_str()).await,
                    Message::Binary(_) => Some(error_message("bad_message", "messages are JSON text")),
                    _ => None, // pings are answered by the protocol layer
                };
                if let Some(answer) = answer {
                    if socket.send(answer).await.is_err() {
                        break;
                    }
                }
            }
            queued = registration.queue.recv() => {
                let Some(payload) = queued else { break };
                if socket.send(Message::Text(Utf8Bytes::from(payload.as_ref()))).await.is_err() {
                    break;
                }
            }
            () = slow.notified() => {
                close(&mut socket, TRY_AGAIN_LATER, "too slow to keep up").await;
                break;
            }
            _ = heartbeat.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = recheck.tick() => {
                if state.auth.recheck(&principal).await.is_err() {
                    close(&mut socket, POLICY, "session ended").await;
                    break;
                }
            }
        }
    }
    state.hub.remove(connection);
}

/// Answers one client message (subscriptions may replay missed events first).
async fn handle(
    state: &AppState,
    socket: &mut WebSocket,
    connection: veilgram_realtime::ConnectionId,
    user: veilgram_core::UserId,
    body: &str,
) -> Option<Message> {
    let Some(message) = ClientMessage::parse(body) else {
        return Some(error_message("bad_message", "unknown or malformed message"));
    };
    match message {
        ClientMessage::Ping => Some(text(&serde_json::json!({ "type": "pong" }))),
        ClientMessage::Auth { .. } => Some(error_message("bad_message", "already authenticated")),
        ClientMessage::Unsubscribe { channel } => {
            if channel != veilgram_core::live::user_channel(user) {
                state.hub.unsubscribe(connection, &channel);
            }
            Some(text(
                &serde_json::json!({ "type": "unsubscribed", "channel": channel }),
            ))
        }
        ClientMessage::Subscribe { channel, since } => {
            let Some(topic) = Topic::parse(&channel) else {
                return Some(error_message("not_found", "no such channel you may see"));
            };
            if !may_listen(state, user, topic).await {
                return Some(error_message("not_found", "no such channel you may see"));
            }
            let channel = topic.channel();
            if !state.hub.subscribe(connection, &channel) {
                return Some(error_message(
                    "too_many_subscriptions",
                    "at most 64 channels",
                ));
            }
            let subscribed = text(&serde_json::json!({ "type": "subscribed", "channel": channel }));
            if socket.send(subscribed).await.is_err()
                || !replay(state, socket, &channel, since.as_deref()).await
            {
                return None;
            }
            None
        }
    }
}

/// Whether `user` may listen to `channel`: the same visibility as the REST API.
async fn may_listen(state: &AppState, user: veilgram_core::UserId, topic: Topic) -> bool {
    match topic {
        Topic::Post(post) => state.posts.get(post, Some(user)).await.is_ok(),
        Topic::Poll(poll) => state.polls.get(poll, Some(user)).await.is_ok(),
    }
}
