/** Demo page: records itself with a key kept in this browser for the purpose. */
import { Api, keyFor, loadConfig } from "./api.js";
import { startRecording } from "./recorder.js";

const $ = (selector) => document.querySelector(selector);

async function main() {
  const config = await loadConfig();
  const api = new Api(config);
  if (!api.signedIn) {
    $("#status").textContent = "Sign in on the recordings page first: the demo records into your account.";
    return;
  }
  const recorder = startRecording({
    ingestUrl: new URL(config.ingestUrl, location.href).href,
    ingestKey: await keyFor(api, "demo page"),
    onError: (error) => ($("#status").textContent = `Recorder: ${error.message}`),
  });
  window.__recorder = recorder;
  $("#status").innerHTML = `Recording <code>${recorder.id}</code>`;
  $("#stop").hidden = false;
  $("#stop").addEventListener("click", async () => {
    await recorder.stop();
    $("#status").innerHTML = `Saved. <a href="replay.html?id=${recorder.id}">Replay it</a>`;
    $("#stop").hidden = true;
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
