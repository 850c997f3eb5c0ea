/**
 * Members page: who belongs to the current workspace and with which role; an admin
 * removes members, a member may leave; anyone creates a team workspace (becoming its admin).
 */
import { Api, escapeHtml, loadConfig, requireSignIn, sentence } from "./api.js";
import { mountWorkspaceSwitcher } from "./workspace.js";

const $ = (selector) => document.querySelector(selector);

/** Say something in the page's status line, marked as an error or not, and bring it into view. */
function say(text, { error = false } = {}) {
  const status = $("#members-status");
  status.textContent = text;
  status.classList.toggle("error", error);
  status.scrollIntoView({ block: "nearest" });
}
const sayError = (error) => say(sentence(error), { error: true });

async function render(api, workspace, me) {
  $("#workspace-name").textContent = workspace.personal ? "Personal workspace" : `Members of ${workspace.name}`;
  $("#personal-note").hidden = !workspace.personal;
  const list = $("#members");
  list.replaceChildren();
  if (workspace.personal) return;
  const members = await api.members(workspace.id);
  const admins = members.filter((member) => member.role === "admin").length;
  for (const member of members) {
    const item = document.createElement("li");
    const self = member.user === me;
    item.innerHTML = `<span class="member-email">${escapeHtml(member.email || member.user)}</span> `;
    item.append(workspace.role === "admin" ? roleSelect(api, workspace, member, self) : roleText(member.role));
    // The only admin cannot leave (the API keeps one): another must be made admin first.
    const lastAdmin = member.role === "admin" && admins === 1;
    if ((self || workspace.role === "admin") && !lastAdmin) {
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
          sayError(error);
        }
      });
      item.append(" ", button);
    }
    list.append(item);
  }
}

function roleText(role) {
  return Object.assign(document.createElement("span"), { className: "role", textContent: role });
}

/** An admin's control of a member's role: the change holds on the member's next request. */
function roleSelect(api, workspace, member, self) {
  const select = document.createElement("select");
  select.className = "role";
  select.setAttribute("aria-label", `Role of ${member.email || member.user}`);
  for (const role of ["member", "admin"]) select.append(new Option(role === "admin" ? "Admin" : "Member", role, false, role === member.role));
  select.addEventListener("change", async () => {
    const chosen = select.value;
    if (self && chosen !== "admin" && !confirm(`Stop being an admin of ${workspace.name}? Another admin can make you one again.`)) {
      select.value = member.role;
      return;
    }
    try {
      member.role = (await api.setRole(workspace.id, member.user, chosen)).role;
      say(`${member.email || member.user} is now ${member.role === "admin" ? "an admin" : "a member"}.`);
      if (self) location.reload();
    } catch (error) {
      select.value = member.role;
      sayError(error);
    }
  });
  return select;
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
    )}${invite.invitedBy ? `, by ${escapeHtml(invite.invitedBy)}` : ""}</span>`;
    const revoke = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: "Revoke" });
    revoke.addEventListener("click", async () => {
      try {
        await api.revokeInvite(workspace.id, invite.id);
        item.remove();
      } catch (error) {
        sayError(error);
      }
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
      sayError(error);
    }
  });
  $("#invite button").disabled = false;
  // The saved domain fills the field unless the admin typed first: a late answer must not
  // overwrite what they are about to save.
  const domain = $("#allowed-domain");
  let typed = false;
  domain.addEventListener("input", () => (typed = true), { once: true });
  api.describeWorkspace(workspace.id).then(
    (settings) => {
      if (!typed) domain.value = settings.allowedDomain || "";
    },
    () => {},
  );
  $("#domain").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await api.setAllowedDomain(workspace.id, $("#allowed-domain").value.trim() || null);
      $("#allowed-domain").value = saved.allowedDomain || "";
      say(saved.allowedDomain ? `Invites go to addresses of ${saved.allowedDomain} only.` : "Invites go to any address.");
    } catch (error) {
      sayError(error);
    }
  });
  $("#domain button").disabled = false;
}

function retentionNote(settings) {
  const days = (n) => `${n} day${n === 1 ? "" : "s"}`;
  return settings.ownRetention
    ? `Recordings of this workspace are deleted ${days(settings.retentionDays)} after they were made (the stack keeps them at most ${days(settings.stackRetentionDays)}).`
    : `Recordings of this workspace are kept as long as the stack keeps them: ${days(settings.stackRetentionDays)}.`;
}

/** The workspace's retention: shown to every member, changed by its admins (at most the stack's). */
async function renderRetention(api, workspace) {
  const settings = await api.describeWorkspace(workspace.id);
  $("#retention-section").hidden = false;
  $("#retention-note").textContent = retentionNote(settings);
  if (workspace.role !== "admin") return;
  const form = $("#retention");
  const input = $("#retention-days");
  form.hidden = false;
  input.max = String(settings.stackRetentionDays);
  input.value = String(settings.retentionDays);
  input.dataset.saved = String(settings.retentionDays);
  $("#retention-reset").textContent = `Use the stack's (${settings.stackRetentionDays} days)`;
  const save = async (days) => {
    try {
      const saved = await api.setRetention(workspace.id, days);
      input.value = String(saved.retentionDays);
      input.dataset.saved = String(saved.retentionDays);
      $("#retention-note").textContent = retentionNote(saved);
      say("Retention saved: older recordings are deleted within the hour.");
    } catch (error) {
      sayError(error);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const days = Number(input.value);
    const kept = Number(input.dataset.saved);
    // Shorter than now deletes recordings for good within the hour: asked first, as removing is.
    if (days < kept && !confirm(`Delete this workspace's recordings older than ${days} days, within the hour? This cannot be undone.`)) return;
    save(days);
  });
  $("#retention-reset").addEventListener("click", () => save(null));
  for (const button of form.querySelectorAll("button")) button.disabled = false;
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
      sayError(error);
    }
  });
  $("#create-workspace button").disabled = false;
  await render(api, workspace, userId(api));
  await renderRetention(api, workspace);
  if (!workspace.personal && workspace.role === "admin") {
    bindInvite(api, workspace);
    await renderInvites(api, workspace);
  }
}

main().catch((error) => document.querySelector("main").prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
