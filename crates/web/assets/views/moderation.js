// The moderators' queue: open reports grouped by the post or comment they are about, oldest
// first (automatic moderation's own and authors' appeals among them), a decision on each, and
// the moderation log with the classifiers' rules and scores.

import { h, toast } from "../dom.js";
import { t, relative, absolute, formatNumber } from "../i18n.js";
import { api } from "../api.js";
import { confirmDialog, errorText, pagedList } from "./common.js";

const ACTIONS = [
  ["dismiss", "moderation_dismiss", null],
  ["hide", "moderation_hide", null],
  ["warn", "moderation_warn", null],
  ["delete", "moderation_delete", "moderation_delete_confirm"],
  ["suspend_author", "moderation_suspend", "moderation_suspend_confirm"],
];

function groupCard(group) {
  const reasons = Object.entries(group.reasons)
    .map(([reason, count]) => `${t(`report_${reason}`)} × ${formatNumber(count)}`)
    .join(", ");
  const card = h("article", { class: "card stack", "data-testid": "report-group" });
  const decide = async (action, confirmKey) => {
    if (confirmKey && !(await confirmDialog(t(confirmKey), t(`moderation_${action === "suspend_author" ? "suspend" : action}`), { danger: true }))) return;
    try {
      await api("POST", `/admin/reports/${group.id}/resolve`, { body: { action } });
      card.remove();
      toast(t("moderation_done"));
    } catch (error) {
      toast(errorText(error));
    }
  };
  card.append(
    h("header", { class: "row wrap" },
      h("span", { class: "pill" }, t(group.target_kind === "post" ? "moderation_kind_post" : "moderation_kind_comment")),
      h("strong", {}, t("moderation_reports", { count: group.reports })),
      h("time", { datetime: group.first_reported_at, title: absolute(group.first_reported_at), class: "muted" }, relative(group.first_reported_at))),
    h("p", { class: "text" }, group.text),
    h("p", { class: "muted" }, reasons),
    h("a", { href: `#/post/${group.post_id}` }, t("moderation_open")),
    h("div", { class: "row wrap" }, ACTIONS.map(([action, label, confirmKey]) =>
      h("button", { type: "button", class: confirmKey ? "danger" : "", "data-action": action,
        onclick: () => decide(action, confirmKey) }, t(label)))));
  return card;
}

function logEntry(entry) {
  const parts = [t(`moderation_decision_${entry.decision}`)];
  if (entry.category) parts.push(t(`moderation_reason_${entry.category}`));
  if (entry.rule) parts.push(`${entry.rule} ${formatNumber(Math.round((entry.score ?? 0) * 100))}%`);
  parts.push(t(entry.by === "system" ? "moderation_by_system" : "moderation_by_moderator"));
  return h("p", { class: "row wrap", "data-testid": "log-entry" },
    h("a", { href: `#/post/${entry.post_id}` }, t(entry.target_kind === "post" ? "moderation_kind_post" : "moderation_kind_comment")),
    h("span", {}, parts.join(" · ")),
    h("time", { datetime: entry.created_at, title: absolute(entry.created_at), class: "muted" }, relative(entry.created_at)));
}

export function moderationView() {
  const list = h("div", { class: "feed", "data-testid": "report-queue" });
  const pages = pagedList({
    list,
    fetchPage: (cursor) => api("GET", "/admin/reports", { query: { limit: 20, cursor } }),
    render: groupCard,
    empty: t("moderation_empty"),
  });
  const log = h("div", { class: "stack", "data-testid": "moderation-log" });
  const logPages = pagedList({
    list: log,
    fetchPage: (cursor) => api("GET", "/admin/moderation-log", { query: { limit: 20, cursor } }),
    render: logEntry,
    empty: t("moderation_log_empty"),
  });
  return {
    node: h("section", {}, h("h1", {}, t("nav_moderation")), list, pages.status, pages.sentinel,
      h("h2", {}, t("moderation_log")), log, logPages.status, logPages.sentinel),
    cleanup: () => {
      pages.cleanup();
      logPages.cleanup();
    },
  };
}
