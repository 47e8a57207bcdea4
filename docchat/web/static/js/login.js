// The sign-in form: posts the name and password as JSON to /auth/login, which sets the login
// cookie, then opens the app.  Errors are the server's own messages (wrong name or password,
// too many attempts), shown in place.
import { api, get } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

/** The app, at the view a link or a lost login brought here with (the hash: #/chat/<id>, …). */
const app = () => "/" + window.location.hash;

function showError(message) {
  error.textContent = message;
  error.hidden = false;
}

async function offerSingleSignOn() {
  // A failed single sign-on comes back here with its reason (docchat/api/routes/auth.py).
  const reason = new URLSearchParams(window.location.search).get("sso_error");
  if (reason) showError(reason);
  try {
    const options = await get("/auth/options");
    if (options.sso_url) {
      const link = document.getElementById("login-sso-link");
      link.href = options.sso_url;
      link.textContent = `Sign in with ${options.sso_name}`;
      document.getElementById("login-sso").hidden = false;
    }
  } catch {
    // the form still works
  }
}

async function start() {
  offerSingleSignOn();
  try {
    const me = await get("/api/me");
    if (me.auth_mode === "none") {
      document.getElementById("login-off").hidden = false;
      submit.disabled = true;
      return;
    }
    if (me.user) window.location.replace(app());
  } catch {
    // not signed in: stay on the form
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    await api("POST", "/auth/login", {
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    window.location.replace(app());
  } catch (err) {
    showError(err.message || "could not sign in");
    form.elements.password.select();
  } finally {
    submit.disabled = false;
  }
});

start();
