// Someone's profile (or one's own): counts, follow/unfollow, block, and their posts.

import { h, toast } from "../dom.js";
import { t, formatNumber } from "../i18n.js";
import { api, forgetProfile } from "../api.js";
import * as session from "../session.js";
import * as router from "../router.js";
import { postCard } from "./post.js";
import { avatar, confirmDialog, errorText, pagedList } from "./common.js";

export async function profileView(id) {
  const me = session.userId();
  const own = id === me;
  const person = await api("GET", own ? "/users/me" : `/users/${id}`);
  const cleanups = [];
  const followers = h("span", { "data-testid": "followers-count" }, formatNumber(person.followers_count));
  let following = Boolean(person.followed_by_me);

  const follow = h("button", { type: "button", class: "primary", "data-testid": "follow" });
  const renderFollow = () => {
    follow.textContent = following ? t("unfollow") : t("follow");
    follow.setAttribute("aria-pressed", String(following));
  };
  follow.addEventListener("click", async () => {
    follow.disabled = true;
    try {
      await api(following ? "DELETE" : "POST", `/users/${id}/follow`);
      following = !following;
      person.followers_count += following ? 1 : -1;
      followers.textContent = formatNumber(person.followers_count);
      forgetProfile(id);
      renderFollow();
    } catch (error) {
      toast(errorText(error));
    } finally {
      follow.disabled = false;
    }
  });
  renderFollow();

  const block = h("button", { type: "button", class: "danger", "data-testid": "block", onclick: async () => {
    if (!(await confirmDialog(t("block_confirm", { name: person.nickname }), t("block"), { danger: true }))) return;
    try {
      await api("POST", `/users/${id}/block`);
      forgetProfile(id);
      toast(t("blocked", { name: person.nickname }));
      router.go("/");
    } catch (error) {
      toast(errorText(error));
    }
  } }, t("block"));

  const list = h("div", { class: "feed", "data-testid": "profile-posts" });
  const pages = pagedList({
    list,
    fetchPage: (cursor) => api("GET", `/users/${id}/posts`, { query: { limit: 20, cursor } }),
    render: postCard,
    empty: t("profile_no_posts"),
    end: t("feed_end"),
  });
  cleanups.push(() => pages.cleanup());

  const stat = (value, label) => h("div", { class: "stat" }, value, h("span", { class: "muted" }, label));
  return {
    node: h("section", { class: "profile" },
      h("header", { class: "profile-head card" },
        avatar(person, "large"),
        h("div", { class: "stack grow" },
          h("h1", { "data-testid": "profile-name" }, person.nickname),
          person.status_message ? h("p", {}, person.status_message) : null,
          h("div", { class: "stats" },
            stat(formatNumber(person.posts_count), t("posts_label")),
            stat(followers, t("followers_label")),
            stat(formatNumber(person.following_count), t("following_label"))),
          own
            ? h("div", { class: "row" }, h("a", { href: "#/settings", class: "button-like" }, t("edit_profile")))
            : h("div", { class: "row" }, follow, block))),
      list, pages.status, pages.sentinel),
    cleanup: () => cleanups.forEach((cleanup) => cleanup?.()),
  };
}
