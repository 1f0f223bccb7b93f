// Message catalogues and localised dates. Every word the app shows comes from here.

import en from "./messages/en.js";
import ko from "./messages/ko.js";

const catalogues = { en, ko };
const STORAGE_KEY = "veilgram.language";
let language = "en";

/** "auto" (follow the browser), "en" or "ko". */
export function preference() {
  return localStorage.getItem(STORAGE_KEY) || "auto";
}

export function setPreference(value) {
  if (value === "auto") localStorage.removeItem(STORAGE_KEY);
  else localStorage.setItem(STORAGE_KEY, value);
  apply();
}

export function current() {
  return language;
}

/** Picks the language from the preference, else from the browser's list. */
export function apply() {
  const chosen = preference();
  if (chosen !== "auto" && catalogues[chosen]) {
    language = chosen;
  } else {
    const browser = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
    language = browser.map((tag) => tag.toLowerCase().split("-")[0]).find((tag) => catalogues[tag]) || "en";
  }
  document.documentElement.lang = language;
  document.title = t("app_name");
}

/** t("likes", {count: 3}) — a message, with {name} placeholders and plural forms. */
export function t(key, values = {}) {
  let message = catalogues[language][key] ?? catalogues.en[key];
  if (message === undefined) {
    console.warn(`missing message: ${key}`);
    return key;
  }
  if (typeof message === "object") {
    const count = values.count ?? 0;
    const form = count === 0 && "zero" in message ? "zero" : new Intl.PluralRules(language).select(count);
    message = message[form] ?? message.other;
  }
  return message.replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? (typeof values[name] === "number" ? formatNumber(values[name]) : String(values[name])) : whole);
}

export function formatNumber(value) {
  return new Intl.NumberFormat(language).format(value);
}

const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

/** "3 minutes ago" / "3분 전", for a time in the past or the future. */
export function relative(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const format = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
  if (Math.abs(seconds) < 45) return format.format(0, "second");
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(0, "second");
}

/** The full date and time, for a tooltip and the <time> element. */
export function absolute(iso) {
  return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}
