// Settings: profile (nickname, status, avatar), language, push on this device, recovery key,
// data export, log out and account deletion.

import { h, toast, download } from "../dom.js";
import { t, preference, setPreference } from "../i18n.js";
import { api, upload, forgetProfile } from "../api.js";
import * as session from "../session.js";
import * as router from "../router.js";
import { avatar, confirmDialog, errorText, field, pagedList } from "./common.js";
import { showRecoveryKey } from "./welcome.js";

function section(title, ...children) {
  return h("section", { class: "card stack" }, h("h2", {}, title), ...children);
}

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

async function enablePush() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error(t("push_unsupported"));
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error(t("push_denied"));
  const registration = await navigator.serviceWorker.ready;
  const { public_key: key } = await api("GET", "/push/vapid_key");
  const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(key) });
  const json = subscription.toJSON();
  await api("POST", "/push/devices", { body: { platform: "webpush", subscription: { endpoint: json.endpoint, keys: json.keys } } });
}

export async function settingsView() {
  const me = await api("GET", "/users/me");

  // Profile.
  const nickname = h("input", { id: "settings-nickname", value: me.nickname, maxlength: 30, minlength: 2, required: true, "data-testid": "nickname" });
  const status = h("input", { id: "settings-status", value: me.status_message ?? "", maxlength: 150, "data-testid": "status-message" });
  const profileError = h("p", { class: "error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary", "data-testid": "save-profile" }, t("save"));
  const profileForm = h("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    profileError.textContent = "";
    save.disabled = true;
    try {
      await api("PATCH", "/users/me", { body: { nickname: nickname.value.trim(), status_message: status.value.trim() } });
      forgetProfile(me.id);
      toast(t("saved"));
    } catch (error) {
      profileError.textContent = errorText(error);
      if (error.field === "nickname") nickname.focus();
    } finally {
      save.disabled = false;
    }
  } }, field(t("nickname"), nickname, t("nickname_hint")), field(t("status_message"), status), profileError, save);

  // Avatar.
  const avatarBox = h("div", { class: "row" }, avatar(me, "large"));
  const avatarInput = h("input", { type: "file", id: "avatar-input", accept: "image/jpeg,image/png,image/webp,image/gif", "data-testid": "avatar-input" });
  const avatarState = h("small", { class: "hint", role: "status" });
  avatarInput.addEventListener("change", async () => {
    const file = avatarInput.files[0];
    if (!file) return;
    avatarState.textContent = t("uploading");
    try {
      const media = await upload(file, (share) => { avatarState.textContent = `${t("uploading")} ${Math.round(share * 100)}%`; });
      const updated = await api("PATCH", "/users/me", { body: { avatar_media_id: media.id } });
      avatarBox.replaceChildren(avatar(updated, "large"));
      forgetProfile(me.id);
      avatarState.textContent = t("saved");
    } catch (error) {
      avatarState.textContent = errorText(error);
    }
  });

  // Language.
  const language = h("select", { id: "settings-language", "data-testid": "language" },
    [["auto", "language_auto"], ["en", "language_en"], ["ko", "language_ko"]].map(([value, key]) =>
      h("option", { value, selected: preference() === value }, t(key))));
  language.addEventListener("change", () => {
    setPreference(language.value);
    location.reload();
  });

  // Push.
  const pushState = h("small", { class: "hint", role: "status" });
  const pushButton = h("button", { type: "button", onclick: async () => {
    pushButton.disabled = true;
    try {
      await enablePush();
      pushState.textContent = t("push_enabled");
    } catch (error) {
      pushState.textContent = error instanceof Error && !error.status ? error.message : errorText(error);
    } finally {
      pushButton.disabled = false;
    }
  } }, t("push_enable"));

  // Recovery key, export, log out, delete.
  const rotate = h("button", { type: "button", "data-testid": "rotate-key", onclick: async () => {
    if (!(await confirmDialog(t("rotate_confirm"), t("rotate_key")))) return;
    try {
      const { recovery_key: key } = await api("POST", "/auth/recovery-key");
      showRecoveryKey(me.id, key, "/settings");
    } catch (error) {
      toast(errorText(error));
    }
  } }, t("rotate_key"));
  const exportButton = h("button", { type: "button", "data-testid": "export", onclick: async () => {
    try {
      const data = await api("GET", "/users/me/export");
      download("veilgram-export.json", new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
      toast(t("exported"));
    } catch (error) {
      toast(errorText(error));
    }
  } }, t("export"));
  const logout = h("button", { type: "button", "data-testid": "logout", onclick: async () => {
    try {
      await api("POST", "/auth/logout");
    } catch {
      // Signed out here whatever the server said.
    }
    session.clear();
    router.go("/welcome");
  } }, t("logout"));
  const remove = h("button", { type: "button", class: "danger", "data-testid": "delete-account", onclick: async () => {
    if (!(await confirmDialog(t("delete_account_confirm"), t("delete_account"), { danger: true }))) return;
    try {
      await api("DELETE", "/users/me");
      session.clear();
      router.go("/welcome");
      toast(t("account_deleted"));
    } catch (error) {
      toast(errorText(error));
    }
  } }, t("delete_account"));

  // Blocked accounts, to unblock.
  const blockedList = h("ul", { class: "people", "data-testid": "blocked" });
  const blocked = pagedList({
    list: blockedList,
    fetchPage: (cursor) => api("GET", "/users/me/blocks", { query: { limit: 20, cursor } }),
    render: (person) => {
      const row = h("li", { class: "row" }, avatar(person), h("span", { class: "grow" }, person.nickname));
      row.appendChild(h("button", { type: "button", "data-testid": "unblock", onclick: async () => {
        try {
          await api("DELETE", `/users/${person.id}/block`);
          row.remove();
          toast(t("unblocked", { name: person.nickname }));
        } catch (error) {
          toast(errorText(error));
        }
      } }, t("unblock")));
      return row;
    },
    empty: t("blocked_empty"),
  });

  // Aliases blocked in anonymous threads: a thread and an alias, never who it is.
  const aliasList = h("ul", { class: "people", "data-testid": "alias-blocks" });
  const aliasBlocks = pagedList({
    list: aliasList,
    fetchPage: (cursor) => api("GET", "/users/me/alias-blocks", { query: { limit: 20, cursor } }),
    render: (block) => {
      const row = h("li", { class: "row" },
        h("a", { href: `#/post/${block.post_id}`, class: "grow" }, t("alias_block_row", { alias: block.alias })));
      row.appendChild(h("button", { type: "button", "data-testid": "unblock-alias", onclick: async () => {
        try {
          await api("DELETE", `/users/me/alias-blocks/${block.id}`);
          row.remove();
          toast(t("unblocked_alias", { alias: block.alias }));
        } catch (error) {
          toast(errorText(error));
        }
      } }, t("unblock")));
      return row;
    },
    empty: t("alias_blocks_empty"),
  });

  return {
    cleanup: () => {
      blocked.cleanup();
      aliasBlocks.cleanup();
    },
    node: h("div", { class: "settings stack" },
      h("h1", {}, t("nav_settings")),
      section(t("profile_section"), profileForm),
      section(t("avatar"), avatarBox,
        h("div", { class: "file-picker" }, avatarInput, h("label", { for: "avatar-input", class: "button-like" }, t("avatar_choose"))),
        avatarState),
      section(t("language"), field(t("language"), language)),
      section(t("push_section"), h("p", { class: "hint" }, t("push_hint")), pushButton, pushState),
      section(t("blocked_section"), blockedList, blocked.status, blocked.sentinel),
      section(t("alias_blocks_section"), aliasList, aliasBlocks.status, aliasBlocks.sentinel),
      section(t("account_section"),
        h("p", { class: "hint" }, t("user_id_is", { id: me.id })),
        h("div", { class: "row wrap" }, rotate, exportButton, logout)),
      section(t("danger_zone"), h("p", { class: "hint" }, t("delete_account_hint")), remove)),
  };
}
