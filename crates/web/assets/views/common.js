// Pieces several screens share: labelled fields, error text, avatars, confirmation dialogs.

import { api } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

let fieldCount = 0;

/** A label, the control, and an optional hint, tied together for assistive technology. */
export function field(label, control, hint = null) {
  fieldCount += 1;
  if (!control.id) control.id = `field-${fieldCount}`;
  const hintNode = hint ? h("small", { id: `${control.id}-hint`, class: "hint" }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintNode);
}

/** The message to show for a failed request: the server's own words for 4xx, else generic. */
export function errorText(error) {
  if (error?.status === 429) return t("error_rate_limited", { seconds: error.retryAfter ?? 60 });
  if (error?.status === 0) return t("error_offline");
  if (error?.status >= 400 && error?.status < 500) {
    const known = t(`error_${error.code}`);
    return known === `error_${error.code}` ? error.message : known;
  }
  return t("error_generic");
}

/** The avatar image, or a placeholder with the nickname's first letter. */
export function avatar(person, size = "small") {
  if (person?.avatar) {
    return h("img", { class: `avatar ${size}`, src: person.avatar, alt: "", width: 40, height: 40, loading: "lazy" });
  }
  const letter = (person?.nickname || person?.alias || "?").trim().charAt(0).toUpperCase();
  return h("span", { class: `avatar ${size} placeholder`, "aria-hidden": "true" }, letter);
}

/** Asks a yes/no question in a modal dialog; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel, { danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-label": message });
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("p", {}, message),
      h("div", { class: "row end" },
        h("button", { type: "button", onclick: () => finish(false) }, t("cancel")),
        h("button", { type: "button", class: danger ? "danger" : "primary", "data-testid": "confirm", onclick: () => finish(true) }, confirmLabel)));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** A link to a profile, or the alias of an anonymous thread. */
export function authorName(author) {
  if (!author) return h("span", { class: "muted" }, t("deleted_account"));
  if (author.alias) return h("span", { class: "alias", "data-testid": "alias" }, author.alias === "OP" ? t("alias_op") : author.alias);
  return h("a", { href: `#/user/${author.id}`, class: "author" }, author.nickname);
}

/**
 * A list that loads page after page while its end is in view (infinite scroll).
 * `fetchPage(cursor)` → `{items, next_cursor}`; `render(item)` → a node or `{node, cleanup}`;
 * `onPage(page, first)` runs after a page is shown. Returns the status line and the sentinel
 * to place after the list, `reset()` to start again from the top, and `cleanup()`.
 */
export function pagedList({ list, fetchPage, render, empty, end = "", onPage = null }) {
  const status = h("p", { class: "feed-end", role: "status" });
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const cleanups = [];
  let cursor = null;
  let done = false;
  let visible = false;
  let loading = null;
  let generation = 0;

  async function loadPage() {
    const mine = generation;
    const first = cursor === null;
    list.setAttribute("aria-busy", "true");
    try {
      const page = await fetchPage(cursor);
      if (mine !== generation) return; // started again meanwhile: this page is stale
      for (const item of page.items) {
        const shown = render(item);
        if (shown instanceof Node) {
          list.appendChild(shown);
        } else {
          list.appendChild(shown.node);
          if (shown.cleanup) cleanups.push(shown.cleanup);
        }
      }
      cursor = page.next_cursor;
      done = !cursor;
      status.textContent = done ? (list.childElementCount ? end : empty) : "";
      onPage?.(page, first);
    } catch (error) {
      status.textContent = errorText(error);
      done = true;
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  // Pages keep coming while the end stays in view (a short page does not stall the scroll).
  function more() {
    if (!loading) {
      const mine = generation;
      loading = (async () => {
        while (visible && !done && mine === generation) await loadPage();
      })().finally(() => {
        loading = null;
      });
    }
    return loading;
  }

  const observer = new IntersectionObserver((entries) => {
    visible = entries.some((entry) => entry.isIntersecting);
    if (visible) more();
  }, { rootMargin: "600px" });
  observer.observe(sentinel);

  return {
    status,
    sentinel,
    async reset() {
      const mine = ++generation;
      await loading;
      if (mine !== generation) return; // a newer reset (two live events at once) does it
      for (const cleanup of cleanups.splice(0)) cleanup();
      list.replaceChildren();
      cursor = null;
      done = false;
      status.textContent = "";
      await loadPage();
      more();
    },
    cleanup() {
      observer.disconnect();
      for (const cleanup of cleanups.splice(0)) cleanup();
    },
  };
}

/**
 * Hashtag completion as someone types: calls `show(items)` with the tags (`{tag, uses}`, ranked
 * by the server: the typed tag first, then by recent use) that complete `typed`, a short while
 * after the last keystroke; an empty `typed` clears them. Answers a function to call on input.
 */
export function hashtagCompletion(show) {
  let timer = null;
  let asked = 0;
  return (typed) => {
    clearTimeout(timer);
    const ask = ++asked;
    if (!typed) {
      show([]);
      return;
    }
    timer = setTimeout(() => {
      api("GET", "/search/hashtags/suggest", { query: { q: typed } })
        .then((answer) => { if (ask === asked) show(answer.items); })
        .catch(() => show([]));
    }, 150);
  };
}
