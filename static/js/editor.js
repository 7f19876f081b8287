// Blueprint editor. Each section saves on its own; after a save every form must say which
// revision it is based on, or the next save would be refused as a conflicting edit.
document.body.addEventListener("blueprintSaved", (event) => {
  const revision = String(event.detail.revision);
  document.querySelectorAll('input[name="based_on"]').forEach((input) => { input.value = revision; });
  const badge = document.getElementById("revision-number");
  if (badge) badge.textContent = revision;
  // Some sections depend on others: targets decide which settings exist (Wi-Fi only with a
  // radio), packages decide which services are suggested.
  const dependents = { targets: null, packages: ["services"], settings: ["system_ini"] };
  if (!(event.detail.section in dependents)) return;
  const only = dependents[event.detail.section];
  document.querySelectorAll(".editor-section").forEach((section) => {
    const name = section.id.replace("section-", "");
    if (name !== event.detail.section && (only === null || only.includes(name))) {
      htmx.ajax("GET", section.dataset.url, { target: section, swap: "outerHTML" });
    }
  });
});

// Fixed-address fields only matter when "Fixed address" is chosen.
function syncNetworkFields(root) {
  const form = root.querySelector('input[name="network"]')?.form;
  if (!form) return;
  const isStatic = form.querySelector('input[name="network"]:checked')?.value === "static";
  form.querySelectorAll("[data-static-only]").forEach((el) => { el.hidden = !isStatic; });
}
document.addEventListener("change", (event) => {
  if (event.target.name === "network") syncNetworkFields(event.target.form);
});
document.addEventListener("htmx:afterSettle", (event) => syncNetworkFields(event.detail.elt));
document.addEventListener("DOMContentLoaded", () => syncNetworkFields(document));

// After a section saves, keep keyboard focus in it (screen readers hear the status line).
document.addEventListener("htmx:afterSwap", (event) => {
  const status = event.detail.elt.querySelector?.(".saved, .errorlist, [role=alert]");
  if (status) { status.setAttribute("tabindex", "-1"); status.focus(); }
});
