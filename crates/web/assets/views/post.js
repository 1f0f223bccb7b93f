// A post (card in feeds, full in its own page), its poll, and its threaded comments.

import { h, richText, toast } from "../dom.js";
import { t, relative, absolute, formatNumber } from "../i18n.js";
import { api } from "../api.js";
import * as live from "../live.js";
import * as session from "../session.js";
import * as router from "../router.js";
import { avatar, authorName, confirmDialog, errorText, field } from "./common.js";

function timeLink(post) {
  return h("a", { href: `#/post/${post.id}`, class: "time" },
    h("time", { datetime: post.created_at, title: absolute(post.created_at) }, relative(post.created_at)));
}

function mediaGrid(media) {
  if (!media?.length) return null;
  return h("div", { class: `media-grid count-${Math.min(media.length, 4)}` }, media.map((item) => {
    if (item.status !== "ready") {
      return h("div", { class: "media-pending" }, item.status === "failed" ? t("media_failed") : t("media_processing"));
    }
    const alt = item.alt || t("image_no_alt");
    if (item.kind === "video") {
      return h("video", { src: item.url, poster: item.poster_url, controls: true, preload: "none", playsinline: true, "aria-label": alt });
    }
    return h("img", { src: item.url, alt, loading: "lazy", width: item.width, height: item.height });
  }));
}

/**
 * The poll: buttons to vote while open and unvoted, else result bars (always for its author);
 * live tallies.
 */
export function pollWidget(initial, { author = false } = {}) {
  let poll = initial;
  const box = h("div", { class: "poll", "data-testid": "poll" });
  const render = () => {
    const showResults = author || poll.closed || (poll.my_vote !== null && poll.my_vote !== undefined);
    const total = poll.total_votes;
    box.replaceChildren(
      h("ul", { class: "poll-options" }, poll.options.map((option, index) => {
        if (!showResults) {
          return h("li", {}, h("button", { type: "button", class: "poll-vote", "data-testid": "vote",
            onclick: () => vote(index) }, option.text));
        }
        const share = total ? Math.round((option.votes / total) * 100) : 0;
        const mine = poll.my_vote === index;
        return h("li", { class: mine ? "mine" : "" },
          h("div", { class: "poll-bar" },
            h("progress", { max: 100, value: share, "aria-label": option.text }),
            h("span", { class: "poll-text" }, option.text, mine ? ` ✓` : ""),
            h("span", { class: "poll-share", "data-testid": "poll-share" }, `${share}%`)));
      })),
      h("p", { class: "muted", "data-testid": "poll-total" },
        t("poll_votes", { count: total }), " · ",
        poll.closed ? t("poll_closed") : t("poll_closes", { when: relative(poll.closes_at) })));
  };
  async function vote(index) {
    try {
      poll = await api("POST", `/polls/${poll.id}/votes`, { body: { option_index: index } });
      render();
    } catch (error) {
      toast(errorText(error));
    }
  }
  render();
  const stop = live.subscribe(`poll:${poll.id}`);
  const off = live.on("poll.updated", ({ data }) => {
    if (data.poll_id !== poll.id) return;
    poll = { ...poll, options: data.options, total_votes: data.total_votes };
    render();
  });
  return { node: box, cleanup: () => { stop(); off(); } };
}

async function report(kind, id) {
  const reasons = ["spam", "abuse", "nsfw", "other"];
  const select = h("select", { id: "report-reason" }, reasons.map((reason) => h("option", { value: reason }, t(`report_${reason}`))));
  const dialog = h("dialog", { class: "dialog", "aria-label": t("report") });
  const done = (send) => async () => {
    dialog.close();
    dialog.remove();
    if (!send) return;
    try {
      await api("POST", `/${kind}/${id}/report`, { body: { reason: select.value } });
      toast(t("reported"));
    } catch (error) {
      toast(errorText(error));
    }
  };
  dialog.append(h("h2", {}, t("report")), field(t("report_reason"), select),
    h("div", { class: "row end" },
      h("button", { type: "button", onclick: done(false) }, t("cancel")),
      h("button", { type: "button", class: "danger", "data-testid": "send-report", onclick: done(true) }, t("report"))));
  document.body.appendChild(dialog);
  dialog.showModal();
}

function likeButton(kind, item, onChange) {
  const button = h("button", { type: "button", class: "like", "data-testid": "like" });
  const render = () => {
    button.replaceChildren(item.liked_by_me ? "♥ " : "♡ ", formatNumber(item.like_count));
    button.setAttribute("aria-pressed", String(item.liked_by_me));
    button.setAttribute("aria-label", t(item.liked_by_me ? "unlike" : "like") + ` (${t("likes", { count: item.like_count })})`);
  };
  button.addEventListener("click", async () => {
    const liked = !item.liked_by_me;
    item.liked_by_me = liked;
    item.like_count += liked ? 1 : -1;
    render();
    try {
      await api(liked ? "POST" : "DELETE", `/${kind}/${item.id}/like`);
      onChange?.();
    } catch (error) {
      item.liked_by_me = !liked;
      item.like_count += liked ? -1 : 1;
      render();
      toast(errorText(error));
    }
  });
  render();
  return { button, render };
}

/**
 * What moderation decided about a post or comment (`kind`: "posts" or "comments"), around its
 * `content` nodes: readers get warned content behind a notice with the reason and a "Show
 * anyway" control; its author is told why it is warned or hidden, and may appeal once.
 */
function moderated(item, kind, mine, content) {
  const state = item.moderation?.state ?? "visible";
  if (state === "visible") return content;
  const reason = t(`moderation_reason_${item.moderation.reason ?? "moderator"}`);
  const notice = h("div", { class: "warning stack", role: "note", "data-testid": "moderation-notice" });
  if (mine) {
    const appeal = h("button", { type: "button", class: "quiet", "data-testid": "appeal", onclick: async () => {
      if (!(await confirmDialog(t("appeal_confirm"), t("appeal")))) return;
      appeal.disabled = true;
      try {
        await api("POST", `/${kind}/${item.id}/appeal`, { body: {} });
        toast(t("appealed"));
        appeal.remove();
      } catch (error) {
        appeal.disabled = false;
        toast(errorText(error));
      }
    } }, t("appeal"));
    notice.append(h("p", {}, t(state === "hidden" ? "moderation_hidden_own" : "moderation_warned_own", { reason })), appeal);
    return [notice, ...content];
  }
  const veiled = h("div", { hidden: true, "data-testid": "veiled" }, content);
  notice.append(h("p", {}, t("moderation_warned_reason", { reason })),
    h("button", { type: "button", class: "quiet", "data-testid": "show-anyway", onclick: () => {
      veiled.hidden = false;
      notice.remove();
    } }, t("show_anyway")));
  return [notice, veiled];
}

/** A post as a card; `detail` shows it whole on its own page. */
export function postCard(post, { detail = false } = {}) {
  const cleanups = [];
  const me = session.userId();
  const mine = post.author?.id === me;
  const like = likeButton("posts", post);
  const comments = h("a", { href: `#/post/${post.id}`, class: "comments-link", "data-testid": "comment-count" },
    t("comments", { count: post.comment_count }));
  const poll = post.poll ? pollWidget(post.poll, { author: mine }) : null;
  if (poll) cleanups.push(poll.cleanup);
  const menu = h("div", { class: "actions" }, like.button, comments,
    h("button", { type: "button", class: "quiet", onclick: () => report("posts", post.id) }, t("report")),
    mine ? h("button", { type: "button", class: "quiet danger-text", onclick: async () => {
      if (!(await confirmDialog(t("delete_post_confirm"), t("delete"), { danger: true }))) return;
      try {
        await api("DELETE", `/posts/${post.id}`);
        toast(t("deleted"));
        router.go("/");
      } catch (error) {
        toast(errorText(error));
      }
    } }, t("delete")) : null);
  const node = h("article", { class: "post card", tabindex: "-1", "data-post-id": post.id, "aria-label": t("post_by", { name: post.author?.nickname ?? "" }) },
    h("header", { class: "post-head" }, avatar(post.author), h("div", {}, authorName(post.author),
      h("div", { class: "meta" }, timeLink(post),
        post.visibility === "followers" ? h("span", { class: "pill" }, t("visibility_followers")) : null,
        post.anonymous_thread ? h("span", { class: "pill" }, t("anonymous_thread")) : null,
        post.edited_at ? h("span", { class: "muted" }, t("edited")) : null))),
    moderated(post, "posts", mine, [
      h("p", { class: detail ? "text full" : "text" }, richText(post.text)),
      mediaGrid(post.media),
    ]),
    poll?.node,
    menu);
  const update = (data) => {
    post.like_count = data.like_count;
    post.comment_count = data.comment_count;
    like.render();
    comments.textContent = t("comments", { count: post.comment_count });
  };
  return { node, update, cleanup: () => cleanups.forEach((cleanup) => cleanup()) };
}

function commentNode(comment, post, onReply, depth = 0) {
  const like = comment.deleted ? null : likeButton("comments", comment);
  const replies = h("div", { class: "replies" });
  for (const reply of comment.replies ?? []) replies.appendChild(commentNode(reply, post, onReply, depth + 1));
  const shown = comment.replies?.length ?? 0;
  const more = comment.reply_count > shown
    ? h("button", { type: "button", class: "quiet", onclick: async (event) => {
      event.target.disabled = true;
      try {
        const page = await api("GET", `/comments/${comment.id}/replies`, { query: { limit: 100 } });
        replies.replaceChildren(...page.items.map((reply) => commentNode(reply, post, onReply, depth + 1)));
        event.target.remove();
      } catch (error) {
        event.target.disabled = false;
        toast(errorText(error));
      }
    } }, t("more_replies", { count: comment.reply_count - shown }))
    : null;
  const me = session.userId();
  const deletable = !comment.deleted && (comment.author?.id === me || post.author?.id === me);
  return h("div", { class: "comment", "data-testid": "comment", "data-comment-id": comment.id },
    h("div", { class: "comment-head" }, avatar(comment.author), authorName(comment.author),
      h("time", { datetime: comment.created_at, title: absolute(comment.created_at), class: "muted" }, relative(comment.created_at))),
    comment.deleted
      ? h("p", { class: "text muted" }, t("comment_deleted"))
      : moderated(comment, "comments", comment.author?.id === me, [h("p", { class: "text" }, richText(comment.text))]),
    comment.deleted ? null : h("div", { class: "actions" }, like.button,
      h("button", { type: "button", class: "quiet", onclick: () => onReply(comment) }, t("reply")),
      h("button", { type: "button", class: "quiet", onclick: () => report("comments", comment.id) }, t("report")),
      // An alias is blocked in this thread only, without anyone learning who it is.
      comment.author?.alias && !(comment.author.alias === "OP" && post.author?.id === me) ? h("button", { type: "button", class: "quiet", "data-testid": "block-alias", onclick: async () => {
        const alias = comment.author.alias;
        if (!(await confirmDialog(t("block_alias_confirm", { alias }), t("block"), { danger: true }))) return;
        try {
          await api("POST", `/comments/${comment.id}/block-author`);
          toast(t("blocked_alias", { alias }));
          onReply(null, true);
        } catch (error) {
          toast(errorText(error));
        }
      } }, t("block")) : null,
      deletable ? h("button", { type: "button", class: "quiet danger-text", onclick: async () => {
        if (!(await confirmDialog(t("delete_comment_confirm"), t("delete"), { danger: true }))) return;
        try {
          await api("DELETE", `/comments/${comment.id}`);
          onReply(null, true);
        } catch (error) {
          toast(errorText(error));
        }
      } }, t("delete")) : null),
    replies, more);
}

/** A post's own page: the post, a comment box, and the live thread. */
export async function postView(id) {
  const post = await api("GET", `/posts/${id}`);
  const card = postCard(post, { detail: true });
  const cleanups = [card.cleanup];
  const thread = h("div", { class: "thread", "data-testid": "thread", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "quiet", hidden: true }, t("more_comments"));
  let cursor = null;
  let parent = null;
  // Reloads can overlap (a live event and one's own comment arrive together): only the
  // newest one's answer is shown, and a "more" page that a reload overtook is dropped.
  let generation = 0;

  async function loadComments(reset) {
    const mine = reset ? ++generation : generation;
    const page = await api("GET", `/posts/${id}/comments`, { query: { limit: 50, cursor: reset ? null : cursor } });
    if (mine !== generation) return;
    const nodes = page.items.map((comment) => commentNode(comment, post, setParent));
    if (reset) thread.replaceChildren(...nodes);
    else thread.append(...nodes);
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => loadComments(false).catch((error) => toast(errorText(error))));

  const text = h("textarea", { id: "comment-text", rows: 2, maxlength: 2000, required: true, "data-testid": "comment-text" });
  const replying = h("p", { class: "muted", hidden: true });
  function setParent(comment, reload = false) {
    if (reload) {
      loadComments(true).catch(() => {});
      return;
    }
    parent = comment;
    replying.hidden = !comment;
    replying.replaceChildren(comment ? t("replying_to", { name: comment.author?.nickname ?? comment.author?.alias ?? "" }) : "",
      comment ? h("button", { type: "button", class: "quiet", onclick: () => setParent(null) }, t("cancel")) : null);
    text.focus();
  }
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "comment-submit" }, t("comment_send"));
  const form = h("form", { class: "comment-form card", onsubmit: async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    submit.disabled = true;
    try {
      await api("POST", `/posts/${id}/comments`, {
        body: { text: text.value.trim(), parent_id: parent?.id },
        headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      text.value = "";
      setParent(null);
      await loadComments(true);
    } catch (error) {
      toast(errorText(error));
    } finally {
      submit.disabled = false;
    }
  } }, replying, field(t("comment_label"), text), submit);

  cleanups.push(live.subscribe(`post:${id}`));
  cleanups.push(live.on("comment.created", ({ data }) => {
    if (data.post_id === id && !thread.querySelector(`[data-comment-id="${data.comment_id}"]`)) loadComments(true).catch(() => {});
  }));
  cleanups.push(live.on("post.updated", ({ data }) => {
    if (data.post_id === id) card.update(data);
  }));
  cleanups.push(live.on("refetch", ({ channel }) => {
    if (channel === `post:${id}`) loadComments(true).catch(() => {});
  }));
  await loadComments(true);
  return {
    node: h("section", { class: "post-page" }, h("h1", { class: "visually-hidden" }, t("post_title")), card.node,
      h("h2", {}, t("comments_title")), form, thread, more),
    cleanup: () => cleanups.forEach((cleanup) => cleanup()),
  };
}
