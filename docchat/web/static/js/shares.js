// Sharing one of your collections read-only (accounts on only): a dialog showing whom it is
// shared with, adding and removing user names and "Everyone", saved with one PUT that replaces
// the shares.  Nothing changes on the server before Save; Cancel and Esc leave it as it was.
import { api, auth, enc, get } from "./api.js";
import { $, clear, h, toast } from "./dom.js";

/** The dialog's state while open: {name, usernames, onSaved}. */
let editing = null;

function showError(message) {
  const el = $("#share-error");
  el.textContent = message;
  el.hidden = !message;
}

function renderUsers() {
  const list = clear($("#share-users"));
  editing.usernames.forEach((username, i) => {
    list.append(h("li", { class: "share-user" },
      h("span", { class: "share-user-name" }, username),
      h("button", {
        type: "button", class: "small", "aria-label": `Remove ${username}`,
        onclick: () => remove(i),
      }, "Remove")));
  });
  $("#share-nobody").hidden = editing.usernames.length > 0;
}

function remove(index) {
  editing.usernames.splice(index, 1);
  renderUsers();
  // Keyboard focus goes to the next name's button, or back to the name box.
  const buttons = $("#share-users").querySelectorAll("button");
  (buttons[Math.min(index, buttons.length - 1)] || $("#share-username")).focus();
}

/** Add the name typed in the box; false (with the reason shown) when it cannot be added. */
function addTyped() {
  const input = $("#share-username");
  const username = input.value.trim();
  if (!username) {
    showError("Type the user name of whom to share it with.");
    input.focus();
    return false;
  }
  if (auth.user && username === auth.user.username) {
    showError("That is you: the collection is yours already.");
    input.focus();
    return false;
  }
  showError("");
  if (!editing.usernames.includes(username)) {
    editing.usernames.push(username);
    editing.usernames.sort();
  }
  input.value = "";
  renderUsers();
  input.focus();
  return true;
}

async function save(e) {
  e.preventDefault();
  // A name typed but not added yet is what the user means to share with too.
  if ($("#share-username").value.trim() && !addTyped()) return;
  const body = { usernames: editing.usernames, everyone: $("#share-everyone").checked };
  $("#share-save").disabled = true;
  try {
    await api("PUT", `/api/collections/${enc(editing.name)}/shares`, body);
  } catch (err) {
    // 422 on "usernames": a name nobody has.  Said here, the dialog stays open to fix it.
    showError(err.message);
    $(err.field === "usernames" ? "#share-username" : "#share-save").focus();
    return;
  } finally {
    $("#share-save").disabled = false;
  }
  // The library is drawn again before the dialog closes, so focus returns to the new button.
  await editing.onSaved();
  $("#share-dialog").close();
}

/** Open the dialog for the collection named ``name`` (yours); ``onSaved`` runs after a save. */
export async function openShare(name, onSaved) {
  let shares;
  try {
    shares = await get(`/api/collections/${enc(name)}/shares`);
  } catch (err) {
    toast(err.message);
    return;
  }
  editing = { name, usernames: [...shares.usernames], onSaved };
  $("#share-collection").textContent = `“${name}”`;
  $("#share-everyone").checked = shares.everyone;
  $("#share-username").value = "";
  showError("");
  renderUsers();
  $("#share-dialog").showModal();
  $("#share-username").focus();
}

export function initShares(accountsOn) {
  const dialog = $("#share-dialog");
  if (!accountsOn) {
    dialog.remove();
    return;
  }
  $("#share-form").addEventListener("submit", save);
  $("#share-add").addEventListener("click", addTyped);
  // Enter in the name box adds the name; it does not save the form.
  $("#share-username").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      addTyped();
    }
  });
  $("#share-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    // Back to the button that opened it (drawn again if the library reloaded meanwhile).
    const opener = editing && [...document.querySelectorAll("[data-share]")]
      .find((b) => b.dataset.share === editing.name);
    editing = null;
    if (opener) opener.focus();
  });
}
