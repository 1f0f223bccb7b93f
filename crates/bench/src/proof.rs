//! The proof of work's cost: one Argon2id hash natively (what the server pays to check a
//! solution, and a native client per try) at the memory sizes a challenge may ask, against one
//! SHA-256 of the same input in the same run (what a proof that is not memory-hard costs, the
//! reference a GPU farm would be racing), and the expected time to solve a challenge of each
//! difficulty at the default memory. The web client's hash-wasm is slower: the browser
//! scenario prints its sign-up time, from which its time per hash follows.

use std::time::Instant;
use veilgram_auth::proof::{hash, ProofSettings};

fn per_call_ms(mut work: impl FnMut(u64), calls: u64) -> f64 {
    work(0); // warm-up
    let started = Instant::now();
    for call in 1..=calls {
        work(call);
    }
    started.elapsed().as_secs_f64() * 1000.0 / calls as f64
}

pub fn print() {
    use sha2::Digest as _;
    let salt = [7u8; 16];
    let sha = per_call_ms(
        |n| {
            std::hint::black_box(sha2::Sha256::digest(format!("challenge:{n}").as_bytes()));
        },
        100_000,
    );
    println!("\nproof of work (one core)");
    println!(
        "| {:<28} | {:>12} | {:>14} |",
        "hash", "ms per hash", "× SHA-256"
    );
    println!("|{:-<30}|{:->14}|{:->16}|", "", "", "");
    println!(
        "| {:<28} | {:>12.5} | {:>14} |",
        "SHA-256 (reference)", sha, 1
    );
    let default = ProofSettings::default();
    let mut at_default = 0.0;
    for memory in [1024, 4096, 8192] {
        let ms = per_call_ms(
            |n| {
                std::hint::black_box(hash(
                    format!("challenge:{n}").as_bytes(),
                    &salt,
                    memory,
                    default.iterations,
                ));
            },
            40,
        );
        if memory == default.memory_kib {
            at_default = ms;
        }
        println!(
            "| {:<28} | {:>12.2} | {:>14.0} |",
            format!("Argon2id {} MiB, t={}", memory / 1024, default.iterations),
            ms,
            ms / sha
        );
    }
    println!(
        "expected solve time at {} MiB, natively (the web client's hash-wasm took about 15 ms \
         per hash in Chromium and Node on the machine these figures were first taken on, \
         about 10× native; a mid-range phone is slower again):",
        default.memory_kib / 1024
    );
    for bits in [
        default.base_bits,
        default.base_bits + 2,
        default.base_bits + 6,
    ] {
        println!(
            "  {bits:>2} bits: {:>7.2} s",
            at_default * f64::from(1u32 << bits) / 1000.0
        );
    }
}
