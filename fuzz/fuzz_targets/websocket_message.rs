//! WebSocket text frames as a socket reads them (auth, subscribe, unsubscribe, ping).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| veilgram_gateway::fuzzing::websocket_message(body));
