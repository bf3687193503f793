// Live pages: on each 'change' event from the server, fetch the board's rows again and swap
// them in (rows that changed flash), or reload the page where the script asks for it.
(function () {
  const script = document.currentScript;
  const reload = script && script.dataset.reload === "1";
  const badge = document.getElementById("live");
  const rows = document.getElementById("board-rows");
  const race = location.pathname.split("/")[2];
  let last = null;
  async function refresh() {
    if (reload) { location.reload(); return; }
    if (!rows) return;
    const res = await fetch(rows.dataset.src, { cache: "no-store" });
    if (!res.ok) return;
    const before = new Map([...rows.querySelectorAll("tr")].map(tr => [tr.querySelector(".alias")?.textContent, tr.textContent]));
    rows.innerHTML = await res.text();
    for (const tr of rows.querySelectorAll("tr")) {
      const alias = tr.querySelector(".alias")?.textContent;
      if (alias && before.get(alias) !== tr.textContent) tr.classList.add("fresh");
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
