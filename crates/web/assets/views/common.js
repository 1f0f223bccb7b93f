// Pieces several screens share: labelled fields, error text, avatars, confirmation dialogs.

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
