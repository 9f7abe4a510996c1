/**
 * The low-balance alerts card: up to 5 thresholds of available credits (PUT /credits/settings
 * `alerts.thresholds`). Checked with settings-validation.js first; the server's 400 is shown
 * on the field. Hidden when the service has no settings route (the app decides, from its GET).
 */

import { ApiError, AuthError } from "../api.js";
import { byTestId } from "../dom.js";
import { parseThresholds, thresholdsText } from "../settings-validation.js";

/**
 * @param {HTMLElement} root  the alerts card
 * @param {{api: object, onError: Function, onSaved: Function, isCurrent: Function}} deps
 *   `onSaved(settings)` hands the whole answer back to the app (it redraws every settings panel);
 *   `isCurrent()` captures the session so an answer for a signed-out session is dropped.
 */
export function createAlertsPanel(root, { api, onError, onSaved, isCurrent }) {
  const ui = {
    form: byTestId("alerts-form", root),
    input: byTestId("alert-thresholds", root),
    error: byTestId("alert-thresholds-error", root),
    save: byTestId("save-alerts", root),
    saved: byTestId("alerts-saved", root),
  };

  function showError(message) {
    ui.error.textContent = message;
    ui.input.setAttribute("aria-invalid", "true");
    ui.input.focus();
  }

  function clearMessages() {
    ui.error.textContent = "";
    ui.input.removeAttribute("aria-invalid");
    ui.saved.textContent = "";
  }

  async function save(event) {
    event.preventDefault();
    clearMessages();
    const parsed = parseThresholds(ui.input.value);
    if (!parsed.ok) {
      showError(parsed.error);
      return;
    }
    const current = isCurrent();
    ui.save.disabled = true;
    try {
      const settings = await api.saveSettings({ alerts: { thresholds: parsed.value } });
      if (!current()) return;
      onSaved(settings);
      ui.saved.textContent = parsed.value.length ? "Alerts saved." : "Alerts saved: none are set.";
    } catch (err) {
      if (!current()) return;
      if (err instanceof ApiError && !(err instanceof AuthError) && err.status === 400) showError(err.message);
      else onError(err);
    } finally {
      ui.save.disabled = false;
    }
  }

  ui.form.addEventListener("submit", save);

  return {
    /** Draws the saved thresholds (the field is left alone while the person is editing it). */
    render(settings) {
      root.hidden = false;
      if (document.activeElement !== ui.input) ui.input.value = thresholdsText(settings.alerts?.thresholds);
    },
    hide() {
      root.hidden = true;
    },
    clear() {
      root.hidden = true;
      ui.input.value = "";
      clearMessages();
      ui.save.disabled = false;
    },
  };
}
