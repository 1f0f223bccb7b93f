// Home, popular and hashtag feeds: pages by cursor, infinite scroll, and on home a
// "N new posts" bar fed by the live connection.

import { h, whenVisible } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import * as live from "../live.js";
import * as session from "../session.js";
import { postCard } from "./post.js";
import { errorText } from "./common.js";

const PAGE = 20;

export function feedView({ kind, tag }) {
  const path = kind === "home" ? "/feed/home" : kind === "popular" ? "/feed/popular" : `/feed/hashtags/${encodeURIComponent(tag)}`;
  const title = kind === "home" ? t("feed_home") : kind === "popular" ? t("feed_popular") : `#${tag}`;
  const list = h("div", { class: "feed", "data-testid": "feed", role: "feed", "aria-busy": "true" });
  const status = h("p", { class: "feed-end", role: "status" });
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const cleanups = [];
  let cursor = null;
  let done = false;
  let loading = null;
  let fresh = 0;

  const newBar = h("button", { type: "button", class: "new-posts", hidden: true, "data-testid": "new-posts",
    onclick: () => reload() });

  async function load() {
    if (done || loading) return loading;
    loading = (async () => {
      list.setAttribute("aria-busy", "true");
      try {
        const page = await api("GET", path, { query: { limit: PAGE, cursor } });
        for (const post of page.items) {
          const card = postCard(post);
          cleanups.push(card.cleanup);
          list.appendChild(card.node);
        }
        cursor = page.next_cursor;
        done = !cursor;
        // The first feed a page load shows: what "time to first feed" measures.
        if (!performance.getEntriesByName("veilgram:first-feed").length) performance.mark("veilgram:first-feed");
        status.textContent = done ? (list.childElementCount ? t("feed_end") : emptyText()) : "";
        if (!done && list.childElementCount < PAGE) load(); // short pages: keep filling
      } catch (error) {
        status.textContent = errorText(error);
      } finally {
        list.setAttribute("aria-busy", "false");
        loading = null;
      }
    })();
    return loading;
  }

  function emptyText() {
    return kind === "home" ? t("feed_home_empty") : t("feed_empty");
  }

  async function reload() {
    for (const cleanup of cleanups.splice(0)) cleanup?.();
    list.replaceChildren();
    cursor = null;
    done = false;
    fresh = 0;
    newBar.hidden = true;
    await load();
    list.querySelector("article")?.focus();
  }

  if (kind === "home") {
    const me = session.userId();
    cleanups.push(live.on("post.created", ({ data }) => {
      if (data.author_id === me) {
        reload(); // one's own post shows at once
        return;
      }
      fresh += 1;
      newBar.textContent = t("new_posts", { count: fresh });
      newBar.hidden = false;
    }));
    cleanups.push(live.on("refetch", ({ channel }) => {
      if (channel.startsWith("user:")) reload();
    }));
  }
  cleanups.push(whenVisible(sentinel, load));
  load();

  const nav = kind === "tag" ? null : h("div", { class: "feed-switch", role: "group", "aria-label": t("feeds") },
    h("a", { href: "#/", class: kind === "home" ? "active" : "", "aria-current": kind === "home" ? "page" : null }, t("feed_home")),
    h("a", { href: "#/popular", class: kind === "popular" ? "active" : "", "aria-current": kind === "popular" ? "page" : null }, t("feed_popular")));
  return {
    node: h("section", { class: "feed-page" }, h("h1", {}, title), nav, newBar, list, status, sentinel),
    cleanup: () => {
      for (const cleanup of cleanups) cleanup?.();
    },
  };
}
