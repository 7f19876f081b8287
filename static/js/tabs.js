// Tabs (WAI-ARIA pattern): the page works without this script, each tab is a link that
// reloads the page with that panel shown; with it, a click or an arrow key switches at once.
document.querySelectorAll("[data-tabs]").forEach((container) => {
  const tabs = [...container.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    tabs.forEach((other) => {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) tab.focus();
    history.replaceState(null, "", tab.getAttribute("href"));
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", (event) => {
      event.preventDefault();
      select(tab, false);
    });
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(index + moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
});
