/** Demo page: records itself with the account's demo ingest key, and says truthfully whether it was saved. */
import { Api, keyFor, loadConfig } from "./api.js";
import { describeStatus, startRecording } from "./recorder.js";

const $ = (selector) => document.querySelector(selector);

function statusLine(element) {
  let last = null;
  let ticking = null;
  const render = () => {
    const { text, tone, saved } = describeStatus(last);
    element.dataset.tone = tone;
    element.dataset.state = last.state;
    const link = document.createElement("a");
    link.href = `replay.html?id=${encodeURIComponent(last.id)}`;
    if (saved) {
      link.textContent = "Replay";
      element.replaceChildren(`${text} · `, link);
    } else if (last.state === "recording") {
      const id = document.createElement("code");
      id.textContent = last.id;
      element.replaceChildren("Recording ", id, text.slice("Recording".length));
    } else {
      element.replaceChildren(text);
    }
    // The retry countdown moves on its own.
    if (last.retryAt && !ticking) ticking = setInterval(render, 1000);
    if (!last.retryAt && ticking) {
      clearInterval(ticking);
      ticking = null;
    }
  };
  return (status) => {
    last = status;
    render();
  };
}

async function main() {
  const config = await loadConfig();
  const api = new Api(config);
  if (!api.signedIn) {
    $("#status").textContent = "Sign in on the recordings page first: the demo records into your account.";
    return;
  }
  const show = statusLine($("#status"));
  const recorder = startRecording({
    ingestUrl: new URL(config.ingestUrl, location.href).href,
    ingestKey: await keyFor(api, "demo"),
    onStatus: show,
  });
  window.__recorder = recorder;
  show(recorder.status());
  $("#stop").hidden = false;
  $("#stop").addEventListener("click", async () => {
    $("#stop").hidden = true;
    show(await recorder.stop());
  });
  for (const button of document.querySelectorAll("[data-count]")) {
    button.addEventListener("click", () => {
      const target = $(button.dataset.count);
      target.textContent = String(Number(target.textContent) + 1);
    });
  }
  const list = $("#scroller");
  for (let i = 1; i <= 200; i += 1) list.append(Object.assign(document.createElement("li"), { textContent: `Row ${i}` }));
}

main().catch((error) => ($("#status").textContent = error.message));
