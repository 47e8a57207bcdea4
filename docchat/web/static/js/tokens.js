// The API tokens view (#/tokens, accounts on only): the user's tokens, a form to create one, the
// new secret shown once with a copy button, and revoking with confirmation.
import { api, enc, get } from "./api.js";
import { $, append, clear, formatDate, h, toast } from "./dom.js";

function showError(message) {
  const el = $("#token-error");
  el.textContent = message;
  el.hidden = !message;
}

function tokenState(token) {
  if (token.revoked) return "Revoked";
  if (token.expires_at && new Date(token.expires_at) <= new Date()) return "Expired";
  return "Active";
}

function field(label, value) {
  return h("div", { class: "token-field" }, h("dt", {}, label), h("dd", {}, value));
}

function tokenItem(token) {
  const status = tokenState(token);
  return h("li", { class: `token token-${status.toLowerCase()}`, dataset: { id: token.id } },
    h("div", { class: "token-head" },
      h("h3", { class: "token-name" }, token.name),
      h("span", { class: "token-status" }, status),
      token.revoked ? null : h("button", {
        type: "button", class: "danger small", "aria-label": `Revoke ${token.name}`,
        onclick: () => revoke(token),
      }, "Revoke")),
    h("dl", { class: "token-fields-list" },
      field("Starts with", h("code", {}, `${token.prefix}…`)),
      field("Created", formatDate(token.created_at)),
      field("Last used", token.last_used_at ? formatDate(token.last_used_at) : "never"),
      field("Expires", token.expires_at ? formatDate(token.expires_at) : "never")));
}

export async function refreshTokens() {
  const tokens = (await get("/api/tokens")).items;
  append(clear($("#token-list")), tokens.map(tokenItem));
  $("#no-tokens").hidden = tokens.length > 0;
}

async function create(e) {
  e.preventDefault();
  const form = $("#token-form");
  const name = form.elements.name.value.trim();
  const daysText = form.elements.expires_in_days.value.trim();
  if (!name) {
    showError("Give the token a name: what will use it?");
    form.elements.name.focus();
    return;
  }
  const body = { name };
  if (daysText) {
    const days = Number(daysText);
    if (!Number.isFinite(days) || days <= 0 || days > 3650) {
      showError("Days until it expires: a number from 1 to 3650, or empty for never.");
      form.elements.expires_in_days.focus();
      return;
    }
    body.expires_in_days = days;
  }
  showError("");
  $("#token-create").disabled = true;
  let made;
  try {
    made = await api("POST", "/api/tokens", body);
  } catch (err) {
    showError(err.message);
    return;
  } finally {
    $("#token-create").disabled = false;
  }
  form.reset();
  $("#new-token-value").value = made.token;
  $("#new-token-status").textContent = "";
  $("#new-token").hidden = false;
  $("#new-token-value").focus();
  $("#new-token-value").select();
  await refreshTokens();
}

async function copy() {
  const input = $("#new-token-value");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // The clipboard API needs a secure context (HTTPS or this machine): fall back to selecting
    // the text and the older copy command.
    input.select();
    if (!document.execCommand("copy")) {
      $("#new-token-status").textContent = "Select the token and copy it yourself.";
      return;
    }
  }
  $("#new-token-status").textContent = "Copied.";
}

/** Forget the secret: once this closes it is gone from the page as well as the server. */
function forgetNewToken() {
  $("#new-token-value").value = "";
  $("#new-token").hidden = true;
}

async function revoke(token) {
  if (!confirm(`Revoke the token “${token.name}”? Programs using it are refused from their next request.`)) {
    return;
  }
  try {
    await api("DELETE", `/api/tokens/${enc(token.id)}`);
  } catch (err) {
    toast(err.message);
  }
  await refreshTokens();
  // The pressed button is gone with its row's redraw: keep the keyboard in the view.
  $("#token-name").focus();
}

/** Leaving the view forgets a new token's secret still on screen. */
export function leaveTokens() {
  if ($("#new-token")) forgetNewToken();
}

export function initTokens(accountsOn) {
  if (!accountsOn) {
    $("#tokens-view").remove();
    return;
  }
  $("#token-form").addEventListener("submit", create);
  $("#new-token-copy").addEventListener("click", copy);
  $("#new-token-done").addEventListener("click", () => {
    forgetNewToken();
    $("#token-name").focus();
  });
  $("#new-token-value").addEventListener("focus", (e) => e.target.select());
}
