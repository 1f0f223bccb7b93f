// The signed-in session. The refresh token and the current access token live in this
// origin's localStorage (never in a URL or a cookie), so every tab shares one session and a
// refresh in one tab is seen by the others.

const STORAGE_KEY = "veilgram.session";
const listeners = new Set();

function read() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) || null;
  } catch {
    return null;
  }
}

/** The stored session: {userId, accessToken, accessExpiresAt, refreshToken}, or null. */
export function current() {
  return read();
}

export function userId() {
  return read()?.userId ?? null;
}

/** Stores the tokens an auth endpoint answered with. */
export function store(tokens, user = userId()) {
  const session = {
    userId: tokens.user_id ?? user,
    accessToken: tokens.access_token,
    // Refresh a little before the server would refuse the token.
    accessExpiresAt: Date.now() + Math.max(0, tokens.expires_in - 30) * 1000,
    refreshToken: tokens.refresh_token,
  };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  notify();
  return session;
}

export function clear() {
  localStorage.removeItem(STORAGE_KEY);
  notify();
}

/** Calls `listener` whenever this or another tab signs in or out. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify() {
  for (const listener of listeners) listener(read());
}

window.addEventListener("storage", (event) => {
  if (event.key === STORAGE_KEY) notify();
});
