//! Query strings as the paginated lists read them (`?limit=&cursor=`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| veilgram_gateway::fuzzing::page_query(query));
