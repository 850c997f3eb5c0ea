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
}

main().catch((error) => document.querySelector("main").prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
