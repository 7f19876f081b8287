// The personalised image differs from the published one, so its SHA-256 is computed while the
// server sends it and exists once the last byte has gone out. Each download gets its own token;
// after the form is sent, ask for that download's checksum until it is there, then show it.
const POLL_MS = 3000;
const GIVE_UP_MS = 6 * 60 * 60 * 1000; // a very slow download; the link still works after

function newToken() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function showChecksum(region, url, line) {
  const [sha256, ...name] = line.trim().split(/\s+/);
  const code = document.createElement("code");
  code.className = "hash";
  code.title = `SHA-256 ${sha256}`;
  code.textContent = `${sha256.slice(0, 12)}…${sha256.slice(-6)}`;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.dataset.copy = sha256;
  button.textContent = "Copy";
  const hidden = document.createElement("span");
  hidden.className = "visually-hidden";
  hidden.textContent = " the SHA-256 of your copy";
  button.append(hidden);
  const status = document.createElement("span");
  status.className = "copy-status";
  status.setAttribute("role", "status");
  const file = document.createElement("a");
  file.href = url;
  file.textContent = "checksum file";
  region.replaceChildren(
    `SHA-256 of your copy (${name.join(" ")}): `, code, button, status, " · ", file,
  );
}

const form = document.getElementById("personalise-form");
const region = document.getElementById("personal-checksum");
if (form && region) {
  const tokenInput = form.querySelector('input[name="download_token"]');
  const link = region.querySelector("a");
  let timer = null;
  form.addEventListener("submit", () => {
    // Runs before the browser collects the fields: the new token goes with this download.
    const previous = region.dataset.token;
    const token = newToken();
    tokenInput.value = token;
    region.dataset.token = token;
    const url = link.getAttribute("href").replace(previous, token);
    link.setAttribute("href", url);
    clearTimeout(timer);
    region.textContent = "Preparing your copy… its SHA-256 appears here once the download is complete.";
    const started = Date.now();
    const poll = async () => {
      try {
        const response = await fetch(url, { credentials: "same-origin" });
        if (response.ok) {
          showChecksum(region, url, await response.text());
          return;
        }
      } catch {
        // the server is busy sending; ask again
      }
      if (Date.now() - started < GIVE_UP_MS) timer = setTimeout(poll, POLL_MS);
    };
    timer = setTimeout(poll, POLL_MS);
  });
}
