// Login / logout in the top bar: a plain HTML form posting to /auth/login (session cookie),
// replaced by "name · Log out" when a session exists.
const box = document.getElementById("session");

async function show() {
  if (!box) return;
  let me = null;
  try {
    const response = await fetch("/auth/me", { credentials: "same-origin" });
    if (response.ok) me = await response.json();
  } catch (_) { /* the form stays: logging in still works */ }
  if (!me || !me.name) return;
  box.replaceChildren();
  const who = document.createElement("span");
  who.className = "session-user";
  who.textContent = `${me.name} (${me.role})`;
  const out = document.createElement("button");
  out.type = "button";
  out.textContent = "Log out";
  out.addEventListener("click", async () => {
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
    window.location.reload();
  });
  box.append(who, out);
}

const form = document.getElementById("login");
if (form) {
  form.action = `/auth/login?next=${encodeURIComponent(window.location.pathname + window.location.search + window.location.hash)}`;
  // With JavaScript the form posts in the background, so a refusal ("wrong user name or
  // password", too many attempts) is shown next to the form instead of as a JSON page;
  // without it the plain form post still works.
  const error = document.createElement("span");
  error.id = "login-error";
  error.className = "login-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  form.append(error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch("/auth/login", {
        method: "POST", credentials: "same-origin", headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
      });
      if (response.ok) { window.location.reload(); return; }
      let message = `login failed (HTTP ${response.status})`;
      try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
      error.textContent = message;
      error.hidden = false;
      const password = form.querySelector("input[name=password]");
      if (password) { password.value = ""; password.focus(); }
    } catch (err) {
      error.textContent = `login failed: ${err.message || err}`;
      error.hidden = false;
    } finally {
      if (button) button.disabled = false;
    }
  });
}
show();
