// Solves a proof-of-work challenge off the page's thread: finds a nonce whose Argon2id hash
// (hash-wasm, vendor/, MIT) starts with the challenge's number of zero bits, reporting progress.
/* global hashwasm */
importScripts("vendor/argon2.umd.min.js");

function fromBase64Url(text) {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

self.onmessage = async ({ data }) => {
  const salt = fromBase64Url(data.salt);
  for (let nonce = 0; ; nonce++) {
    const digest = await hashwasm.argon2id({
      password: `${data.salt}:${nonce}`,
      salt,
      parallelism: 1,
      iterations: data.iterations,
      memorySize: data.memory_kib,
      hashLength: 32,
      outputType: "binary",
    });
    if (leadingZeroBits(digest) >= data.bits) {
      self.postMessage({ nonce, tried: nonce + 1 });
      return;
    }
    if (nonce % 4 === 0) self.postMessage({ tried: nonce + 1 });
  }
};
