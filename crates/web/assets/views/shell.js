// The frame around every screen: top bar with the search box (posts, accounts and hashtags,
// or one #hashtag's feed, completing a #tag as it is typed), navigation with the unread badge,
// the main region, and the connection indicator.

import { h, mount, toast } from "../dom.js";
import { t, formatNumber } from "../i18n.js";
import { api } from "../api.js";
import * as live from "../live.js";
import * as session from "../session.js";
import * as router from "../router.js";
import { hashtagCompletion } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  home: "M3 11l9-8 9 8v10a1 1 0 0 1-1 1h-5v-7H9v7H4a1 1 0 0 1-1-1z",
  popular: "M12 2c1 4 5 6 5 11a5 5 0 0 1-10 0c0-2 1-4 2-5 0 2 1 3 2 3 0-4-1-6 1-9z",
  compose: "M12 5v14M5 12h14",
  bell: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0",
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21a8 8 0 0 1 16 0",
  shield: "M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
  settings: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19 12l2-1-2-4-2 1-2-2V4h-4v2L9 8 7 7l-2 4 2 1v0l-2 1 2 4 2-1 2 2v2h4v-2l2-2 2 1 2-4z",
};

/** A 24×24 outline icon, hidden from screen readers (the text beside it names the action). */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}

let frame = null;
let cleanup = null;
let unread = 0;
let renderId = 0;

function build() {
  const badge = h("span", { class: "badge", hidden: true, "data-testid": "unread-badge" });
  const status = h("div", { class: "connection", role: "status", hidden: true }, t("reconnecting"));
  const main = h("main", { id: "main", tabindex: "-1" });
  const search = h("input", {
    type: "search", name: "q", id: "tag-search", autocomplete: "off", maxlength: "200",
    placeholder: t("search_posts"), "aria-label": t("search_posts"),
  });
  // While a #tag is typed, the tags people use most complete it.
  const suggestions = h("ul", { class: "tag-suggestions", role: "listbox", "aria-label": t("tag_suggestions"),
    "data-testid": "search-suggestions", hidden: true });
  const complete = hashtagCompletion((items) => {
    suggestions.replaceChildren(...items.map(({ tag, uses }) => h("li", { role: "option" },
      h("a", { href: `#/tag/${encodeURIComponent(tag)}`, onclick: () => { search.value = ""; complete(""); } }, `#${tag}`, " ",
        h("small", { class: "hint" }, t("tag_uses", { count: uses }))))));
    suggestions.hidden = items.length === 0;
  });
  search.addEventListener("input", () => complete(search.value.trim().match(/^#([^\s#]+)$/u)?.[1] ?? ""));
  const form = h("form", {
    class: "tag-search", role: "search",
    onsubmit: (event) => {
      event.preventDefault();
      const text = search.value.trim();
      complete("");
      // One #word goes to its hashtag's feed; anything else searches posts (accounts and
      // hashtags are a tab away).
      if (/^#[^\s#]+$/u.test(text)) router.go(`/tag/${encodeURIComponent(text.slice(1).toLowerCase())}`);
      else if (text) router.go(`/search/${encodeURIComponent(text)}`);
    },
  }, search, suggestions);
  const link = (path, iconName, label, extra = null) =>
    h("a", { href: `#${path}`, class: "nav-link", "data-path": path }, icon(iconName), h("span", { class: "label" }, label), extra);
  const nav = h("nav", { class: "tabs", "aria-label": t("navigation") },
    link("/", "home", t("nav_home")),
    link("/popular", "popular", t("nav_popular")),
    link("/compose", "compose", t("nav_compose")),
    link("/notifications", "bell", t("nav_notifications"), badge),
    link(`/user/${session.userId()}`, "user", t("nav_profile")),
    link("/settings", "settings", t("nav_settings")));
  // Moderators get their queue in the navigation.
  api("GET", "/users/me").then((me) => {
    if (me.role === "moderator") nav.appendChild(link("/moderation", "shield", t("nav_moderation")));
  }).catch(() => {});
  const skip = h("button", { class: "skip", type: "button", onclick: () => main.focus() }, t("skip_to_content"));
  const header = h("header", { class: "topbar" },
    h("a", { href: "#/", class: "brand" }, t("app_name")), form);
  const root = h("div", { class: "frame" }, skip, header, nav, status, main);
  return { root, main, nav, badge, status, userId: session.userId() };
}

live.on("state", ({ connected }) => {
  if (frame) frame.status.hidden = connected;
});
live.on("notification", () => setUnread(unread + 1));
live.on("moderation.changed", () => toast(t("moderation_changed")));

export function setUnread(count) {
  unread = Math.max(0, count);
  if (!frame) return;
  frame.badge.hidden = unread === 0;
  frame.badge.textContent = unread > 99 ? "99+" : formatNumber(unread);
  frame.badge.setAttribute("aria-label", t("unread_count", { count: unread }));
}

export async function refreshBadge() {
  try {
    const { count } = await api("GET", "/notifications/unread_count");
    setUnread(count);
  } catch {
    // The badge is a hint; the list is the truth.
  }
}

/** Shows a view (a {node, cleanup} or a promise of one) inside the frame. */
export async function show(viewResult, { signedIn }) {
  const app = document.getElementById("app");
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  renderId += 1;
  const mine = renderId;
  if (!signedIn) {
    frame = null;
    const main = h("main", { id: "main", class: "bare", tabindex: "-1" });
    mount(app, main);
    await place(main, viewResult, mine);
    return;
  }
  if (!frame || frame.userId !== session.userId() || !app.contains(frame.root)) {
    frame = build();
    mount(app, frame.root);
    setUnread(unread);
  }
  for (const link of frame.nav.querySelectorAll("a")) {
    const active = link.dataset.path === router.current();
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  await place(frame.main, viewResult, mine);
}

async function place(main, viewResult, mine) {
  mount(main, h("p", { class: "loading" }, t("loading")));
  let view;
  try {
    view = viewResult ? await viewResult : { node: h("p", { class: "empty" }, t("not_found")) };
  } catch (error) {
    console.warn(error);
    view = { node: h("p", { class: "error", role: "alert" }, error.status === 404 ? t("not_found") : t("error_generic")) };
  }
  if (mine !== renderId) {
    view.cleanup?.();
    return;
  }
  cleanup = view.cleanup ?? null;
  mount(main, view.node);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}
