// Dispatcher console: the queue by priority and waiting time, the map, recommendations, one-click dispatch.
"use strict";

(() => {
  const { el, clear, api, L: T, cfg } = WR;
  const queueBody = document.querySelector("#queue tbody");
  const detail = document.getElementById("detail");
  const alerts = document.getElementById("alerts");
  const unitSummary = document.getElementById("unit-summary");
  const map = WR.map("map");
  WR.dispatcherMap = map;  // coverage.js draws on it
  const layers = {
    incidents: L.layerGroup().addTo(map), routes: L.layerGroup().addTo(map), units: L.layerGroup().addTo(map),
    cameras: L.layerGroup().addTo(map),
  };
  const unitMarkers = new Map();
  let incidents = [], units = [], selected = null, detailKey = null, fitted = false, routesKey = null;
  let known = null; // the incidents seen so far: a P1 not among them chimes
  WR.sound.toggle(document.getElementById("sound-toggle"));
  // every unit carries its callsign; far out, only those on a job (the others would hide the map)
  const LABELS_FROM_ZOOM = 14;
  const showFar = () => map.getContainer().classList.toggle("far", map.getZoom() < LABELS_FROM_ZOOM);
  map.on("zoomend", showFar);
  showFar();

  function typeLabel(t) { return T.types[t] || t; }

  function ackCell(incident, a) {
    const node = el("span", { class: `badge st-${unitStatus(a.unit_id)}`, dataset: { unit: a.callsign } }, a.callsign);
    if (!a.acknowledged_at && a.active) {
      const limit = cfg.ack_timeouts[String(incident.priority)] || 120;
      node.append(" ", el("span", { class: "timer ack", dataset: { since: a.assigned_at, limit: String(limit) } }, ""));
    }
    return node;
  }

  function unitStatus(id) { const u = units.find((x) => x.id === id); return u ? u.status : "assigned"; }

  function renderQueue() {
    const rows = incidents.map((i) => el("tr", {
      class: i.id === selected ? "selected" : "", dataset: { incident: String(i.id), number: i.number },
      onclick: () => select(i.id),
    },
      el("td", {}, WR.prio(i.priority)),
      el("td", {}, el("b", {}, i.number), " ", typeLabel(i.type), el("br"), el("span", { class: "muted" }, i.address || (i.location ? "" : T.words.no_location))),
      el("td", {}, el("span", { class: "timer", dataset: { since: i.created_at } }, "")),
      el("td", {}, WR.badge("st", i.status, T.incident_status)),
      el("td", {}, i.assignments.filter((a) => a.active).map((a) => ackCell(i, a))),
    ));
    clear(queueBody, rows);
    tick();
  }

  function renderMap() {
    layers.incidents.clearLayers();
    const points = [];
    for (const i of incidents) {
      if (!i.location) continue;
      const ll = [i.location.lat, i.location.lon];
      points.push(ll);
      L.circleMarker(ll, { radius: 11, color: "#000", weight: 2, fillColor: WR.PRIORITY_COLOURS[i.priority], fillOpacity: 0.9 })
        .bindTooltip(el("span", {}, `${i.number} · ${typeLabel(i.type)}`))
        .on("click", () => select(i.id))
        .addTo(layers.incidents);
    }
    for (const u of units) placeUnit(u);
    if (!fitted && points.length) { WR.fit(map, points); fitted = true; }
  }

  function placeUnit(u) {
    if (!u.position) return;
    const ll = [u.position.lat, u.position.lon];
    let marker = unitMarkers.get(u.id);
    if (!marker) {
      marker = L.circleMarker(ll, { radius: 6, weight: 1, color: "#000", fillOpacity: 0.95 }).addTo(layers.units);
      unitMarkers.set(u.id, marker);
    }
    marker.setLatLng(ll);
    marker.setStyle({ fillColor: WR.STATUS_COLOURS[u.status] || "#999" });
    const label = `${u.callsign}${u.status === "available" ? "" : ` · ${T.unit_status[u.status] || u.status}`}`;
    const tooltip = marker.getTooltip();
    if (tooltip && tooltip.options.className.includes(u.status === "available" ? "free" : "busy")) tooltip.setContent(label);
    else {
      marker.unbindTooltip();
      marker.bindTooltip(label, {
        permanent: true, direction: "right", offset: [6, 0], className: `unit-label ${u.status === "available" ? "free" : "busy"}`,
      });
    }
  }

  // The selected incident's units on the map, each with its route there (what its crew was given).
  async function drawRoutes(incident) {
    const active = incident ? incident.assignments.filter((a) => a.active) : [];
    const key = JSON.stringify([incident && incident.id, active.map((a) => a.unit_id)]);
    if (key === routesKey) return;
    routesKey = key;
    const found = await Promise.all(active.map((a) => api("GET", `/units/${a.unit_id}/route`).then((r) => [a, r]).catch(() => null)));
    if (key !== routesKey) return;  // another incident was selected meanwhile
    layers.routes.clearLayers();
    for (const item of found) {
      if (!item) continue;
      const [a, route] = item;
      L.geoJSON(route.geometry || route, { style: { color: WR.STATUS_COLOURS[unitStatus(a.unit_id)] || "#2457c5", weight: 5, opacity: 0.8 } })
        .bindTooltip(`${a.callsign} · ${WR.eta(route.eta_s)}`, { sticky: true })
        .addTo(layers.routes);
    }
  }

  // Keep the selected incident in view (and close enough to read its streets).
  function focus(incident) {
    if (!incident || !incident.location) return;
    const ll = [incident.location.lat, incident.location.lon];
    fitted = true;
    map._wrFitted = true;
    WR.moveMap(map, () => map.setView(ll, Math.max(map.getZoom(), 15)));
  }

  function renderUnits() {
    const counts = {};
    for (const u of units) counts[u.status] = (counts[u.status] || 0) + 1;
    clear(unitSummary, Object.entries(counts).map(([s, n]) => el("span", { class: `badge st-${s}` }, `${T.unit_status[s] || s}: ${n}`)));
  }

  async function renderCameras() {
    const cameras = await api("GET", "/cameras").catch(() => []);
    layers.cameras.clearLayers();
    for (const c of cameras) {
      L.circleMarker([c.lat, c.lon], { radius: 4, weight: 1, color: "#333", fillColor: WR.CONGESTION_COLOURS[c.level] || "#999", fillOpacity: 1 })
        .bindTooltip(el("span", {}, `${c.code} · ${c.name} · ${T.congestion[c.level] || c.level}`))
        .addTo(layers.cameras);
    }
  }

  async function select(id) {
    selected = id;
    detailKey = null;
    routesKey = null;
    renderQueue();
    focus(incidents.find((i) => i.id === id));
    await renderDetail(true);
  }

  async function renderDetail(force) {
    const incident = incidents.find((i) => i.id === selected);
    drawRoutes(incident);
    if (!incident) { clear(detail, el("p", { class: "muted" }, T.words.select_incident)); return; }
    const key = JSON.stringify([incident.status, incident.version, incident.assignments.map((a) => [a.unit_id, a.active])]);
    if (!force && key === detailKey) return;
    // a form the dispatcher is filling in (edit, close, release…) is not swept away by someone
    // else's change: it is redrawn once submitted; an edit sent on a stale copy gets a 409
    if (!force && detail.querySelector("#action-form > *") && detail.dataset.incident === String(incident.id)) return;
    detailKey = key;
    detail.dataset.incident = String(incident.id);
    const head = [
      el("h3", {}, WR.prio(incident.priority), " ", incident.number, " · ", typeLabel(incident.type)),
      el("p", {}, incident.address || "", incident.district ? ` (${incident.district})` : ""),
      incident.description ? el("p", { class: "description" }, incident.description) : null,
      incident.caller ? el("p", { class: "muted" }, incident.caller.name || "", " ", incident.caller.phone) : null,
      el("p", { class: "muted" }, T.words.waiting, " ", el("span", { class: "timer", dataset: { since: incident.created_at } }, "")),
    ];
    const recsBox = el("div", { id: "recommendations" }, "…");
    const finish = WR.dispatchOps.panel(incident, incidents, async () => { await refresh(); await renderDetail(true); },
      (error) => WR.flash(alerts, error.message, true));
    clear(detail, head, recsBox, finish);
    tick();
    if (incident.status === "closed" || incident.status === "cancelled") { clear(recsBox); return; }
    let recs;
    const recsUrl = (all) => `/incidents/${incident.id}/recommendations${all ? "?limit=all" : ""}`;
    try { recs = await api("GET", recsUrl(WR.recommendations.isOpen(incident.id))); }
    catch (error) { WR.flash(recsBox, error.message, true); return; }
    if (selected !== incident.id) return;
    const proposed = recs.run_card.slots.flatMap((s) => s.proposed);
    clear(recsBox,
      WR.recommendations.render(incident.id, recs.recommendations, recs.total, (ids, button) => dispatch(incident.id, ids, button),
        async () => (await api("GET", recsUrl(true))).recommendations),
      proposed.length > 1 ? el("p", {}, el("button", { class: "big", id: "dispatch-run-card", onclick: (e) => dispatch(incident.id, proposed, e.target) },
        `${T.words.dispatch_all} (${T.run_cards[recs.run_card.name] || recs.run_card.name.replace(/_/g, " ")}: ${proposed.length})`)) : null,
    );
    if (unitCursor >= unitRows().length) unitCursor = 0;
    markUnit();
  }

  async function dispatch(incidentId, unitIds, button) {
    button.disabled = true;
    try {
      if (unitIds.length === 1) await api("POST", `/incidents/${incidentId}/assignments`, { unit_id: unitIds[0] });
      else await api("POST", `/incidents/${incidentId}/dispatch`, { unit_ids: unitIds });
      await refresh();
      await renderDetail(false);  // a form opened meanwhile stays
    } catch (error) {
      button.disabled = false;
      WR.flash(alerts, error.message, true);
      await refresh();
      await renderDetail(false);  // a form opened meanwhile stays
    }
  }

  // Keys, shown above the queue: J/K (or the arrows) move through the queue and select; 1–9 choose
  // a unit of the selected incident's list (the first is chosen), D sends it, R the run card's
  // proposal, U opens every unit. Never while typing in a field.
  let unitCursor = 0;
  const unitRows = () => [...detail.querySelectorAll("#recommendations tr[data-unit]")].filter((r) => r.offsetParent !== null);
  const markUnit = () => unitRows().forEach((r, i) => r.classList.toggle("cursor", i === unitCursor));
  document.addEventListener("keydown", (e) => {
    const target = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)))) return;
    const key = e.key.toLowerCase();
    if (["j", "k", "arrowdown", "arrowup"].includes(key)) {
      if (!incidents.length) return;
      e.preventDefault();
      const at = incidents.findIndex((i) => i.id === selected);
      const down = key === "j" || key === "arrowdown";
      const next = incidents[down ? Math.min(incidents.length - 1, at + 1) : Math.max(0, at - 1)];
      unitCursor = 0;
      select(next.id);
      const row = queueBody.querySelector(`tr[data-incident='${next.id}']`);
      if (row) row.scrollIntoView({ block: "nearest" });
    } else if (/^[1-9]$/.test(key)) {
      unitCursor = Number(key) - 1;
      markUnit();
    } else if (key === "d") {
      const row = unitRows()[unitCursor];
      const button = row && row.querySelector("button.dispatch");
      if (button && !button.disabled) { e.preventDefault(); button.click(); }
    } else if (key === "r" || key === "u") {
      const button = document.getElementById(key === "r" ? "dispatch-run-card" : "all-units");
      if (button) { e.preventDefault(); button.click(); }
    }
  });

  function tick() {
    for (const node of document.querySelectorAll(".timer[data-since]")) {
      const s = WR.seconds(node.dataset.since);
      node.textContent = WR.duration(s);
      if (node.dataset.limit) node.classList.toggle("overdue", s > Number(node.dataset.limit));
    }
  }

  async function refresh() {
    [incidents, units] = await Promise.all([api("GET", "/incidents?status=open"), api("GET", "/units")]);
    const fresh = known ? incidents.filter((i) => !known.has(i.id) && i.priority === 1 && i.status === "new") : [];
    known = new Set([...(known || []), ...incidents.map((i) => i.id)]);
    if (fresh.length) WR.sound.play(WR.CHIMES.new_p1);
    document.dispatchEvent(new CustomEvent("wr:units", { detail: units }));  // coverage.js follows the fleet
    renderQueue();
    renderMap();
    renderUnits();
    await renderDetail(false);
  }

  const intakeFailures = WR.intakeFailures(document.getElementById("intake-failures"));
  const alertBanners = WR.alerts(document.getElementById("alert-banners"));  // alerts.js
  WR.live({
    intake_failure: () => { intakeFailures(); return true; },
    unit: (data) => {
      if (data.position && !data.status) {
        const u = units.find((x) => x.id === data.id);
        if (u) { u.position = data.position; placeUnit(u); }
        return true;
      }
      return false;
    },
    congestion: () => { renderCameras(); return true; },
    route: (data) => {  // a crew of the selected incident got a new route: draw it
      const incident = incidents.find((i) => i.id === selected);
      if (incident && incident.assignments.some((a) => a.active && a.unit_id === data.unit_id)) { routesKey = null; drawRoutes(incident); }
      return true;
    },
    message: () => true,
    call: () => true,
    alert: (data) => {
      if (data.kind === "declined") {
        alerts.prepend(el("p", { class: "error", role: "alert" }, `${data.incident_number}: ${data.callsign} — ${T.words.declined} (${T.decline_reasons[data.reason] || data.reason})`,
          data.next_callsign ? ` → ${data.next_callsign}` : ""));
        return false;
      }
      return alertBanners.heard(data);  // alerts.js
    },
  }, () => { alertBanners.refresh(); return refresh(); });
  setInterval(tick, 1000);
  WR.loaded(refresh());
  renderCameras();
})();
