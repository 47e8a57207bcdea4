// The users view (#/users, admins only, accounts on): every user with role, state, counts of
// chats, messages and documents (never their content) and last login; a form to create a user;
// disable/enable and make/remove admin per row, with a refusal (such as an admin disabling
// themself, 409) said in that row.
import { api, auth, enc, get } from "./api.js";
import { $, clear, formatDate, h } from "./dom.js";

/** Whether the signed-in user is an admin (GET /api/me said so at start-up). */
export const isAdmin = () => Boolean(auth.user && auth.user.is_admin);

function say(el, message) {
  el.textContent = message;
  el.hidden = !message;
}

function cell(label, value, cls) {
  return h("td", { "data-label": label, class: cls }, value);
}

async function change(user, body, action, error) {
  say(error, "");
  try {
    await api("PATCH", `/api/users/${enc(user.username)}`, body);
  } catch (err) {
    say(error, err.message);
    return;
  }
  await refreshUsers();
  // The row is drawn again: keyboard focus goes back to the same button in it.
  const row = [...$("#user-rows").children].find((tr) => tr.dataset.username === user.username);
  const button = row && row.querySelector(`button[data-action="${action}"]`);
  if (button) button.focus();
}

function toggleDisabled(user, error) {
  if (!user.disabled && !confirm(`Disable ${user.username}? Their logins end now and their API tokens stop working.`)) {
    return;
  }
  change(user, { disabled: !user.disabled }, "disabled", error);
}

function userRow({ user, sessions, messages, documents }) {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const you = auth.user && user.id === auth.user.id;
  const shown = user.display_name || user.username;
  return h("tr", { class: user.disabled ? "user-disabled" : null, dataset: { username: user.username } },
    h("th", { scope: "row", class: "user-name" },
      h("span", { class: "user-shown" }, shown),
      shown !== user.username ? h("span", { class: "hint user-login" }, user.username) : null,
      you ? h("span", { class: "badge" }, "you") : null),
    cell("Role", user.is_admin ? "Admin" : "User"),
    cell("State", h("span", { class: `badge ${user.disabled ? "badge-disabled" : "badge-active"}` },
      user.disabled ? "Disabled" : "Active")),
    cell("Chats", sessions, "num"),
    cell("Messages", messages, "num"),
    cell("Documents", documents, "num"),
    cell("Last login", user.last_login_at ? formatDate(user.last_login_at) : "never"),
    h("td", { class: "user-actions-cell" },
      h("div", { class: "user-actions" },
        h("button", {
          type: "button", class: user.disabled ? "small" : "danger small",
          dataset: { action: "disabled" },
          "aria-label": `${user.disabled ? "Enable" : "Disable"} ${user.username}`,
          onclick: () => toggleDisabled(user, error),
        }, user.disabled ? "Enable" : "Disable"),
        h("button", {
          type: "button", class: "small", dataset: { action: "admin" },
          // The visible words come first in the name, so speech input finds the button by them.
          "aria-label": `${user.is_admin ? "Remove admin" : "Make admin"} ${user.username}`,
          onclick: () => change(user, { admin: !user.is_admin }, "admin", error),
        }, user.is_admin ? "Remove admin" : "Make admin")),
      error));
}

export async function refreshUsers() {
  const items = (await get("/api/users")).items;
  clear($("#user-rows")).append(...items.map(userRow));
  $("#user-list-heading").textContent = `All users (${items.length})`;
}

async function create(e) {
  e.preventDefault();
  const form = $("#user-form");
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  const error = $("#user-error");
  say($("#user-status"), "");
  if (!username || !password) {
    say(error, username ? "Give the new user a password." : "Give the new user a name.");
    (username ? form.elements.password : form.elements.username).focus();
    return;
  }
  say(error, "");
  const body = {
    username,
    password,
    display_name: form.elements.display_name.value.trim(),
    admin: form.elements.admin.checked,
  };
  $("#user-create").disabled = true;
  try {
    await api("POST", "/api/users", body);
  } catch (err) {
    say(error, err.message);
    const field = form.elements[err.field];
    (field && field.focus ? field : form.elements.username).focus();
    return;
  } finally {
    $("#user-create").disabled = false;
  }
  form.reset();
  $("#user-status").textContent = `Created ${username}.`;
  form.elements.username.focus();
  await refreshUsers();
}

/** Leaving the view forgets a password still typed in the form. */
export function leaveUsers() {
  const form = $("#user-form");
  if (form) form.elements.password.value = "";
}

export function initUsers(shown) {
  if (!shown) {
    $("#users-view").remove();
    return;
  }
  $("#user-form").addEventListener("submit", create);
}
