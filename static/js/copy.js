// Copy buttons: <button data-copy="text"> puts the text on the clipboard. They stay hidden
// without this script (nothing could copy); the title of the shortened value holds it whole.
function showCopyButtons(root) {
  root.querySelectorAll("button[data-copy]").forEach((button) => { button.hidden = false; });
}

// navigator.clipboard exists only on HTTPS and localhost; elsewhere copy from a selection.
function copyBySelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: try the old way
    }
  }
  return copyBySelection(text);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const copied = await copyText(button.dataset.copy);
  const status = button.nextElementSibling?.classList.contains("copy-status")
    ? button.nextElementSibling : null;
  if (status) {
    status.textContent = copied ? "Copied" : "Select the value and copy it by hand";
    setTimeout(() => { status.textContent = ""; }, 3000);
  }
});

showCopyButtons(document);
document.addEventListener("htmx:afterSettle", (event) => showCopyButtons(event.detail.elt));
