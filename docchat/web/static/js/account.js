// The signed-in user in the top bar, with accounts on: their name, a way to the API tokens, to
// the users view for admins, and "Sign out".  With accounts off (one implicit user) none of it shows.
import { api, auth } from "./api.js";
import { $, toast } from "./dom.js";

/** Whether this server has accounts (GET /api/me said so at start-up). */
export const accountsOn = () => auth.mode !== "none" && auth.user !== null;

async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } catch (err) {
    // Already signed out elsewhere is fine: the login page is where this ends either way.
    if (err.status !== 401) {
      toast(err.message);
      return;
    }
  }
  window.location.replace("/login");
}

function closeMenu() {
  $("#account-menu").open = false;
}

export function initAccount() {
  const menu = $("#account-menu");
  if (!accountsOn()) {
    menu.remove(); // nothing to reach by keyboard or screen reader either
    return;
  }
  $("#account-name").textContent = auth.user.display_name || auth.user.username;
  $("#account-username").textContent = auth.user.username;
  menu.hidden = false;
  $("#sign-out").addEventListener("click", signOut);
  $("#nav-tokens").addEventListener("click", closeMenu);
  // Only admins get the link; the server answers anyone else's GET /api/users with 403 anyway.
  if (auth.user.is_admin) $("#nav-users").addEventListener("click", closeMenu);
  else $("#nav-users").remove();
  menu.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && menu.open) {
      // This Escape is the menu's: the page's own (close the source, stop the answer) must
      // not see it too.
      e.stopPropagation();
      closeMenu();
      menu.querySelector("summary").focus();
    }
  });
  // A click anywhere else closes the menu, as menus do.
  document.addEventListener("click", (e) => {
    if (menu.open && !menu.contains(e.target)) closeMenu();
  });
}
