// The one way the app talks to the server: JSON over fetch, uploads over XHR (for progress).
// An expired access token is refreshed once, under a lock shared by every tab (refresh tokens
// are single-use: two tabs spending the same one would end the session).

import * as session from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "network";
    this.field = error.field;
    this.retryAfter = null;
  }
}

async function withRefreshLock(work) {
  if (navigator.locks) return navigator.locks.request("veilgram-refresh", work);
  return work();
}

/** A valid access token, refreshing it if needed; null when signed out. */
export async function accessToken({ force = false } = {}) {
  const stored = session.current();
  if (!stored) return null;
  if (!force && stored.accessExpiresAt > Date.now()) return stored.accessToken;
  return withRefreshLock(async () => {
    const latest = session.current();
    if (!latest) return null;
    // Another tab may have refreshed while this one waited for the lock.
    if (latest.accessExpiresAt > Date.now() && latest.accessToken !== stored.accessToken) {
      return latest.accessToken;
    }
    if (!force && latest.accessExpiresAt > Date.now()) return latest.accessToken;
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: latest.refreshToken }),
    });
    if (response.status === 401) {
      session.clear();
      return null;
    }
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return session.store(await response.json(), latest.userId).accessToken;
  });
}

/**
 * api("GET", "/feed/home", {query: {cursor}}) → the parsed JSON (null for 204).
 * Throws ApiError with the server's code, message and field.
 */
export async function api(method, path, { body, query, headers = {}, auth = true } = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  const send = async (token) => {
    const all = { ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (token) all.Authorization = `Bearer ${token}`;
    return fetch(url, { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let response;
  try {
    const token = auth ? await accessToken() : null;
    response = await send(token);
    if (response.status === 401 && auth && token) {
      const fresh = await accessToken({ force: true });
      if (fresh) response = await send(fresh);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw error;
  }
  return data;
}

/** Uploads one file to /media, reporting progress (0..1); resolves with the media object. */
export async function upload(file, onProgress, idempotencyKey = crypto.randomUUID()) {
  const token = await accessToken();
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/media");
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.setRequestHeader("Idempotency-Key", idempotencyKey);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve(request.response);
      else reject(new ApiError(request.status, request.response));
    };
    request.onerror = () => reject(new ApiError(0, null));
    const form = new FormData();
    form.append("file", file, "upload");
    request.send(form);
  });
}

/** Polls an upload until it is ready or failed (videos are transcoded in the background). */
export async function whenProcessed(media, { every = 1000, tries = 300 } = {}) {
  let current = media;
  for (let attempt = 0; current.status === "processing" && attempt < tries; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, every));
    current = await api("GET", `/media/${current.id}`);
  }
  return current;
}

/** Profiles by id, fetched once per page load (notifications name their actors by id). */
const profiles = new Map();
export function profile(id) {
  if (!profiles.has(id)) {
    profiles.set(id, api("GET", `/users/${id}`).catch((error) => {
      profiles.delete(id);
      throw error;
    }));
  }
  return profiles.get(id);
}
export function forgetProfile(id) {
  profiles.delete(id);
}
