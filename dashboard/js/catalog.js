/**
 * The service's catalogs, read once per page: bundles (what Buy and auto-recharge offer) and the
 * feature price list (names for usage by feature). Both are public and change only with a deployment.
 *
 * A failed read is not remembered, so the next refresh asks again.
 */

import { isMissingRoute } from "./api.js";

export function createCatalog(api) {
  let bundles = null;
  let features = null;

  return {
    /** @returns {Promise<object[]>} the bundles, in the service's order */
    bundles() {
      bundles ??= api.bundles().then(
        (answer) => answer.bundles,
        (err) => {
          bundles = null;
          throw err;
        },
      );
      return bundles;
    },

    /**
     * @returns {Promise<Map<string, string>>} feature id -> name. Never fails: names are a nicety, and
     * without them a feature is shown by its id.
     */
    featureNames() {
      features ??= api.features().then(
        (answer) => new Map((answer.features ?? []).map((f) => [f.id, f.name])),
        (err) => {
          // A service without a price list (404) has no names to give; anything else may work next time.
          if (!isMissingRoute(err)) features = null;
          return new Map();
        },
      );
      return features;
    },

    /** Bundles may be shown again from memory (back/forward cache); a new sign-in reads them afresh. */
    forget() {
      bundles = null;
      features = null;
    },
  };
}
