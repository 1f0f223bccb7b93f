//! The `veilgram` binary as operators run it: real processes, real sockets, real signals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod browser;
mod media;
mod process;
mod realtime;
mod roles;
mod server;

pub use server::{Pair, Server, StartOptions};
