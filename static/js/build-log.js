// Live build log: ask only for the bytes after what we already have, keep the view at the
// bottom while the reader is there, and let the server's 286 stop the polling.
document.addEventListener("htmx:configRequest", (event) => {
  const log = event.detail.elt;
  if (log.id === "build-log") event.detail.parameters.offset = log.dataset.offset;
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const log = event.detail.elt;
  if (log.id !== "build-log") return;
  log.dataset.atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const next = event.detail.xhr.getResponseHeader("X-Log-Offset");
  if (next) log.dataset.offset = next;
});
document.addEventListener("htmx:afterSwap", (event) => {
  const log = event.detail.elt;
  if (log.id === "build-log" && log.dataset.atBottom === "true") log.scrollTop = log.scrollHeight;
});
