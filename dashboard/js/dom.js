/**
 * Tiny DOM helpers so the other modules can build elements without innerHTML.
 *
 * Text from the API (descriptions, bundle names, error messages) is always set
 * as text, never parsed as HTML.
 */

/** The single element with data-testid=`id`; throws if the page is missing it. */
export function byTestId(id, root = document) {
  const node = root.querySelector(`[data-testid="${id}"]`);
  if (!node) throw new Error(`dashboard markup is missing [data-testid="${id}"]`);
  return node;
}

/**
 * el("td", { className: "amount", dataset: { testid: "x" } }, "text", childNode)
 * `role` and names containing "-" (aria-*) are set with setAttribute; other keys as properties.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "role" || key.includes("-")) node.setAttribute(key, value === true ? "" : value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Same as el() for SVG elements, where everything is an attribute. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}
