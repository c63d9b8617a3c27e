// Dispatcher console: fire-engine coverage within its travel-time target (GET /coverage): the figure,
// the best move-up, and a map layer of the roads out of reach (red; dashed where one end is reached).
// Fetched again when the set of available fire engines changes (dispatcher.js tells us after each
// refresh; GPS fixes alone do not refresh), at most every few seconds, and each minute for congestion.
"use strict";

(() => {
  const { el, clear, api, L: T } = WR;
  const C = T.coverage;
  const box = document.getElementById("coverage");
  const map = WR.dispatcherMap;
  if (!box || !map || !C) return;
  const TYPE = "fire_engine";
  const MIN_GAP_MS = 3000, EVERY_MS = 60000;
  const layer = L.layerGroup().addTo(map);
  let fleetKey = null, timer = null, last = 0, loading = false, shown = true;

  const toggle = el("input", { type: "checkbox", id: "coverage-layer", checked: true, onchange: (e) => {
    shown = e.target.checked;
    if (shown) layer.addTo(map); else layer.remove();
  } });

  function percent(share) {
    const value = share * 100;
    return `${value > 0 && value < 1 ? value.toFixed(1) : Math.round(value)} %`;
  }

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, (_, name) => (name in values ? values[name] : ""));
  }

  function draw(t) {
    layer.clearLayers();
    if (t.uncovered && t.uncovered.features.length) {
      L.geoJSON(t.uncovered, {
        interactive: false,
        style: (f) => f.properties.covered_ends
          ? { color: "#d7263d", weight: 2, opacity: 0.6, dashArray: "4 4" }
          : { color: "#d7263d", weight: 3, opacity: 0.85 },
      }).addTo(layer);
    }
    const move = t.suggestions[0];
    if (move) {
      L.polyline([[move.origin.lat, move.origin.lon], [move.post.lat, move.post.lon]],
        { color: "#17752f", weight: 3, dashArray: "6 6", interactive: false }).addTo(layer);
      L.circleMarker([move.post.lat, move.post.lon], { radius: 7, color: "#17752f", weight: 3, fillOpacity: 0 })
        .bindTooltip(el("span", {}, move.station)).addTo(layer);
    }
  }

  function render(t) {
    const figure = el("p", { id: "coverage-figure", dataset: { share: String(t.share) } },
      el("b", {}, `${fill(C.figure, { seconds: Math.round(t.target_s) })}: ${percent(t.share)}`),
      el("span", { class: "muted" }, ` (${t.units_available}/${t.units_total})`));
    const move = t.suggestions[0];
    const suggestion = move
      ? el("p", { id: "coverage-move", dataset: { unit: move.callsign, station: String(move.station_id) } },
        `${fill(C.move, { unit: move.callsign, station: move.station })}: +${percent(move.gain_share)} ${C.gain}`,
        move.districts.length ? el("span", { class: "muted" }, ` (${C.regain}: ${move.districts.map((d) => d.name).join(", ")})`) : null)
      : el("p", { id: "coverage-move", class: "muted" }, C.no_move);
    const districts = t.districts.length
      ? el("p", { class: "muted", id: "coverage-districts" },
        t.districts.map((d) => `${d.name} ${percent(d.share)}`).join(" · "))
      : null;
    clear(box, figure, suggestion, districts, el("label", {}, toggle, " ", C.layer));
    draw(t);
  }

  let firstLoad;
  WR.loaded(new Promise((resolve) => { firstLoad = resolve; }));  // the first figure, once the fleet is known
  async function load() {
    if (loading) { schedule(); return; }
    loading = true;
    last = Date.now();
    try {
      const body = await api("GET", `/coverage?type=${TYPE}&suggestions=1`);
      const t = body.types[0];
      if (t) render(t);
      else { layer.clearLayers(); clear(box, el("p", { class: "muted" }, C.no_units)); }
    } catch (error) {
      layer.clearLayers();
      clear(box, el("p", { class: "muted", id: "coverage-figure" }, `${C.unavailable}: ${error.message}`));
    } finally {
      loading = false;
      firstLoad();
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(load, Math.max(0, last + MIN_GAP_MS - Date.now()));
  }

  document.addEventListener("wr:units", (event) => {
    const key = event.detail.filter((u) => u.type === TYPE && u.status === "available").map((u) => u.id).sort((a, b) => a - b).join(",");
    if (key === fleetKey) return;
    fleetKey = key;
    schedule();
  });
  setInterval(schedule, EVERY_MS);
  WR.coverage = { layer, load };
})();
