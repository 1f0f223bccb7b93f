// Proofs of work: sign-up (and a login after failed ones) asks the server for a challenge and
// solves it in a Web Worker, so the page stays responsive while it runs.

import { api } from "./api.js";

/**
 * A solved challenge for `purpose` ("signup" or "login"), as a request's `proof`; undefined
 * when the server needs none for it now.
 * `onProgress(fraction)` is told how far the expected work has gone (it never reaches 1 before
 * the end: the search is random).
 */
export async function solveChallenge(purpose, onProgress = () => {}) {
  const challenge = await api("POST", "/auth/challenge", { body: { purpose }, auth: false });
  if (!challenge.required) return undefined;
  const expected = 2 ** challenge.bits;
  const worker = new Worker(new URL("./proof-worker.js", import.meta.url));
  try {
    const nonce = await new Promise((resolve, reject) => {
      worker.onerror = (event) => reject(new Error(event.message || "the proof of work failed"));
      worker.onmessage = ({ data }) => {
        onProgress(Math.min(data.tried / expected / 2, 0.95));
        if (data.nonce !== undefined) resolve(data.nonce);
      };
      worker.postMessage(challenge);
    });
    onProgress(1);
    return { challenge: challenge.challenge, nonce };
  } finally {
    worker.terminate();
  }
}
