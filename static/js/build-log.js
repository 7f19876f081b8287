// Live build log. The log is text a build wrote, and builds echo what product managers typed
// (file paths, comments): it is only ever added as a text node, never parsed as HTML.
// We ask for the bytes after those we already have (X-Log-Offset), keep the view at the
// bottom while the reader is there, and stop once the server says the log is complete.
(() => {
  const POLL_MS = 2000;

  function follow(pane) {
    let offset = Number(pane.dataset.offset) || 0;

    async function poll() {
      let response;
      try {
        response = await fetch(`${pane.dataset.logUrl}?offset=${offset}`, {
          credentials: "same-origin",
          headers: { Accept: "text/plain" },
        });
      } catch {
        setTimeout(poll, POLL_MS); // the network blinked: try again later
        return;
      }
      if (response.status >= 400) {
        // Gone or not ours to see: asking again will not change that. A server error may pass.
        if (response.status >= 500) setTimeout(poll, POLL_MS);
        return;
      }
      const text = await response.text();
      const atBottom = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
      if (text) pane.append(document.createTextNode(text));
      if (atBottom) pane.scrollTop = pane.scrollHeight;
      const next = Number(response.headers.get("X-Log-Offset"));
      const moved = Number.isFinite(next) && next > offset;
      if (moved) offset = next;
      pane.dataset.offset = String(offset);
      if (response.status === 286 || response.headers.get("X-Log-Complete")) return;
      // Something arrived, so more may be waiting (a long log comes in chunks): ask again now.
      setTimeout(poll, moved ? 0 : POLL_MS);
    }

    poll();
  }

  function start() {
    document.querySelectorAll("pre[data-log-url]").forEach(follow);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
