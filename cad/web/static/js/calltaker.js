// Call-taker console: ringing calls live, the caller's location and history, one form to open an
// incident, link the call to one nearby, or mark it a prank.
"use strict";

(() => {
  const { el, clear, api, L: T } = WR;
  const callsBody = document.querySelector("#calls tbody");
  const flashBox = document.getElementById("flash");
  const callPanel = document.getElementById("call");
  const form = document.getElementById("incident-form");
  const nearbyPanel = document.getElementById("nearby");
  const addressInput = document.getElementById("address");
  const results = document.getElementById("address-results");
  const map = WR.map("map");
  const callLayer = L.layerGroup().addTo(map);
  let calls = [], current = null, pin = null, pinMarker = null, searchTimer = null;

  function caller(c) { return c.phone === "anonymous" || !c.phone ? T.words.unknown_caller : c.phone; }

  function renderCalls() {
    clear(callsBody, calls.map((c) => el("tr", {
      class: [c.state === "ringing" ? "ringing" : "", current && current.id === c.id ? "selected" : ""].join(" "),
      dataset: { call: String(c.id), phone: c.phone || "" }, onclick: () => open(c.id),
    },
      el("td", {}, WR.time(c.received_at), el("br"), el("span", { class: "muted" }, c.channel)),
      el("td", {}, el("b", {}, caller(c)), c.caller_name ? el("div", { class: "caller-name" }, c.caller_name) : null),
      el("td", {}, T.call_state[c.state] || c.state, c.incident_id ? " ✓" : ""),
    )));
  }

  async function refresh() {
    calls = await api("GET", "/calls?state=active&limit=50");
    renderCalls();
    if (current) {
      const fresh = calls.find((c) => c.id === current.id);
      if (fresh && (fresh.state !== current.state || fresh.incident_id !== current.incident_id || !sameLocation(fresh, current))) await open(current.id, true);
      // the open call left the active list (hung up, or cut off when its SIP agent died): show how it ended
      else if (!fresh && ["waiting", "ringing", "answered"].includes(current.state)) await open(current.id, true);
    }
  }

  function sameLocation(a, b) { return JSON.stringify(a.location) === JSON.stringify(b.location); }

  async function open(id, keepForm) {
    current = await api("GET", `/calls/${id}`);
    renderCalls();
    callPanel.hidden = false;
    clear(document.getElementById("call-title"), caller(current), current.caller_name ? ` · ${current.caller_name}` : "");
    const loc = current.location;
    clear(document.getElementById("call-info"),
      el("p", {}, T.call_state[current.state] || current.state, " · ", WR.time(current.received_at), " · ", current.channel),
      el("p", { id: "call-location" }, loc ? `${loc.source || ""} ${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}${loc.accuracy_m ? ` ±${Math.round(loc.accuracy_m)} m` : ""}` : T.words.no_location),
      current.location_address ? el("p", {}, current.location_address) : null,
      current.location_ref ? el("p", { id: "call-location-ref" }, `${T.words.location_ref}: `,
        el("span", { class: "muted" }, current.location_ref)) : null,
    );
    renderHistory(current.caller_history);
    document.getElementById("answer").hidden = current.state !== "ringing";
    document.getElementById("prank").hidden = !!current.incident_id || current.disposition === "prank";
    form.hidden = !!current.incident_id;
    if (!keepForm) { form.reset(); pin = null; if (pinMarker) { pinMarker.remove(); pinMarker = null; } }
    callLayer.clearLayers();
    if (loc) {
      const ll = [loc.lat, loc.lon];
      if (loc.accuracy_m) L.circle(ll, { radius: loc.accuracy_m, color: "#d7263d", weight: 1, fillOpacity: 0.1 }).addTo(callLayer);
      L.marker(ll).bindTooltip(el("span", {}, caller(current))).addTo(callLayer);
      WR.fit(map, [ll]);
    }
    await Promise.all([renderConversation(), renderNearby()]);
  }

  function renderHistory(h) {
    const box = document.getElementById("history");
    if (!h) { clear(box, el("p", { class: "muted" }, T.words.no_history)); return; }
    clear(box,
      h.prank_flags ? el("p", { class: "flag", id: "prank-warning" }, `${T.words.prank_flags}: ${h.prank_flags}`) : null,
      h.earlier_calls.length ? el("details", { open: true }, el("summary", {}, `${T.words.earlier_calls}: ${h.earlier_calls.length}`),
        el("ul", {}, h.earlier_calls.map((c) => el("li", {}, WR.time(c.received_at), " · ", c.channel, " · ", c.disposition || c.state, c.incident_number ? ` · ${c.incident_number}` : ""))))
        : el("p", { class: "muted" }, T.words.no_history),
    );
  }

  async function renderConversation() {
    const box = document.getElementById("conversation");
    if (!current || current.channel === "voice") { clear(box); return; }
    const messages = await api("GET", `/calls/${current.id}/messages`).catch(() => []);
    const input = el("input", { id: "reply-text", maxlength: "1000", "aria-label": T.words.reply });
    const send = async (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      try { await api("POST", `/calls/${current.id}/messages`, { body }); input.value = ""; await renderConversation(); }
      catch (error) { WR.flash(flashBox, error.message, true); }
    };
    clear(box,
      el("div", { class: "chat", id: "chat" }, messages.map((m) => el("p", { class: m.direction, dataset: { status: m.status } }, m.body,
        m.direction === "out" && m.status === "failed" ? el("span", { class: "failed" }, ` · ${T.words.not_delivered}`) : null))),
      el("form", { class: "row", id: "reply", onsubmit: send }, input, el("button", { type: "submit" }, T.words.reply)),
    );
  }

  async function renderNearby() {
    const list = document.getElementById("nearby-list");
    if (!current || current.incident_id || !current.location) { nearbyPanel.hidden = true; return; }
    const type = document.getElementById("type").value;
    const found = await api("GET", `/calls/${current.id}/nearby?type=${encodeURIComponent(type)}`).catch(() => []);
    nearbyPanel.hidden = false;
    clear(list, found.length ? found.map((i) => el("div", { class: "row nearby", dataset: { incident: i.number } },
      WR.prio(i.priority), el("b", {}, i.number), T.types[i.type] || i.type, i.address || "",
      el("span", { class: "muted" }, `${Math.round(i.distance_m)} m · ${Math.round(i.minutes_ago)} ${T.words.min}`),
      el("button", { type: "button", class: "link-incident", onclick: () => link(i.id, i.number) }, T.words.link),
    )) : el("p", { class: "muted" }, T.words.no_nearby));
  }

  async function act(fn, message) {
    try {
      const result = await fn();
      WR.flash(flashBox, typeof message === "function" ? message(result) : message);
      await refresh();
      if (current) await open(current.id, true);
    }
    catch (error) { WR.flash(flashBox, error.message, true); }
  }

  function link(incidentId, number) {
    act(() => api("POST", `/calls/${current.id}/link`, { incident_id: incidentId }), `${T.words.call_linked}: ${number}`);
  }

  document.getElementById("answer").addEventListener("click", () => act(() => api("POST", `/calls/${current.id}/answer`), T.call_state.answered));
  document.getElementById("prank").addEventListener("click", () => act(() => api("POST", `/calls/${current.id}/disposition`, { disposition: "prank" }), T.words.marked_prank));
  document.getElementById("type").addEventListener("change", renderNearby);

  function setPin(lat, lon, source) {
    pin = { lat, lon, source };
    if (!pinMarker) pinMarker = L.marker([lat, lon], { draggable: true }).addTo(map).on("dragend", (e) => {
      const p = e.target.getLatLng(); pin = { lat: p.lat, lon: p.lng, source: "manual" };
    });
    pinMarker.setLatLng([lat, lon]);
  }
  map.on("click", (e) => { if (current && !current.incident_id) setPin(e.latlng.lat, e.latlng.lng, "manual"); });

  addressInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const q = addressInput.value.trim();
    if (q.length < 2) { results.hidden = true; return; }
    searchTimer = setTimeout(async () => {
      const found = await api("GET", `/places?q=${encodeURIComponent(q)}&limit=8`).catch(() => []);
      clear(results, found.map((p) => el("li", { onclick: () => {
        addressInput.value = p.name; results.hidden = true; setPin(p.lat, p.lon, "geocoded"); WR.fit(map, [[p.lat, p.lon]]);
      } }, p.name, " ", el("span", { class: "muted" }, (p.label && p.label[WR.cfg.lang]) || p.kind))));
      results.hidden = !found.length;
    }, 200);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { type: data.get("type"), priority: Number(data.get("priority")), call_id: current.id };
    const address = String(data.get("address") || "").trim();
    const description = String(data.get("description") || "").trim();
    if (address) body.address = address;
    if (description) body.description = description;
    if (pin) body.location = { lat: pin.lat, lon: pin.lon, source: pin.source };
    act(() => api("POST", "/incidents", body), (incident) => `${T.words.incident_created}: ${incident.number}`);
  });

  const intakeFailures = WR.intakeFailures(document.getElementById("intake-failures"));
  WR.live({
    intake_failure: () => { intakeFailures(); return true; },
    unit: () => true, route: () => true, congestion: () => true, assignment: () => true,
    message: (data) => { if (current && data.call_id === current.id) renderConversation(); return false; },
    incident: () => { renderNearby(); return true; },
  }, refresh);
  refresh();
})();
