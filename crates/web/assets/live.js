// The live connection (/ws): authenticates with its first message, keeps the last event id of
// every channel, and on reconnect (with backoff) asks for what it missed since then; when the
// server cannot replay, it says "refetch" and the views reload what they show.

import { accessToken } from "./api.js";

const listeners = new Map(); // event name → Set of callbacks ({channel, event, data, id})
const channels = new Map(); // channel → number of views that want it
const lastIds = new Map(); // channel → last event id seen
let socket = null;
let userChannel = null;
let attempt = 0;
let retryTimer = null;
let stopped = true;

/** on("comment.created", fn) → an unsubscribe function. "refetch", "state" are events too. */
export function on(event, callback) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(callback);
  return () => listeners.get(event).delete(callback);
}

function emit(event, message) {
  for (const callback of listeners.get(event) ?? []) {
    try {
      callback(message);
    } catch (error) {
      console.error(error);
    }
  }
}

// The server allows 20 client messages a second; this sends at most 10.
const outbox = [];
let draining = null;

function send(message) {
  if (!(socket?.readyState === WebSocket.OPEN && userChannel)) return; // sent again on "ready"
  outbox.push(message);
  if (!draining) drain();
}

function drain() {
  const next = outbox.shift();
  if (!next) {
    draining = null;
    return;
  }
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(next));
  draining = setTimeout(drain, 100);
}

/** Listens to a channel while the returned function is not called. */
export function subscribe(channel) {
  const count = channels.get(channel) ?? 0;
  channels.set(channel, count + 1);
  if (count === 0) send({ type: "subscribe", channel, since: lastIds.get(channel) });
  return () => {
    const left = (channels.get(channel) ?? 1) - 1;
    if (left > 0) {
      channels.set(channel, left);
      return;
    }
    channels.delete(channel);
    lastIds.delete(channel);
    send({ type: "unsubscribe", channel });
  };
}

export function start() {
  stopped = false;
  if (!socket) connect();
}

export function stop() {
  stopped = true;
  clearTimeout(retryTimer);
  userChannel = null;
  lastIds.clear();
  if (socket) socket.close(1000);
  socket = null;
}

async function connect() {
  clearTimeout(retryTimer);
  let token;
  try {
    token = await accessToken();
  } catch {
    token = undefined;
  }
  if (stopped) return;
  if (token === null) {
    stop();
    return;
  }
  if (token === undefined) {
    retry();
    return;
  }
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => {
    const since = userChannel ? lastIds.get(userChannel) : undefined;
    ws.send(JSON.stringify({ type: "auth", token, since }));
  };
  ws.onmessage = (message) => {
    let parsed;
    try {
      parsed = JSON.parse(message.data);
    } catch {
      return;
    }
    handle(ws, parsed);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    emit("state", { connected: false });
    if (!stopped) retry();
  };
}

function handle(ws, message) {
  switch (message.type) {
    case "ready": {
      const reconnected = userChannel !== null;
      userChannel = message.channel;
      attempt = 0;
      outbox.length = 0;
      for (const channel of channels.keys()) send({ type: "subscribe", channel, since: lastIds.get(channel) });
      emit("state", { connected: true });
      // A channel that had carried nothing yet has no id to replay from: whatever happened
      // while the socket was down is fetched again instead.
      if (reconnected) {
        for (const channel of [userChannel, ...channels.keys()]) {
          if (!lastIds.has(channel)) emit("refetch", { channel });
        }
      }
      break;
    }
    case "event":
      if (message.id) lastIds.set(message.channel, message.id);
      emit(message.event, message);
      break;
    case "refetch":
      emit("refetch", message);
      break;
    default:
      break;
  }
}

function retry() {
  clearTimeout(retryTimer);
  // 1 s, 2 s, 4 s … up to 30 s, with jitter so a restarted server is not stampeded.
  const delay = Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt += 1;
  retryTimer = setTimeout(connect, delay);
}
