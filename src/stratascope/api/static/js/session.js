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
if (form) form.action = `/auth/login?next=${encodeURIComponent(window.location.pathname + window.location.search + window.location.hash)}`;
show();
