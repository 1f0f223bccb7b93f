// Hash routes (#/post/<id>), so the server only ever serves one page.

const routes = [];
let render = null;

/** route("/post/:id", view): a view is (params) → {node, cleanup?} (or a promise of it). */
export function route(pattern, view) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  })}$`);
  routes.push({ regex, names, view });
}

export function current() {
  return location.hash.replace(/^#/, "") || "/";
}

export function go(path) {
  if (current() === path) refresh();
  else location.hash = path;
}

export function match(path = current()) {
  for (const { regex, names, view } of routes) {
    const found = path.match(regex);
    if (found) {
      const params = Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1])]));
      return { view, params };
    }
  }
  return null;
}

export function start(onRoute) {
  render = onRoute;
  window.addEventListener("hashchange", refresh);
  refresh();
}

export function refresh() {
  render?.(current());
}
