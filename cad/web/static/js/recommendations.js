// Dispatcher console: every capable unit ranked by arrival time. The best few are asked for and
// shown first, "All units (N)" asks for and opens the rest, and every row can be dispatched. A unit measured from its station
// (stale or missing GPS) says so on its row; a closed road at the scene shows the crew's walk.
"use strict";

WR.recommendations = (() => {
  const { el, clear, L: T } = WR;
  const BEST = 5;
  const expanded = new Set(); // incidents whose whole list the dispatcher opened

  function notes(r) {
    const out = [];
    if (r.ranked_from === "station") {
      const text = r.position_age_s === null || r.position_age_s === undefined ? T.words.from_station_no_gps
        : T.words.from_station_gps.replace("{m}", String(Math.max(1, Math.round(r.position_age_s / 60))));
      out.push(el("span", { class: "badge rec-station", title: r.reason || "" }, text));
    }
    if (r.walk_m > 0 || r.closed_road) {
      const text = (r.closed_road ? T.words.road_closed_walk : T.words.walk_from_stop).replace("{m}", String(Math.round(r.walk_m)));
      out.push(el("span", { class: `badge ${r.closed_road ? "rec-closed" : "rec-walk"}`, title: r.walk_reason || "" }, text));
    }
    return out;
  }

  function row(r, dispatch) {
    const extra = notes(r);
    return el("tr", { dataset: { unit: r.callsign } },
      el("td", {}, el("b", {}, r.callsign), el("br"), el("span", { class: "muted" }, r.agency)),
      el("td", {}, el("span", { class: "eta" }, WR.eta(r.eta_s)), " ",
        el("span", { class: "muted" }, `${(r.distance_m / 1000).toFixed(1)} ${T.words.km}`),
        extra.length ? el("br") : null, extra),
      el("td", {}, el("button", { class: "ok dispatch", dataset: { unit: r.callsign }, onclick: (e) => dispatch([r.unit_id], e.target) }, T.words.dispatch)),
    );
  }

  // The list for one incident: `ranked` holds the best few (or every one, once opened) of `total`;
  // `dispatch(unitIds, button)` sends a unit; `loadAll()` fetches every one when the list opens.
  function render(incidentId, ranked, shown, dispatch, loadAll) {
    let total = shown;
    if (!ranked.length) return el("p", { class: "error" }, T.words.no_units);
    const open = () => expanded.has(incidentId);
    const best = el("tbody", {}, ranked.slice(0, BEST).map((r) => row(r, dispatch)));
    const rest = el("tbody", { class: "more", hidden: !open() }, ranked.slice(BEST).map((r) => row(r, dispatch)));
    const table = el("table", { class: "grid recs" }, best, rest);
    if (total <= BEST) return table;
    let loaded = ranked.length >= total;
    const note = el("div", {});
    const label = () => (open() ? T.words.fewer_units : T.words.all_units.replace("{n}", String(total)));
    const toggle = el("button", { type: "button", class: "quiet", id: "all-units", "aria-expanded": String(open()) }, label());
    toggle.addEventListener("click", async () => {
      if (open()) expanded.delete(incidentId); else expanded.add(incidentId);
      if (open() && !loaded) {
        toggle.disabled = true;
        try {
          const every = await loadAll();  // the whole list as it is now, the best few included
          clear(best, every.slice(0, BEST).map((r) => row(r, dispatch)));
          clear(rest, every.slice(BEST).map((r) => row(r, dispatch)));
          total = every.length;
          loaded = true;
        } catch (error) {
          expanded.delete(incidentId);
          WR.flash(note, error.message, true);
        } finally {
          toggle.disabled = false;
        }
      }
      rest.hidden = !open();
      toggle.textContent = label();
      toggle.setAttribute("aria-expanded", String(open()));
    });
    return el("div", { class: "recs-box" }, table, el("p", {}, toggle), note);
  }

  // Whether the dispatcher opened this incident's whole list (then it is asked for in full).
  const isOpen = (incidentId) => expanded.has(incidentId);

  return { render, isOpen };
})();
