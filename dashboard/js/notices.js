/**
 * The page's two message regions: the alert (something failed, maybe with a Retry button) and the
 * status line (how a purchase is going). Both exist empty from the start, so screen readers
 * announce what is put in them.
 */

import { byTestId, el } from "./dom.js";

const alertRegion = byTestId("alert");
const status = byTestId("status");
const statusMessage = byTestId("status-message");
const checkAgain = byTestId("check-again");

export function showAlert(message, { retry } = {}) {
  const children = [el("p", {}, message)];
  if (retry) {
    children.push(el("button", { type: "button", className: "button secondary", dataset: { testid: "retry" }, onclick: retry }, "Retry"));
  }
  alertRegion.replaceChildren(...children);
}

export function clearAlert() {
  alertRegion.replaceChildren();
}

/** tone: "progress" | "info" | "success" | "warning" (styling only; the words carry the meaning). */
export function showStatus(message, tone = "info") {
  statusMessage.textContent = message;
  status.dataset.tone = tone;
}

export function clearStatus() {
  statusMessage.textContent = "";
  delete status.dataset.tone;
  checkAgain.hidden = true;
}
