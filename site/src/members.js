/**
 * Members page: who belongs to the current workspace and with which role; an admin
 * removes members, a member may leave; anyone creates a team workspace (becoming its admin).
 */
import { Api, escapeHtml, loadConfig, requireSignIn, sentence } from "./api.js";
import { mountWorkspaceSwitcher } from "./workspace.js";

const $ = (selector) => document.querySelector(selector);

async function render(api, workspace, me) {
  $("#workspace-name").textContent = workspace.personal ? "Personal workspace" : `Members of ${workspace.name}`;
  $("#personal-note").hidden = !workspace.personal;
  const list = $("#members");
  list.replaceChildren();
  if (workspace.personal) return;
  const members = await api.members(workspace.id);
  for (const member of members) {
    const item = document.createElement("li");
    const self = member.user === me;
    item.innerHTML = `<span class="member-email">${escapeHtml(member.email || member.user)}</span> <span class="role">${escapeHtml(member.role)}</span>`;
    if (self || workspace.role === "admin") {
      const button = Object.assign(document.createElement("button"), {
        type: "button",
        className: "secondary",
        textContent: self ? "Leave" : "Remove",
      });
      button.addEventListener("click", async () => {
        if (!confirm(self ? `Leave ${workspace.name}?` : `Remove ${member.email || member.user} from ${workspace.name}?`)) return;
        try {
          await api.removeMember(workspace.id, member.user);
          if (self) {
            api.workspace = null;
            location.assign("index.html");
          } else item.remove();
        } catch (error) {
          $("#members-status").textContent = sentence(error);
        }
      });
      item.append(" ", button);
    }
    list.append(item);
  }
}

async function renderInvites(api, workspace) {
  const section = $("#invite-section");
  section.hidden = workspace.personal || workspace.role !== "admin";
  if (section.hidden) return;
  const list = $("#invites");
  list.replaceChildren();
  for (const invite of await api.invites(workspace.id)) {
    const item = document.createElement("li");
    item.innerHTML = `<span class="member-email">${escapeHtml(invite.email)}</span> <span class="role">${escapeHtml(invite.role)}, until ${escapeHtml(
      new Date(invite.expiresAt).toLocaleDateString(),
    )}</span>`;
    const revoke = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: "Revoke" });
    revoke.addEventListener("click", async () => {
      await api.revokeInvite(workspace.id, invite.id).catch((error) => ($("#members-status").textContent = sentence(error)));
      item.remove();
    });
    item.append(" ", revoke);
    list.append(item);
  }
}

function bindInvite(api, workspace) {
  $("#invite").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const invite = await api.invite(workspace.id, $("#invite-email").value, $("#invite-role").value);
      const link = new URL(`index.html?invite=${encodeURIComponent(invite.token)}`, location.href).href;
      $("#invite-link-value").textContent = link;
      $("#invite-link").hidden = false;
      $("#invite-email").value = "";
      await renderInvites(api, workspace);
    } catch (error) {
      $("#members-status").textContent = sentence(error);
    }
  });
  $("#invite button").disabled = false;
  api.describeWorkspace(workspace.id).then((settings) => ($("#allowed-domain").value = settings.allowedDomain || ""), () => {});
  $("#domain").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await api.setAllowedDomain(workspace.id, $("#allowed-domain").value.trim() || null);
      $("#allowed-domain").value = saved.allowedDomain || "";
      $("#members-status").textContent = saved.allowedDomain ? `Invites go to addresses of ${saved.allowedDomain} only.` : "Invites go to any address.";
    } catch (error) {
      $("#members-status").textContent = sentence(error);
    }
  });
  $("#domain button").disabled = false;
}

/** The signed-in user's id, from their access token's payload (only to tell which member is "me"). */
function userId(api) {
  try {
    return JSON.parse(atob(api.tokens.accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return null;
  }
}

async function main() {
  const api = new Api(await loadConfig());
  $("#sign-out").addEventListener("click", () => {
    api.signOut();
    location.assign("index.html");
  });
  if (!requireSignIn(api)) return;
  const workspace = await mountWorkspaceSwitcher(api);
  $("#create-workspace").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api.createWorkspace($("#workspace-new-name").value);
      api.workspace = created.id;
      location.reload();
    } catch (error) {
      $("#members-status").textContent = sentence(error);
    }
  });
  $("#create-workspace button").disabled = false;
  await render(api, workspace, userId(api));
  if (!workspace.personal && workspace.role === "admin") {
    bindInvite(api, workspace);
    await renderInvites(api, workspace);
  }
}

main().catch((error) => document.querySelector("main").prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
