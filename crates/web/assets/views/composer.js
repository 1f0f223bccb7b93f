// Writing a post: text with highlighted hashtags (completed from the most used as they are
// typed), up to 10 photos or videos (uploaded at once, with progress and a description each), a
// poll, visibility and the anonymous-thread switch.

import { h, toast } from "../dom.js";
import { t } from "../i18n.js";
import { api, upload, whenProcessed } from "../api.js";
import * as router from "../router.js";
import { errorText, field, hashtagCompletion } from "./common.js";

const MAX_MEDIA = 10;
const MAX_TEXT = 2000;
/** A #hashtag as the server reads it (its tag captured). */
const HASHTAG = "#([\\p{L}\\p{N}_]+)";

/** The text box with a layer behind it that marks #hashtags (the text itself stays plain). */
function highlightedTextarea() {
  const textarea = h("textarea", { id: "post-text", rows: 5, maxlength: MAX_TEXT, "data-testid": "post-text" });
  const backdrop = h("div", { class: "highlights", "aria-hidden": "true" });
  const counter = h("small", { class: "hint", "aria-live": "polite" });
  const sync = () => {
    const nodes = [];
    let last = 0;
    for (const match of textarea.value.matchAll(new RegExp(HASHTAG, "gu"))) {
      nodes.push(textarea.value.slice(last, match.index), h("mark", {}, match[0]));
      last = match.index + match[0].length;
    }
    nodes.push(textarea.value.slice(last), "\n");
    backdrop.replaceChildren(...nodes);
    backdrop.scrollTop = textarea.scrollTop;
    counter.textContent = t("characters_left", { count: MAX_TEXT - textarea.value.length });
  };
  // The #tag being typed completes from the tags people use most.
  const suggestions = h("ul", { class: "tag-suggestions", role: "listbox", "aria-label": t("tag_suggestions"),
    "data-testid": "tag-suggestions", hidden: true });
  const complete = hashtagCompletion((items) => {
    suggestions.replaceChildren(...items.map(({ tag, uses }) => h("li", { role: "option" },
      h("button", { type: "button", onclick: () => choose(tag) }, `#${tag}`, " ",
        h("small", { class: "hint" }, t("tag_uses", { count: uses }))))));
    suggestions.hidden = items.length === 0;
  });
  const typing = () => textarea.value.slice(0, textarea.selectionStart).match(new RegExp(`${HASHTAG}$`, "u"));
  const choose = (tag) => {
    const typed = typing();
    if (!typed) return;
    const end = textarea.selectionStart;
    const start = end - typed[1].length;
    textarea.value = `${textarea.value.slice(0, start)}${tag} ${textarea.value.slice(end)}`;
    textarea.selectionStart = textarea.selectionEnd = start + tag.length + 1;
    textarea.focus();
    sync();
    complete("");
  };
  textarea.addEventListener("input", () => {
    sync();
    complete(typing()?.[1] ?? "");
  });
  textarea.addEventListener("scroll", () => { backdrop.scrollTop = textarea.scrollTop; });
  sync();
  return { textarea, node: h("div", {}, h("div", { class: "highlight-box" }, backdrop, textarea), suggestions), counter };
}

export function composerView() {
  const text = highlightedTextarea();
  const items = []; // {file, media, progress, alt, node, failed}
  const list = h("ul", { class: "uploads" });
  const picker = h("input", { type: "file", id: "media-picker", accept: "image/jpeg,image/png,image/gif,image/webp,video/mp4,video/quicktime,video/webm", multiple: true, "data-testid": "media-picker" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "post-submit" }, t("publish"));

  function refresh() {
    const busy = items.some((item) => !item.media && !item.failed);
    submit.disabled = busy;
    picker.disabled = items.length >= MAX_MEDIA;
  }

  function addFile(file) {
    const isVideo = file.type.startsWith("video/");
    const preview = isVideo
      ? h("span", { class: "thumb video-thumb", "aria-hidden": "true" }, "▶")
      : h("img", { class: "thumb", src: URL.createObjectURL(file), alt: "" });
    const progress = h("progress", { max: 1, value: 0, "aria-label": t("upload_progress") });
    const alt = h("input", { type: "text", maxlength: 1500, "data-testid": "alt-text", placeholder: t("alt_placeholder") });
    const state = h("small", { class: "hint", role: "status" }, t("uploading"));
    const item = { file, media: null, failed: false, alt };
    const remove = h("button", { type: "button", class: "quiet", onclick: () => {
      items.splice(items.indexOf(item), 1);
      item.node.remove();
      if (preview.src) URL.revokeObjectURL(preview.src);
      refresh();
    } }, t("remove"));
    item.node = h("li", { class: "upload" }, preview, h("div", { class: "stack grow" },
      field(t(isVideo ? "alt_label_video" : "alt_label"), alt), progress, state), remove);
    items.push(item);
    list.appendChild(item.node);
    refresh();
    upload(file, (share) => { progress.value = share; })
      .then((media) => whenProcessed(media))
      .then((media) => {
        if (media.status === "failed") throw new Error("failed");
        item.media = media;
        progress.value = 1;
        state.textContent = t("uploaded");
      })
      .catch((failure) => {
        item.failed = true;
        state.textContent = failure.status ? errorText(failure) : t("media_failed");
        state.classList.add("error");
      })
      .finally(refresh);
  }

  picker.addEventListener("change", () => {
    const files = [...picker.files];
    picker.value = "";
    if (items.length + files.length > MAX_MEDIA) toast(t("too_many_files", { count: MAX_MEDIA }));
    for (const file of files.slice(0, MAX_MEDIA - items.length)) addFile(file);
  });

  // The poll.
  const pollOn = h("input", { type: "checkbox", id: "poll-on", "data-testid": "poll-on" });
  const options = [0, 1, 2, 3].map((index) => h("input", { type: "text", maxlength: 80, "data-testid": `poll-option-${index}` }));
  const duration = h("select", { id: "poll-duration" },
    [[3600, "poll_1h"], [86400, "poll_1d"], [259200, "poll_3d"], [604800, "poll_7d"]].map(([seconds, key]) =>
      h("option", { value: seconds, selected: seconds === 86400 }, t(key))));
  const pollBox = h("fieldset", { class: "poll-editor", hidden: true },
    h("legend", {}, t("poll")),
    options.map((input, index) => field(t("poll_option", { number: index + 1 }), input, index > 1 ? t("optional") : null)),
    field(t("poll_duration"), duration));
  pollOn.addEventListener("change", () => {
    pollBox.hidden = !pollOn.checked;
    if (pollOn.checked) options[0].focus();
  });

  const visibility = h("select", { id: "visibility", "data-testid": "visibility" },
    h("option", { value: "public" }, t("visibility_public")),
    h("option", { value: "followers" }, t("visibility_followers")));
  const anonymous = h("input", { type: "checkbox", id: "anonymous-thread", "data-testid": "anonymous-thread" });
  const idempotencyKey = crypto.randomUUID();

  const form = h("form", { class: "composer card stack", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    const ready = items.filter((item) => item.media);
    const body = { text: text.textarea.value, visibility: visibility.value, anonymous_thread: anonymous.checked };
    if (ready.length) body.media_ids = ready.map((item) => item.media.id);
    if (pollOn.checked) {
      const texts = options.map((input) => input.value.trim()).filter(Boolean);
      if (texts.length < 2) {
        error.textContent = t("poll_needs_two");
        options[texts.length].focus();
        return;
      }
      body.poll = { options: texts, closes_in_seconds: Number(duration.value) };
    }
    if (!body.text.trim() && !ready.length) {
      error.textContent = t("post_empty");
      text.textarea.focus();
      return;
    }
    submit.disabled = true;
    try {
      for (const item of ready) {
        const description = item.alt.value.trim();
        if (description) await api("PATCH", `/media/${item.media.id}`, { body: { alt: description } });
      }
      const post = await api("POST", "/posts", { body, headers: { "Idempotency-Key": idempotencyKey } });
      toast(t("published"));
      router.go(`/post/${post.id}`);
    } catch (failure) {
      error.textContent = errorText(failure);
      submit.disabled = false;
    }
  } },
  h("label", { for: "post-text" }, t("compose_label")),
  text.node, text.counter,
  h("div", { class: "file-picker" }, picker, h("label", { for: "media-picker", class: "button-like" }, t("add_media", { count: MAX_MEDIA }))),
  list,
  h("label", { class: "check" }, pollOn, t("add_poll")),
  pollBox,
  field(t("visibility"), visibility),
  h("label", { class: "check" }, anonymous, t("anonymous_thread")),
  h("small", { class: "hint" }, t("anonymous_thread_hint")),
  error, submit);
  return { node: h("section", {}, h("h1", {}, t("compose_title")), form) };
}
