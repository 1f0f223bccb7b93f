// Signing up (no email, no phone), showing the recovery key once, and signing in with it.

import { h, download } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { solveChallenge } from "../proof.js";
import * as session from "../session.js";
import * as router from "../router.js";
import { errorText, field } from "./common.js";

// The key shown once after sign-up or rotation; never stored, forgotten when confirmed.
let pendingKey = null;

export function showRecoveryKey(userId, recoveryKey, then = "/") {
  pendingKey = { userId, recoveryKey, then };
  router.go("/saved-key");
}

/** A progress bar for a proof of work, hidden until one runs. */
function proofProgress() {
  const bar = h("progress", { max: 1, value: 0, "data-testid": "proof-progress" });
  const node = h("div", { class: "stack", hidden: true }, h("span", { class: "hint" }, t("proof_running")), bar);
  return {
    node,
    update: (fraction) => {
      node.hidden = fraction >= 1;
      bar.value = fraction;
    },
  };
}

export function welcomeView() {
  const nickname = h("input", { id: "signup-nickname", name: "nickname", maxlength: 30, autocomplete: "off" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "signup" }, t("signup_button"));
  const progress = proofProgress();
  const form = h("form", {
    class: "card stack",
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        const body = nickname.value.trim() ? { nickname: nickname.value.trim() } : {};
        progress.update(0);
        body.proof = await solveChallenge("signup", progress.update);
        progress.update(1);
        const answer = await api("POST", "/auth/signup", { body, auth: false });
        pendingKey = { userId: answer.user_id, recoveryKey: answer.recovery_key, then: "/", tokens: answer };
        router.go("/saved-key");
      } catch (failure) {
        progress.update(1);
        error.textContent = errorText(failure);
        submit.disabled = false;
      }
    },
  },
  field(t("signup_nickname_label"), nickname, t("signup_nickname_hint")),
  progress.node, error, submit);
  return {
    node: h("div", { class: "welcome" },
      h("h1", {}, t("welcome_title")),
      h("p", { class: "lead" }, t("welcome_lead")),
      h("ul", { class: "promises" }, h("li", {}, t("welcome_no_email")), h("li", {}, t("welcome_no_tracking")), h("li", {}, t("welcome_key"))),
      form,
      h("p", {}, h("a", { href: "#/login", "data-testid": "to-login" }, t("have_key_link")))),
  };
}

/** The recovery key, once, with copy and download, and a required "I saved it". */
export function recoveryKeyView() {
  const pending = pendingKey;
  if (!pending) {
    router.go(session.current() ? "/" : "/welcome");
    return { node: h("p", {}, "") };
  }
  const text = `${t("key_file_user_id")}: ${pending.userId}\n${t("key_file_recovery_key")}: ${pending.recoveryKey}\n`;
  const copied = h("span", { role: "status", class: "hint" });
  const confirm = h("input", { type: "checkbox", id: "key-saved", "data-testid": "key-saved" });
  const proceed = h("button", { type: "button", class: "primary", disabled: true, "data-testid": "key-continue",
    onclick: () => {
      pendingKey = null;
      if (pending.tokens) session.store(pending.tokens, pending.userId);
      router.go(pending.then);
    } }, t("key_continue"));
  confirm.addEventListener("change", () => {
    proceed.disabled = !confirm.checked;
  });
  return {
    node: h("div", { class: "welcome" },
      h("h1", {}, t("key_title")),
      h("p", { class: "lead" }, t("key_lead")),
      h("dl", { class: "key card" },
        h("dt", {}, t("key_file_user_id")), h("dd", {}, h("code", { "data-testid": "user-id" }, pending.userId)),
        h("dt", {}, t("key_file_recovery_key")), h("dd", {}, h("code", { "data-testid": "recovery-key" }, pending.recoveryKey))),
      h("div", { class: "row" },
        h("button", { type: "button", "data-testid": "copy-key", onclick: async () => {
          try {
            await navigator.clipboard.writeText(text);
            copied.textContent = t("copied");
          } catch {
            copied.textContent = t("copy_failed");
          }
        } }, t("copy")),
        h("button", { type: "button", onclick: () => download("veilgram-recovery-key.txt", new Blob([text], { type: "text/plain" })) }, t("download")),
        copied),
      h("p", { class: "warning" }, t("key_warning")),
      h("label", { class: "check" }, confirm, t("key_saved_label")),
      proceed),
  };
}

export function loginView() {
  const user = h("input", { id: "login-user", name: "user_id", autocomplete: "username", required: true, spellcheck: false });
  const key = h("input", { id: "login-key", name: "recovery_key", type: "password", autocomplete: "current-password", required: true, spellcheck: false });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login" }, t("login_button"));
  const progress = proofProgress();
  return {
    node: h("div", { class: "welcome" },
      h("h1", {}, t("login_title")),
      h("form", {
        class: "card stack",
        onsubmit: async (event) => {
          event.preventDefault();
          submit.disabled = true;
          error.textContent = "";
          try {
            const userId = user.value.trim();
            const body = { user_id: userId, recovery_key: key.value.trim() };
            // After failed logins from this network the server wants a proof of work.
            progress.update(0);
            const proof = await solveChallenge("login", progress.update);
            progress.update(1);
            if (proof) body.proof = proof;
            const answer = await api("POST", "/auth/login", { body, auth: false });
            session.store(answer, userId);
            router.go("/");
          } catch (failure) {
            progress.update(1);
            error.textContent = failure.status === 401 || failure.status === 400 ? t("login_failed") : errorText(failure);
            submit.disabled = false;
          }
        },
      },
      field(t("key_file_user_id"), user),
      field(t("key_file_recovery_key"), key),
      progress.node, error, submit),
      h("p", {}, h("a", { href: "#/welcome" }, t("back_to_signup")))),
  };
}
