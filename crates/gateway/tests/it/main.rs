//! The public API, exercised in-process through the real router on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod comments;
mod feeds;
mod graph;
mod helpers;
mod http;
mod limits;
mod media;
mod moderation;
mod polls;
mod posts;
mod proof;
mod push;
mod realtime;
mod search;
mod sessions;
mod tokens;
mod users;
mod web;
