// Notifications: the list (marked read when seen) and new ones as they arrive.

import { h } from "../dom.js";
import { t, relative, absolute } from "../i18n.js";
import { api, profile } from "../api.js";
import * as live from "../live.js";
import { setUnread } from "./shell.js";
import { pagedList } from "./common.js";

function describe(notification) {
  const item = h("li", { class: notification.read ? "notification" : "notification unread", "data-testid": "notification" });
  const others = Math.max(0, (notification.actors ?? 1) - 1);
  const render = (name) => {
    const message = t(`notification_${notification.type}`, { name, count: others });
    const target = notification.post_id ? `#/post/${notification.post_id}` : notification.actor ? `#/user/${notification.actor}` : null;
    item.replaceChildren(
      target ? h("a", { href: target }, message) : h("span", {}, message),
      h("time", { datetime: notification.created_at, title: absolute(notification.created_at), class: "muted" }, relative(notification.created_at)));
  };
  render(t("someone"));
  if (notification.actor) {
    profile(notification.actor).then((person) => render(person.nickname)).catch(() => {});
  }
  return item;
}

export function notificationsView() {
  const list = h("ul", { class: "notifications", "data-testid": "notifications" });
  let newest = null;

  async function markRead() {
    if (!newest) return;
    try {
      await api("POST", "/notifications/read", { body: { up_to_id: newest } });
      setUnread(0);
    } catch {
      // Stays unread; the next visit tries again.
    }
  }

  const pages = pagedList({
    list,
    fetchPage: (cursor) => api("GET", "/notifications", { query: { limit: 20, cursor } }),
    render: describe,
    empty: t("notifications_empty"),
    onPage: (page, first) => {
      if (first && page.items.length) {
        newest = page.items[0].id;
        markRead();
      }
    },
  });
  const cleanups = [() => pages.cleanup()];
  cleanups.push(live.on("notification", ({ data }) => {
    pages.status.textContent = "";
    list.prepend(describe(data));
    newest = data.id;
    markRead();
  }));
  return {
    node: h("section", {}, h("h1", {}, t("nav_notifications")), list, pages.status, pages.sentinel),
    cleanup: () => cleanups.forEach((cleanup) => cleanup?.()),
  };
}
