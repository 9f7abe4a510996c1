// Static checks of the dashboard's sources: what the page's Content-Security-Policy and the
// no-innerHTML rule forbid, and that every element the scripts look up exists in index.html.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HTML = readFileSync(join(ROOT, "index.html"), "utf8");

function scripts(dir = join(ROOT, "js")) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return scripts(path);
    return entry.name.endsWith(".js") ? [{ path, name: relative(ROOT, path), text: readFileSync(path, "utf8") }] : [];
  });
}

test("no script builds markup from strings or sets inline styles (CSP style-src 'self')", () => {
  for (const { name, text } of scripts()) {
    for (const pattern of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /\.style\b/, /["']style["']/, /\beval\(/]) {
      assert.doesNotMatch(text, pattern, `${name} uses ${pattern}`);
    }
  }
  assert.doesNotMatch(HTML, /\sstyle=/, "index.html has an inline style");
  assert.doesNotMatch(HTML, /<script(?![^>]*\bsrc=)[^>]*>/, "index.html has an inline script");
});

test("every data-testid a script looks up with byTestId exists in index.html", () => {
  const ids = new Set([...HTML.matchAll(/data-testid="([^"]+)"/g)].map((m) => m[1]));
  for (const { name, text } of scripts()) {
    for (const m of text.matchAll(/byTestId\("([^"]+)"/g)) assert.ok(ids.has(m[1]), `${name} looks up [data-testid="${m[1]}"]`);
  }
});

test("every relative import of a script resolves to a dashboard file", () => {
  const files = new Set(scripts().map((s) => s.path));
  for (const { path, name, text } of scripts()) {
    for (const m of text.matchAll(/^\s*import\s[^"']*["'](\.[^"']+)["']/gm)) {
      assert.ok(files.has(join(dirname(path), m[1])), `${name} imports ${m[1]}`);
    }
  }
});
