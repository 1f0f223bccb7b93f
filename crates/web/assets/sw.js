// The service worker: shows Web Push notifications (the payload is end-to-end encrypted by the
// server for this browser) and opens the app on a click. It caches nothing: the app needs the
// network anyway, and stale code must never run against a newer server.

import en from "/assets/__VERSION__/messages/en.js";
import ko from "/assets/__VERSION__/messages/ko.js";

const catalogue = () => ((self.navigator.language || "en").toLowerCase().startsWith("ko") ? ko : en);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  const messages = catalogue();
  event.waitUntil(self.registration.showNotification(messages.push_title, {
    body: messages.push_body,
    icon: "/assets/__VERSION__/icon.svg",
    tag: "veilgram",
    data: { url: "/#/notifications" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin === self.location.origin) {
        await client.focus();
        return client.navigate(event.notification.data.url);
      }
    }
    return self.clients.openWindow(event.notification.data.url);
  })());
});
