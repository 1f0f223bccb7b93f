// Home, popular and hashtag feeds, and search results (posts, accounts or hashtags, in tabs):
// pages by cursor, infinite scroll, and on home a "N new posts" bar fed by the live connection.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import * as live from "../live.js";
import * as session from "../session.js";
import { postCard } from "./post.js";
import { pagedList } from "./common.js";

const PAGE = 20;

/** An account a search found: its name and status, to its profile. */
function personRow(person) {
  return h("a", { class: "person-row", href: `#/user/${person.id}`, "data-testid": "person-row" },
    h("strong", {}, person.nickname), " ", h("small", { class: "hint" }, person.status_message));
}

/** A hashtag a search found, with its recent use, to its feed. */
function tagRow({ tag, uses }) {
  return h("a", { class: "person-row", href: `#/tag/${encodeURIComponent(tag)}`, "data-testid": "tag-row" },
    h("strong", {}, `#${tag}`), " ", h("small", { class: "hint" }, t("tag_uses", { count: uses })));
}

const SEARCH_TYPES = { posts: [postCard, "search_empty"], users: [personRow, "search_empty_users"], hashtags: [tagRow, "search_empty_hashtags"] };

/** What a kind of list reads (path and parameters), how it shows an item, its title, what it
 * says when empty, and whether it offers the home/popular switch. */
function source({ kind, tag, query, type = "posts" }) {
  switch (kind) {
    case "home": return { path: "/feed/home", title: t("feed_home"), empty: t("feed_home_empty"), switcher: true };
    case "popular": return { path: "/feed/popular", title: t("feed_popular"), empty: t("feed_empty"), switcher: true };
    case "search": {
      const [render, empty] = SEARCH_TYPES[type] ?? SEARCH_TYPES.posts;
      return { path: "/search", extra: { q: query, type }, render, title: t("search_results", { query }), empty: t(empty) };
    }
    default: return { path: `/feed/hashtags/${encodeURIComponent(tag)}`, title: `#${tag}`, empty: t("feed_empty") };
  }
}

/** The posts / accounts / hashtags tabs of a search. */
function searchTabs(query, type) {
  return h("div", { class: "feed-switch", role: "group", "aria-label": t("search_kinds") },
    ...Object.keys(SEARCH_TYPES).map((kind) => h("a", {
      href: `#/search/${encodeURIComponent(query)}${kind === "posts" ? "" : `/${kind}`}`,
      class: kind === type ? "active" : "", "aria-current": kind === type ? "page" : null, "data-testid": `search-tab-${kind}`,
    }, t(`search_tab_${kind}`))));
}

export function feedView({ kind, tag, query, type = "posts" }) {
  const { path, extra = {}, render = postCard, title, empty, switcher = false } = source({ kind, tag, query, type });
  const list = h("div", { class: "feed", "data-testid": "feed", role: "feed", "aria-busy": "true" });
  const cleanups = [];
  let fresh = 0;
  const pages = pagedList({
    list,
    fetchPage: (cursor) => api("GET", path, { query: { ...extra, limit: PAGE, cursor } }),
    render,
    empty,
    end: t("feed_end"),
    onPage: () => {
      // The first feed a page load shows: what "time to first feed" measures.
      if (!performance.getEntriesByName("veilgram:first-feed").length) performance.mark("veilgram:first-feed");
    },
  });
  cleanups.push(() => pages.cleanup());

  const newBar = h("button", { type: "button", class: "new-posts", hidden: true, "data-testid": "new-posts",
    onclick: () => reload() });

  async function reload() {
    fresh = 0;
    newBar.hidden = true;
    await pages.reset();
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

  const nav = kind === "search" ? searchTabs(query, type) : !switcher ? null : h("div", { class: "feed-switch", role: "group", "aria-label": t("feeds") },
    h("a", { href: "#/", class: kind === "home" ? "active" : "", "aria-current": kind === "home" ? "page" : null }, t("feed_home")),
    h("a", { href: "#/popular", class: kind === "popular" ? "active" : "", "aria-current": kind === "popular" ? "page" : null }, t("feed_popular")));
  return {
    node: h("section", { class: "feed-page" }, h("h1", {}, title), nav, newBar, list, pages.status, pages.sentinel),
    cleanup: () => {
      for (const cleanup of cleanups) cleanup?.();
    },
  };
}
