// Live pages: on each 'change' event from the server, fetch the live table's rows again (the
// board's, or a racer's own submissions) and swap them in; rows that changed flash. Nothing
// reloads, so a file chosen for upload stays chosen.
(function () {
  const badge = document.getElementById("live");
  const rows = document.querySelector("tbody[data-src]");
  const race = location.pathname.split("/")[2];
  let last = null;
  async function refresh() {
    if (!rows) return;
    const res = await fetch(rows.dataset.src, { cache: "no-store" });
    if (!res.ok) return;
    const key = tr => tr.querySelector(".alias")?.textContent ?? tr.querySelector("a")?.getAttribute("href");
    const before = new Map([...rows.querySelectorAll("tr")].map(tr => [key(tr), tr.textContent]));
    rows.innerHTML = await res.text();
    for (const tr of rows.querySelectorAll("tr")) {
      const k = key(tr);
      if (k && before.get(k) !== tr.textContent) tr.classList.add("fresh");
    }
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }
  function connect() {
    const events = new EventSource("/races/" + race + "/events");
    events.addEventListener("open", () => badge && badge.classList.add("on"));
    events.addEventListener("error", () => badge && badge.classList.remove("on"));
    events.addEventListener("change", e => {
      if (last !== null && e.data !== last) refresh();
      last = e.data;
    });
  }
  connect();
})();
