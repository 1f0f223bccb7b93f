// Start-up: language, routes, the live connection, the service worker.

import * as i18n from "./i18n.js";
import * as session from "./session.js";
import * as live from "./live.js";
import * as router from "./router.js";
import * as shell from "./views/shell.js";
import { welcomeView, loginView, recoveryKeyView } from "./views/welcome.js";
import { feedView } from "./views/feed.js";
import { postView } from "./views/post.js";
import { composerView } from "./views/composer.js";
import { profileView } from "./views/profile.js";
import { notificationsView } from "./views/notifications.js";
import { settingsView } from "./views/settings.js";
import { moderationView } from "./views/moderation.js";

i18n.apply();

// Routes anyone may open, signed in or not; the others need a session.
const open = new Set(["/welcome", "/login", "/saved-key"]);

router.route("/", () => feedView({ kind: "home" }));
router.route("/popular", () => feedView({ kind: "popular" }));
router.route("/tag/:tag", ({ tag }) => feedView({ kind: "tag", tag }));
router.route("/search/:query", ({ query }) => feedView({ kind: "search", query }));
router.route("/search/:query/:type", ({ query, type }) => feedView({ kind: "search", query, type }));
router.route("/post/:id", ({ id }) => postView(id));
router.route("/compose", () => composerView());
router.route("/user/:id", ({ id }) => profileView(id));
router.route("/notifications", () => notificationsView());
router.route("/settings", () => settingsView());
router.route("/moderation", () => moderationView());
router.route("/welcome", () => welcomeView());
router.route("/login", () => loginView());
router.route("/saved-key", () => recoveryKeyView());

router.start((path) => {
  const signedIn = Boolean(session.current());
  if (!signedIn && !open.has(path)) {
    router.go("/welcome");
    return;
  }
  if (signedIn && (path === "/welcome" || path === "/login")) {
    router.go("/");
    return;
  }
  const found = router.match(path);
  shell.show(found ? found.view(found.params) : null, { signedIn });
});

function onSession(stored) {
  if (stored) {
    live.start();
    shell.refreshBadge();
  } else {
    live.stop();
    router.refresh();
  }
}
session.onChange((stored) => onSession(stored));
onSession(session.current());

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { type: "module", scope: "/" }).catch((error) => {
    console.warn("service worker not registered", error);
  });
}
