// Cursor paging: the query is kept across pages, the cursor is passed on, and an old query's answers are dropped.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createPager } from "../js/paging.js";

/** A fake API page source: records each query and answers from `pages` by cursor. */
function source(pages) {
  const calls = [];
  const fetchPage = async (q) => {
    calls.push(q);
    const page = pages[q.cursor ?? "start"];
    if (page instanceof Error) throw page;
    return page;
  };
  return { calls, fetchPage };
}

/** A page source whose answers the test releases one by one. */
function deferredSource() {
  const pending = [];
  const fetchPage = (q) => new Promise((resolve, reject) => pending.push({ q, resolve, reject }));
  return { pending, fetchPage };
}

test("the first page sends no cursor, the next sends the answer's next_cursor with the same query", async () => {
  const { calls, fetchPage } = source({
    start: { items: [1, 2], next_cursor: "c1" },
    c1: { items: [3], next_cursor: null },
  });
  const pager = createPager(fetchPage, { limit: 2 });

  assert.deepEqual(await pager.first({ type: "usage" }), { stale: false, items: [1, 2], more: true });
  assert.equal(pager.more, true);
  assert.deepEqual(await pager.next(), { stale: false, items: [3], more: false });
  assert.equal(pager.more, false);
  assert.deepEqual(calls, [
    { type: "usage", limit: 2, cursor: undefined },
    { type: "usage", limit: 2, cursor: "c1" },
  ]);
});

test("next after the last page asks for nothing", async () => {
  const { calls, fetchPage } = source({ start: { items: [1], next_cursor: null } });
  const pager = createPager(fetchPage);
  await pager.first();
  assert.deepEqual(await pager.next(), { stale: false, items: [], more: false });
  assert.equal(calls.length, 1);
});

test("next before any first page asks for nothing", async () => {
  const { calls, fetchPage } = source({});
  assert.deepEqual(await createPager(fetchPage).next(), { stale: false, items: [], more: false });
  assert.equal(calls.length, 0);
});

test("rows can come from another field than items", async () => {
  const { fetchPage } = source({ start: { grants: [{ grant_id: "g1" }], next_cursor: null } });
  const pager = createPager(fetchPage, { items: (page) => page.grants });
  assert.deepEqual((await pager.first({ status: "all" })).items, [{ grant_id: "g1" }]);
});

test("starting over makes the old query's page stale, even when it answers last", async () => {
  const { pending, fetchPage } = deferredSource();
  const pager = createPager(fetchPage);
  const old = pager.first({ type: "usage" });
  const fresh = pager.first({ type: "purchase" });
  pending[1].resolve({ items: ["purchase"], next_cursor: null });
  pending[0].resolve({ items: ["usage"], next_cursor: "old-cursor" });

  assert.deepEqual(await fresh, { stale: false, items: ["purchase"], more: false });
  assert.deepEqual(await old, { stale: true });
  // The stale answer did not overwrite the cursor of the new query.
  assert.equal(pager.more, false);
  assert.deepEqual(pager.query, { type: "purchase" });
});

test("a stale request that fails is dropped quietly; a current one that fails throws and keeps the cursor", async () => {
  const { pending, fetchPage } = deferredSource();
  const pager = createPager(fetchPage);
  const old = pager.first({ type: "usage" });
  pager.reset();
  pending[0].reject(new Error("network"));
  assert.deepEqual(await old, { stale: true });

  const first = pager.first({});
  pending[1].resolve({ items: [1], next_cursor: "c1" });
  await first;
  const next = pager.next();
  pending[2].reject(new Error("503"));
  await assert.rejects(next, /503/);
  // Retrying asks for the same page again.
  const retry = pager.next();
  assert.equal(pending[3].q.cursor, "c1");
  pending[3].resolve({ items: [2], next_cursor: null });
  assert.deepEqual(await retry, { stale: false, items: [2], more: false });
});

test("a second next while one is in flight asks for nothing and draws nothing", async () => {
  const { pending, fetchPage } = deferredSource();
  const pager = createPager(fetchPage);
  const first = pager.first({});
  pending[0].resolve({ items: [1], next_cursor: "c1" });
  await first;

  const a = pager.next();
  const b = pager.next();
  assert.deepEqual(await b, { stale: true });
  assert.equal(pending.length, 2);
  pending[1].resolve({ items: [2], next_cursor: "c2" });
  assert.deepEqual(await a, { stale: false, items: [2], more: true });
  // Once it answered, next works again.
  const c = pager.next();
  assert.equal(pending[2].q.cursor, "c2");
  pending[2].resolve({ items: [3], next_cursor: null });
  assert.deepEqual((await c).items, [3]);
});

test("reset forgets the query and the cursor", async () => {
  const { calls, fetchPage } = source({ start: { items: [1], next_cursor: "c1" } });
  const pager = createPager(fetchPage);
  await pager.first({ type: "usage" });
  pager.reset();
  assert.equal(pager.more, false);
  assert.deepEqual(pager.query, {});
  assert.deepEqual(await pager.next(), { stale: false, items: [], more: false });
  assert.equal(calls.length, 1);
});
