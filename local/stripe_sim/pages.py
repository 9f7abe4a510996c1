"""The hosted Checkout page (``GET /_stripe/checkout/{session}``): order summary, a test-card choice, Pay, Pay by
bank debit (asynchronous) and Cancel. Self-contained HTML: no external assets.

Choosing the authentication card shows a simulated 3D Secure step before paying, as Stripe's test page does.
"""

from __future__ import annotations

import html
import json
import re

from local.stripe_sim.cards import CARDS, DEFAULT
from local.stripe_sim.core import PREFIX, Context, Request, Result, Route, sim
from local.stripe_sim.state import format_amount

_CARD_LABELS = {
    "4242424242424242": "Visa 4242 — succeeds",
    "4000002760003184": "Visa 3184 — requires authentication",
    "4000000000009995": "Visa 9995 — declined (insufficient funds)",
}

_SCRIPT = """
const base = __BASE__;
const statusEl = document.getElementById("status");
const challenge = document.getElementById("challenge");
const buttons = Array.from(document.querySelectorAll("button"));
const cardEl = document.getElementById("card");
function lock(locked) {
  buttons.forEach((b) => {
    if (locked) { b.dataset.wasDisabled = b.disabled; b.disabled = true; }
    else { b.disabled = b.dataset.wasDisabled === "true"; }
  });
}
async function act(action, payload, doneText) {
  lock(true);
  statusEl.textContent = "Processing…";
  try {
    const res = await fetch(base + "/" + action, {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error((data.error && data.error.message) || ("Request failed (" + res.status + ")"));
    }
    if (data.redirect) { location = data.redirect; return; }
    statusEl.textContent = doneText;
  } catch (err) {
    statusEl.textContent = err.message;
    lock(false);
  }
}
document.getElementById("pay").addEventListener("click", () => {
  if (cardEl.value === __AUTH_CARD__) {
    challenge.hidden = false;
    statusEl.textContent = "Your bank asks you to confirm this payment.";
    document.getElementById("authenticate").focus();
    return;
  }
  act("pay", {card: cardEl.value}, "Payment complete.");
});
document.getElementById("authenticate").addEventListener("click", () => {
  challenge.hidden = true;
  act("pay", {card: cardEl.value}, "Payment complete.");
});
document.getElementById("fail-authentication").addEventListener("click", () => {
  challenge.hidden = true;
  statusEl.textContent = "Authentication failed: the payment was not made. Choose another card or try again.";
});
document.getElementById("pay-async").addEventListener("click",
  () => act("pay", {async: true}, "Payment submitted; awaiting the bank."));
document.getElementById("cancel").addEventListener("click", () => act("cancel", {}, "Checkout cancelled."));
"""

_STYLE = """
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f6f9fc; color: #1a1f36; }
  main { width: min(420px, 92vw); background: #fff; border-radius: 12px; padding: 28px 28px 20px;
         box-shadow: 0 6px 24px rgba(50, 50, 93, .12), 0 2px 6px rgba(0, 0, 0, .06); }
  .merchant { margin: 0 0 4px; color: #697386; font-size: 13px; letter-spacing: .02em; }
  h1 { margin: 0 0 18px; font-size: 28px; }
  table { width: 100%; border-collapse: collapse; margin-bottom: 12px; font-size: 15px; }
  td, th { padding: 8px 0; border-bottom: 1px solid #e3e8ee; text-align: left; }
  tfoot th, tfoot td { border-bottom: 0; }
  .num { text-align: right; white-space: nowrap; }
  .email, .help, .note { color: #4f566b; font-size: 14px; }
  .actions { display: grid; gap: 10px; margin-top: 18px; }
  label { font-size: 14px; font-weight: 600; }
  select { font: inherit; font-size: 15px; padding: 10px; border-radius: 8px; border: 1px solid #c1c9d2; }
  button { font: inherit; font-size: 16px; padding: 12px 16px; border-radius: 8px; cursor: pointer;
           border: 1px solid #c1c9d2; background: #fff; color: #1a1f36; }
  button.primary { background: #635bff; border-color: #635bff; color: #fff; font-weight: 600; }
  button.link { border: 0; background: none; color: #635bff; text-decoration: underline; padding: 6px; }
  button:focus-visible, select:focus-visible { outline: 3px solid #0a2540; outline-offset: 2px; }
  button:disabled { opacity: .55; cursor: not-allowed; }
  .challenge { display: grid; gap: 8px; padding: 12px; border: 1px solid #c1c9d2; border-radius: 8px; }
  .challenge[hidden] { display: none; }
  .help { margin: -4px 0 4px; }
  .sub { display: block; color: #697386; font-size: 13px; }
  .status { min-height: 1.4em; margin: 12px 0 0; font-weight: 600; }
"""


def page_html(title: str, body: str, script: str) -> bytes:
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><main>{body}</main>
{f"<script>{script}</script>" if script else ""}
</body></html>
""".encode()


def _checkout_page(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    session = ctx.store["checkout_sessions"].get(m.group(1))
    if session is None:
        page = page_html("Checkout session not found", "<p class=note>This checkout link is invalid.</p>", "")
        return Result(404, raw=page, content_type="text/html; charset=utf-8")
    items = ctx.store["session_private"].get(session["id"], {}).get("line_items", [])
    rows = "".join(
        f"<tr><td>{html.escape(li['description'] or 'Item')}"
        + (f"<span class=sub>{html.escape(li['price']['nickname'])}</span>" if li["price"].get("nickname") else "")
        + f"</td><td class=num>× {li['quantity']}</td>"
        f"<td class=num>{html.escape(format_amount(li['amount_total'], li['currency']))}</td></tr>"
        for li in items
    )
    total = html.escape(format_amount(session["amount_total"], session["currency"] or "usd"))
    email = session["customer_email"]
    is_open = session["status"] == "open"
    state_note = "" if is_open else (
        f"<p class=note role=status>This checkout session is <strong>{html.escape(session['status'])}"
        "</strong> and can no longer be paid.</p>"
    )
    disabled = "" if is_open else " disabled"
    options = "".join(
        f"<option value={number}{' selected' if number == DEFAULT else ''}>{html.escape(_CARD_LABELS[number])}</option>"
        for number in CARDS
    )
    body = f"""
<p class=merchant>Simulated Stripe Checkout · test mode</p>
<h1>Pay {total}</h1>
<table aria-label="Order summary"><tbody>{rows}</tbody>
<tfoot><tr><th scope=row colspan=2>Total due</th>
<td class=num><strong>{total}</strong></td></tr></tfoot></table>
{f"<p class=email>Receipt to <strong>{html.escape(email)}</strong></p>" if email else ""}
{state_note}
<div class=actions>
  <label for=card>Test card</label>
  <select id=card data-testid=card{disabled}>{options}</select>
  <button type=button id=pay data-testid=pay class=primary{disabled} autofocus>Pay {total}</button>
  <div id=challenge class=challenge role=dialog aria-labelledby=challenge-title hidden>
    <strong id=challenge-title>3D Secure authentication (simulated)</strong>
    <button type=button id=authenticate data-testid=authenticate class=primary>Complete authentication</button>
    <button type=button id=fail-authentication data-testid=fail-authentication>Fail authentication</button>
  </div>
  <button type=button id=pay-async data-testid=pay-async{disabled}
    aria-describedby=async-help>Pay (async, bank debit)</button>
  <p id=async-help class=help>Bank debits settle later: the payment stays pending until its result is
    simulated.</p>
  <button type=button id=cancel data-testid=cancel class=link>Cancel and return</button>
</div>
<p id=status class=status role=status aria-live=polite></p>
"""
    auth_card = next(number for number, card in CARDS.items() if card.behaviour == "authentication_required")
    script = _SCRIPT.replace("__BASE__", json.dumps(f"{PREFIX}/checkout/{session['id']}")).replace(
        "__AUTH_CARD__", json.dumps(auth_card)
    )
    return Result(200, raw=page_html(f"Checkout – {total}", body, script), content_type="text/html; charset=utf-8")


ROUTES: list[Route] = [sim("GET", "/checkout/{session}", _checkout_page)]
