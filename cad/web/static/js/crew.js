// Crew page (a phone screen): the unit's current job, its address and route, and the status buttons.
"use strict";

(() => {
  const { el, clear, api, L: T, cfg } = WR;
  const jobBox = document.getElementById("job");
  const statusBadge = document.getElementById("unit-status");
  const flashBox = document.getElementById("flash");
  const map = WR.map("map", { roads: WR.ROADS_PHONE });
  const jobLayer = L.layerGroup().addTo(map);
  // the moves a crew makes from each status (the server's state machine has the last word)
  const NEXT = {
    assigned: ["acknowledged", "en_route"], acknowledged: ["en_route"], en_route: ["on_scene"],
    on_scene: ["transporting", "available"], transporting: ["at_hospital", "available"], at_hospital: ["available"],
  };
  // a job the crew can still say no to ("tidak bisa"): not yet at work on the scene
  const DECLINABLE = ["assigned", "acknowledged", "en_route"];
  let job = null, routeKey = null, unitMarker = null;
  let lastRoute = null; // { assignment, route }: kept on screen if asking again fails
  let seenAssignment; // the assignment shown last (undefined before the first look): a new one alerts the crew

  // Where the vehicle stops and why the crew walks on (a closed road at the scene, or a road
  // the vehicle cannot use), with the closed roads' names: stays on screen with the route.
  function showAccess(route, scene) {
    const box = document.getElementById("route-access");
    if (!box) return;
    if (!(route.walk_m > 0 || route.closed_road)) { clear(box); box.hidden = true; return; }
    const metres = String(Math.round(route.walk_m));
    const closedNames = [...new Set((route.congested_edges_avoided || []).concat(route.congested_edges_on_route || [])
      .filter((e) => e.level === "closed" && e.name).map((e) => e.name))];
    const stop = `${route.stop.lat.toFixed(5)}, ${route.stop.lon.toFixed(5)}`;
    box.hidden = false;
    box.className = route.closed_road ? "route-closed" : "muted";
    clear(box,
      el("b", {}, (route.closed_road ? T.words.road_closed_walk : T.words.walk_from_stop).replace("{m}", metres)),
      ` · ${WR.eta(route.walk_s)}`,
      closedNames.length ? ` (${closedNames.join(", ")})` : "",
      el("br"), `${T.words.vehicle_stop}: `,
      el("a", { href: `geo:${route.stop.lat.toFixed(6)},${route.stop.lon.toFixed(6)}` }, stop),
    );
    const stopLl = [route.stop.lat, route.stop.lon];
    L.circleMarker(stopLl, { radius: 6, color: "#111", weight: 2, fillColor: "#fff", fillOpacity: 1 }).addTo(jobLayer);
    if (scene) L.polyline([stopLl, scene], { color: "#111", weight: 3, dashArray: "4 6" }).addTo(jobLayer);
  }

  function drawRoute(route, scene, stale) {
    const line = L.geoJSON(route.geometry || route, { style: { color: "#2f80ff", weight: 6, opacity: 0.85 } }).addTo(jobLayer);
    document.getElementById("route-info").textContent =
      `${T.words.route}: ${(route.distance_m / 1000).toFixed(1)} ${T.words.km} · ${WR.eta(route.eta_s)}` + (stale ? ` (${T.words.last_route})` : "");
    showAccess(route, scene);
    return line;
  }

  function declineBox(status) {
    if (!job || !job.assignment || !DECLINABLE.includes(status)) return null;
    const box = el("div", { id: "decline", class: "decline" });
    const reasons = () => clear(box, el("p", {}, T.words.decline_why), Object.entries(T.decline_reasons).map(([reason, label]) =>
      el("button", { type: "button", class: "move danger decline-reason", dataset: { reason }, onclick: (e) => decline(reason, e.target) }, label)));
    clear(box, el("button", { type: "button", class: "quiet", id: "cannot-go", onclick: reasons }, T.words.cannot_go));
    return box;
  }

  async function decline(reason, button) {
    button.disabled = true;
    try {
      await api("POST", `/units/${cfg.unit_id}/decline`, { reason });
      WR.flash(flashBox, T.words.declined_sent);
    } catch (error) { WR.flash(flashBox, error.message, true); }
    await refresh();
  }

  // the move a crew most likely makes next: the first of NEXT, but a vehicle that carries nobody
  // is free again after the scene rather than transporting
  function nextMove(status, unitType) {
    const allowed = NEXT[status] || [];
    if (status === "on_scene" && unitType !== "ambulance" && allowed.includes("available")) return "available";
    return allowed[0];
  }

  function renderButtons(status, unitType) {
    const allowed = job && job.assignment ? NEXT[status] || [] : [];
    const next = allowed.length ? nextMove(status, unitType) : null;
    const bar = document.getElementById("moves");
    for (const button of document.querySelectorAll("button.move")) {
      const s = button.dataset.status;
      button.textContent = T.unit_status[s] || s;
      button.hidden = !allowed.includes(s);
      button.className = `move st-${s}` + (s === next ? " next" : "");
      if (s === next) bar.insertBefore(button, bar.querySelector("button.move")); // first and largest
    }
    bar.classList.toggle("empty", !allowed.length);
  }

  function navigation(location) {
    const lat = location.lat.toFixed(6), lon = location.lon.toFixed(6);
    const fill = (template) => template.replaceAll("{lat}", lat).replaceAll("{lon}", lon);
    return el("p", { class: "navigate", id: "navigate" },
      el("a", { href: `geo:${lat},${lon}?q=${lat},${lon}`, class: "nav-app", id: "nav-geo" }, `➤ ${T.words.navigate}`),
      Object.entries(cfg.navigation || {}).map(([name, template]) =>
        el("a", { href: fill(template), class: "nav-web", target: "_blank", rel: "noopener", dataset: { site: name } }, name)),
    );
  }

  async function refresh() {
    job = await api("GET", `/crew/job?unit_id=${cfg.unit_id}`);
    const u = job.unit;
    statusBadge.className = `badge st-${u.status}`;
    statusBadge.textContent = T.unit_status[u.status] || u.status;
    renderButtons(u.status, u.type);
    jobLayer.clearLayers();
    const assignmentId = job.assignment ? job.assignment.id : null;
    if (assignmentId !== null && assignmentId !== seenAssignment && u.status === "assigned") WR.crewAlert.newJob();
    seenAssignment = assignmentId;
    if (!job.incident) { clear(jobBox, el("p", { class: "muted", id: "no-job" }, T.words.no_assignment)); routeKey = null; return; }
    const i = job.incident;
    // what the crew needs to drive off comes first (title, address, navigation, route): on screen without scrolling
    clear(jobBox,
      el("h1", { id: "job-title" }, WR.prio(i.priority), " ", T.types[i.type] || i.type, " · ", i.number),
      el("p", { class: "address", id: "job-address" }, i.address || T.words.no_location, i.district ? `, ${i.district}` : ""),
      i.location ? navigation(i.location) : null,
      el("p", { id: "route-info", class: "muted" }),
      el("p", { id: "route-access", role: "status", hidden: true }),
      i.location ? el("p", { class: "muted" }, el("a", { href: `geo:${i.location.lat.toFixed(6)},${i.location.lon.toFixed(6)}` }, `${i.location.lat.toFixed(5)}, ${i.location.lon.toFixed(5)}`)) : null,
      i.description ? el("p", { class: "description" }, i.description) : null,
      declineBox(u.status),
    );
    const points = [];
    if (i.location) {
      const ll = [i.location.lat, i.location.lon];
      points.push(ll);
      L.circleMarker(ll, { radius: 11, color: "#fff", weight: 2, fillColor: WR.PRIORITY_COLOURS[i.priority], fillOpacity: 1 }).addTo(jobLayer);
    }
    if (u.position) {
      const ll = [u.position.lat, u.position.lon];
      points.push(ll);
      unitMarker = L.circleMarker(ll, { radius: 7, color: "#000", weight: 1, fillColor: WR.STATUS_COLOURS[u.status], fillOpacity: 1 }).addTo(jobLayer);
    }
    const scene = i.location ? [i.location.lat, i.location.lon] : null;
    // while the route was asked for, a newer look may have found the job gone or changed: it has the screen
    const stillShown = () => job.assignment && job.assignment.id === assignmentId;
    try {
      const route = await api("GET", `/units/${u.id}/route`);
      if (!stillShown()) return;
      lastRoute = { assignment: assignmentId, route };
      const line = drawRoute(route, scene, false);
      const key = String(assignmentId);
      if (routeKey !== key) { WR.moveMap(map, () => map.fitBounds(line.getBounds().pad(0.15))); routeKey = key; }
    } catch (error) {
      if (!stillShown()) return;
      // the last route of this job stays on screen (with why the crew walks), marked as such
      if (lastRoute && lastRoute.assignment === assignmentId) drawRoute(lastRoute.route, scene, true);
      if (routeKey !== String(assignmentId)) { WR.fit(map, points); routeKey = String(assignmentId); }
    }
  }

  for (const button of document.querySelectorAll("button.move")) {
    button.addEventListener("click", async () => {
      for (const b of document.querySelectorAll("button.move")) b.disabled = true;
      try {
        await api("POST", `/units/${cfg.unit_id}/status`, { status: button.dataset.status });
        clear(flashBox);
      } catch (error) { WR.flash(flashBox, error.message, true); }
      for (const b of document.querySelectorAll("button.move")) b.disabled = false;
      await refresh();
    });
  }

  WR.live({
    // the dispatcher took the unit back: say why, the refresh then shows it free
    assignment: (data) => {
      if (data.active === false && data.reason && data.unit_id === cfg.unit_id) WR.flash(flashBox, `${T.words.job_released}: ${data.reason}`);
      return false;
    },
    // a new GPS fix only moves the marker; the route is asked for again when it changes ("route")
    unit: (data) => {
      if (!data.position || data.status) return false;
      if (unitMarker) unitMarker.setLatLng([data.position.lat, data.position.lon]);
      return true;
    },
  }, refresh);
  WR.loaded(refresh());  // the "no job" state is only drawn from /crew/job's answer
})();
