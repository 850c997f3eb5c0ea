/**
 * The workspace switcher in the site's header, and the members page's link.
 *
 * Recordings, keys and assets belong to a workspace: the user's personal one, or a team
 * one they were added to. The choice is this browser's (localStorage, cleared on sign
 * out); every API request names it (`X-Workspace`, api.js). A workspace the user no
 * longer belongs to falls back to the personal one.
 */
import { escapeHtml } from "./api.js";

/**
 * Put the switcher in the header; resolves with the current workspace ({id, name, role, personal}).
 * A switch reloads the page in the chosen workspace, or runs ``onSwitch`` (the replay page
 * goes to the list: its recording is the old workspace's).
 */
export async function mountWorkspaceSwitcher(api, header = document.querySelector("header"), onSwitch = () => location.reload()) {
  const workspaces = await api.workspaces();
  let current = workspaces.find((workspace) => !workspace.personal && workspace.id === api.workspace);
  if (!current) {
    api.workspace = null;
    current = workspaces[0];
  }
  const nav = header && header.querySelector("nav");
  if (nav && !header.querySelector("#workspace")) {
    const label = document.createElement("label");
    label.className = "workspace";
    label.innerHTML = `<span class="visually-hidden">Workspace</span><select id="workspace">${workspaces
      .map(
        (workspace) =>
          `<option value="${workspace.personal ? "" : escapeHtml(workspace.id)}"${workspace === current ? " selected" : ""}>${escapeHtml(
            workspace.personal ? "Personal" : workspace.name,
          )}</option>`,
      )
      .join("")}</select>`;
    label.querySelector("select").addEventListener("change", (event) => {
      api.workspace = event.target.value || null;
      onSwitch();
    });
    const members = Object.assign(document.createElement("a"), { href: "members.html", textContent: "Members" });
    if (location.pathname.endsWith("/members.html")) members.setAttribute("aria-current", "page");
    nav.append(members);
    nav.after(label);
  }
  return current;
}
