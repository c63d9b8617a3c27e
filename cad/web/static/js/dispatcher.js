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
  const layers = { incidents: L.layerGroup().addTo(map), units: L.layerGroup().addTo(map), cameras: L.layerGroup().addTo(map) };
  const unitMarkers = new Map();
  let incidents = [], units = [], selected = null, detailKey = null, fitted = false;

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
    marker.bindTooltip(el("span", {}, `${u.callsign} · ${T.unit_status[u.status] || u.status}`));
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
    renderQueue();
    await renderDetail(true);
  }

  async function renderDetail(force) {
    const incident = incidents.find((i) => i.id === selected);
    if (!incident) { clear(detail, el("p", { class: "muted" }, T.words.select_incident)); return; }
    const key = JSON.stringify([incident.status, incident.version, incident.assignments.map((a) => [a.unit_id, a.active])]);
    if (!force && key === detailKey) return;
    detailKey = key;
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
    try { recs = await api("GET", `/incidents/${incident.id}/recommendations`); }
    catch (error) { WR.flash(recsBox, error.message, true); return; }
    if (selected !== incident.id) return;
    const proposed = recs.run_card.slots.flatMap((s) => s.proposed);
    clear(recsBox,
      WR.recommendations.render(incident.id, recs.recommendations, (ids, button) => dispatch(incident.id, ids, button)),
      proposed.length > 1 ? el("p", {}, el("button", { class: "big", id: "dispatch-run-card", onclick: (e) => dispatch(incident.id, proposed, e.target) },
        `${T.words.dispatch_all} (${recs.run_card.name}: ${proposed.length})`)) : null,
    );
  }

  async function dispatch(incidentId, unitIds, button) {
    button.disabled = true;
    try {
      if (unitIds.length === 1) await api("POST", `/incidents/${incidentId}/assignments`, { unit_id: unitIds[0] });
      else await api("POST", `/incidents/${incidentId}/dispatch`, { unit_ids: unitIds });
      await refresh();
      await renderDetail(true);
    } catch (error) {
      button.disabled = false;
      WR.flash(alerts, error.message, true);
      await refresh();
      await renderDetail(true);
    }
  }

  function tick() {
    for (const node of document.querySelectorAll(".timer[data-since]")) {
      const s = WR.seconds(node.dataset.since);
      node.textContent = WR.duration(s);
      if (node.dataset.limit) node.classList.toggle("overdue", s > Number(node.dataset.limit));
    }
  }

  async function refresh() {
    [incidents, units] = await Promise.all([api("GET", "/incidents?status=open"), api("GET", "/units")]);
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
    route: () => true,
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
  refresh();
  renderCameras();
})();
