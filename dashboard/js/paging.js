/**
 * Cursor paging as the API does it (`limit`, opaque `cursor`, `next_cursor`), apart from any table.
 *
 * A pager remembers the query of its first page and the cursor for the next.
 * Starting over (a new filter) makes every answer still in flight for the old
 * query stale: the caller gets `{ stale: true }` and draws nothing, so a slow
 * page of the old filter is never mixed into the new one.
 */

/**
 * @param {(query: object) => Promise<object>} fetchPage  one API page for `{...query, limit, cursor}`
 * @param {object} [options]
 * @param {number} [options.limit]  page size sent as `limit`
 * @param {(page: object) => object[]} [options.items]  the page's rows (history: `items`, grants: `grants`)
 */
export function createPager(fetchPage, { limit, items = (page) => page.items } = {}) {
  let query = {};
  let cursor = null;
  let generation = 0;
  let started = false;
  // The request of the current query still in flight: a "next" while it runs asks for nothing (the
  // cursor it would send is not known yet, or is the one already being fetched) and draws nothing.
  let inflight = null;

  async function load(mine, q) {
    let page;
    try {
      page = await fetchPage({ ...q, limit, cursor: cursor ?? undefined });
    } catch (err) {
      if (mine !== generation) return { stale: true };
      throw err;
    }
    if (mine !== generation) return { stale: true };
    cursor = page.next_cursor ?? null;
    return { stale: false, items: items(page) ?? [], more: cursor !== null };
  }

  function track(promise) {
    const mine = promise.finally(() => {
      if (inflight === mine) inflight = null;
    });
    inflight = mine;
    return mine;
  }

  return {
    /** The first page of `q` (drops everything of an earlier query). */
    first(q = {}) {
      generation++;
      query = { ...q };
      cursor = null;
      started = true;
      return track(load(generation, query));
    },
    /** The page after the last one shown, for the same query; nothing when there is none. */
    next() {
      if (inflight) return Promise.resolve({ stale: true });
      if (!started || cursor === null) return Promise.resolve({ stale: false, items: [], more: false });
      return track(load(generation, query));
    },
    /** Forget everything; answers still in flight become stale. */
    reset() {
      generation++;
      query = {};
      cursor = null;
      started = false;
      inflight = null;
    },
    get more() {
      return cursor !== null;
    },
    get query() {
      return { ...query };
    },
  };
}
