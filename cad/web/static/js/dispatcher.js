// Dispatcher console: the queue by priority and waiting time, the map, recommendations, one-click dispatch.
"use strict";

(() => {
  const { el, clear, api, L: T, cfg } = WR;
  const queueBody = document.querySelector("#queue tbody");
  const detail = document.getElementById("detail");
  const alerts = document.getElementById("alerts");
  const unitSummary = document.getElementById("unit-summary");
  const map = WR.map("map");
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
    const key = JSON.stringify([incident.status, incident.assignments.map((a) => [a.unit_id, a.active])]);
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
    const committed = incident.assignments.some((a) => a.active);
    const finish = el("p", { class: "row" },
      incident.status === "on_scene" && !committed
        ? el("button", { class: "quiet", id: "close-incident", onclick: (e) => finishIncident(incident.id, "closed", e.target) }, T.words.close) : null,
      incident.status === "new" || incident.status === "dispatched"
        ? el("button", { class: "danger", id: "cancel-incident", onclick: (e) => finishIncident(incident.id, "cancelled", e.target) }, T.words.cancel) : null,
    );
    clear(detail, head, recsBox, finish);
    tick();
    if (incident.status === "closed" || incident.status === "cancelled") { clear(recsBox); return; }
    let recs;
    try { recs = await api("GET", `/incidents/${incident.id}/recommendations`); }
    catch (error) { WR.flash(recsBox, error.message, true); return; }
    if (selected !== incident.id) return;
    const proposed = recs.run_card.slots.flatMap((s) => s.proposed);
    const rows = recs.recommendations.slice(0, 8).map((r) => el("tr", { dataset: { unit: r.callsign } },
      el("td", {}, el("b", {}, r.callsign), el("br"), el("span", { class: "muted" }, r.agency)),
      el("td", {}, WR.minutes(r.eta_s), el("br"), el("span", { class: "muted" }, `${(r.distance_m / 1000).toFixed(1)} ${T.words.km}`)),
      el("td", {}, el("button", { class: "ok dispatch", dataset: { unit: r.callsign }, onclick: (e) => dispatch(incident.id, [r.unit_id], e.target) }, T.words.dispatch)),
    ));
    clear(recsBox,
      rows.length ? el("table", { class: "grid" }, el("tbody", {}, rows)) : el("p", { class: "error" }, T.words.no_units),
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

  async function finishIncident(incidentId, status, button) {
    if (status === "cancelled" && !window.confirm(T.words.cancel_confirm)) return;
    button.disabled = true;
    try {
      await api("POST", `/incidents/${incidentId}/status`, { status });
      selected = null;
      await refresh();
    } catch (error) {
      button.disabled = false;
      WR.flash(alerts, error.message, true);
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
    alert: (data) => alertBanners.heard(data),
  }, () => { alertBanners.refresh(); return refresh(); });
  setInterval(tick, 1000);
  refresh();
  renderCameras();
})();
