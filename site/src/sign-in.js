/**
 * The sign-in section of the recordings page: sign in, create an account and confirm it,
 * an invited user's first password (the temporary one answers a challenge), and a
 * forgotten password (a code by email, then a new password).
 */
import { mailNote, nextPage, sentence } from "./api.js";

const $ = (selector) => document.querySelector(selector);

/** A status line that can say something plainly or as an error. */
function speaker(element) {
  return (text, { error = false } = {}) => {
    element.textContent = text;
    element.classList.toggle("error", error);
  };
}

/** Disable a button while its work runs, so one click is one request. */
async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

/** Show one of the section's forms (sign-in, reset, new password) and hide the others. */
function showForm(id) {
  for (const form of ["#auth-form", "#reset-form", "#new-password-form"]) $(form).hidden = form !== id;
}

export function showAuth(api) {
  $("#auth").hidden = false;
  $("#recordings-section").hidden = true;
  const next = nextPage();
  if (next) $("#auth-next").hidden = false;
  const say = speaker($("#auth-message"));
  const values = () => [$("#email").value.trim(), $("#password").value];
  // Back where the session ended, or this page with its filters.
  const done = () => (next ? location.assign(next) : location.reload());
  // Signed in, or an invited user's temporary password: their own comes first.
  const signIn = async (email, password) => {
    const challenge = await api.signIn(email, password);
    if (challenge) askNewPassword(api, challenge, done);
    else done();
  };

  $("#auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("#sign-in"), async () => {
      try {
        await signIn(...values());
      } catch (error) {
        if (error.code === "not_confirmed") {
          $("#confirm-row").hidden = false;
          say(`Enter the code we emailed you, then confirm.${mailNote(api)}`);
        } else say(sentence(error), { error: true });
      }
    });
  });
  $("#sign-up").addEventListener("click", () => {
    const [email, password] = values();
    if (!$("#auth-form").reportValidity()) return;
    busy($("#sign-up"), async () => {
      try {
        await api.signUp(email, password);
        $("#confirm-row").hidden = false;
        say(`Account created. Enter the code we emailed you.${mailNote(api)}`);
      } catch (error) {
        // The API names the password rules itself; they are also shown under the field.
        if (error.code === "invalid_password") $("#password-rules").classList.add("error");
        say(sentence(error), { error: true });
      }
    });
  });
  $("#confirm").addEventListener("click", () => {
    busy($("#confirm"), async () => {
      try {
        const [email, password] = values();
        await api.confirm(email, $("#code").value.trim());
        await signIn(email, password);
      } catch (error) {
        say(sentence(error), { error: true });
      }
    });
  });
  $("#resend-code").addEventListener("click", () => {
    const [email] = values();
    if (!$("#email").reportValidity()) return;
    busy($("#resend-code"), async () => {
      try {
        await api.resendCode(email);
        $("#code").value = "";
        say(`If ${email} has an account to confirm, we emailed it a new code.${mailNote(api)}`);
      } catch (error) {
        say(sentence(error), { error: true });
      }
    });
  });
  $("#forgot").addEventListener("click", (event) => {
    event.preventDefault();
    showReset(api, $("#email").value.trim(), signIn, (message) => {
      showForm("#auth-form");
      say(message);
    });
  });
}

/**
 * Forgotten password: the address gets a code, the code and a new password set it, and
 * the visitor is signed in with it (or sent back to sign in, with a message, if that fails).
 */
function showReset(api, email, signIn, backToSignIn) {
  showForm("#reset-form");
  const say = speaker($("#reset-message"));
  say("");
  $("#reset-step").hidden = true;
  $("#reset-email").value = email;
  $("#reset-email").focus();
  const form = $("#reset-form");
  // The form is shown again on every "Forgot password?": one set of handlers.
  if (form.dataset.wired) return;
  form.dataset.wired = "1";
  $("#reset-back").addEventListener("click", () => backToSignIn(""));
  $("#send-code").addEventListener("click", () => {
    if (!$("#reset-email").reportValidity()) return;
    busy($("#send-code"), async () => {
      try {
        await api.forgotPassword($("#reset-email").value.trim());
        $("#reset-step").hidden = false;
        $("#reset-code").focus();
        // The API does not say whether the address has an account, and neither can this page.
        say(`If this address has an account, we emailed it a code. Enter it with your new password.${mailNote(api)}`);
      } catch (error) {
        say(sentence(error), { error: true });
      }
    });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("#reset-submit"), async () => {
      const address = $("#reset-email").value.trim();
      const password = $("#reset-password").value;
      try {
        await api.resetPassword(address, $("#reset-code").value.trim(), password);
      } catch (error) {
        if (error.code === "invalid_password") $("#reset-rules").classList.add("error");
        say(sentence(error), { error: true });
        return;
      }
      try {
        await signIn(address, password);
      } catch (error) {
        // The password is set; whatever stopped the sign-in (an unconfirmed account) is
        // the sign-in form's to explain.
        $("#email").value = address;
        backToSignIn(`Your password is changed. Sign in with it. (${sentence(error)})`);
      }
    });
  });
}

/** An invited user's first sign-in: the temporary password is spent on choosing their own. */
function askNewPassword(api, challenge, done) {
  showForm("#new-password-form");
  const say = speaker($("#new-password-message"));
  say("");
  const form = $("#new-password-form");
  // The latest challenge is the one answered (a second sign-in issues a new session).
  form.dataset.session = challenge.session;
  $("#new-password").focus();
  if (form.dataset.wired) return;
  form.dataset.wired = "1";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("#new-password-submit"), async () => {
      try {
        await api.setNewPassword(form.dataset.session, $("#new-password").value);
        done();
      } catch (error) {
        if (error.code === "invalid_password") $("#new-password-rules").classList.add("error");
        say(sentence(error), { error: true });
      }
    });
  });
}
