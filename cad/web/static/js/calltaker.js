// Call-taker console: ringing calls live, the caller's location and history, one form to open an
// incident, link the call to one nearby, or mark it a prank. Keyboard first: the whole call, from
// ring to created incident, without the mouse (the keys are on screen, in #keys, and in README
// "Consoles"). Keys never fire while the call-taker types in a text field: there only Esc,
// Ctrl+Enter and the arrows of the address suggestions do something.
"use strict";

(() => {
  const { el, clear, api, L: T } = WR;
  const callsTable = document.getElementById("calls");
  const callsBody = callsTable.querySelector("tbody");
  const flashBox = document.getElementById("flash");
  const callPanel = document.getElementById("call");
  const form = document.getElementById("incident-form");
  const typeSelect = document.getElementById("type");
  const nearbyPanel = document.getElementById("nearby");
  const addressInput = document.getElementById("address");
  const results = document.getElementById("address-results");
  const endButton = document.getElementById("end-call");
  const map = WR.map("map");
  const callLayer = L.layerGroup().addTo(map);
  // `pin`: the address's (or the map's) point; `place`: which point the incident gets, "caller" or "point"
  let calls = [], current = null, pin = null, pinMarker = null, searchTimer = null;
  let cursor = null, place = "caller", found = [], active = -1, searchSeq = 0, creating = false, openSeq = 0, shownId = null, wanted = null;
  callsTable.tabIndex = -1;  // Esc brings the focus back here: J/K/A/Enter work from the list

  function caller(c) { return c.phone === "anonymous" || !c.phone ? T.words.unknown_caller : c.phone; }
  function where(loc) {
    return `${sourceLabel(loc.source)} ${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}${loc.accuracy_m ? ` ±${Math.round(loc.accuracy_m)} m` : ""}`.trim();
  }

  function renderCalls() {
    if (cursor !== null && !calls.some((c) => c.id === cursor)) cursor = null;
    clear(callsBody, calls.map((c) => el("tr", {
      class: [c.state === "ringing" ? "ringing" : "", current && current.id === c.id ? "selected" : "", cursor === c.id ? "cursor" : ""].join(" "),
      dataset: { call: String(c.id), phone: c.phone || "", state: c.state }, onclick: () => open(c.id),
    },
      el("td", {}, WR.time(c.received_at), el("br"), el("span", { class: "muted" }, c.channel)),
      el("td", {}, el("b", {}, caller(c)), c.caller_name ? el("div", { class: "caller-name" }, c.caller_name) : null),
      el("td", {}, T.call_state[c.state] || c.state, c.incident_id ? " ✓" : ""),
    )));
  }

  async function refresh() {
    calls = await api("GET", "/calls?state=active&limit=50");
    renderCalls();
    if (current && wanted === current.id) {  // not while another call is being opened
      const fresh = calls.find((c) => c.id === current.id);
      if (fresh && (fresh.state !== current.state || fresh.incident_id !== current.incident_id || !sameLocation(fresh, current))) await open(current.id);
      // the open call left the active list (hung up, or cut off when its SIP agent died): show how it ended
      else if (!fresh && ["waiting", "ringing", "answered"].includes(current.state)) await open(current.id);
    }
  }

  function sameLocation(a, b) { return JSON.stringify(a.location) === JSON.stringify(b.location); }

  // Shows call `id`; the form starts afresh only when the call shown changes (never loses what was typed).
  async function open(id) {
    const seq = ++openSeq;
    wanted = id;
    if (!current || current.id !== id) clear(document.getElementById("conversation"));  // never the previous call's messages under this one
    const call = await api("GET", `/calls/${id}`);
    if (seq !== openSeq) return;  // another call was opened meanwhile
    const fresh = shownId !== call.id;
    current = call; shownId = call.id;
    if (fresh) cursor = current.id;  // a refresh of the same call leaves the cursor where the keys put it
    renderCalls();
    callPanel.hidden = false;
    clear(document.getElementById("call-title"), caller(current), current.caller_name ? ` · ${current.caller_name}` : "");
    const loc = current.location;
    clear(document.getElementById("call-info"),
      el("p", {}, T.call_state[current.state] || current.state, " · ", WR.time(current.received_at), " · ", current.channel),
      el("p", { id: "call-location" }, el("span", { class: "loc-caller" }, "● "), loc ? where(loc) : T.words.no_location),
      current.location_address ? el("p", {}, current.location_address) : null,
      current.location_ref ? el("p", { id: "call-location-ref" }, `${T.words.location_ref}: `,
        el("span", { class: "muted" }, current.location_ref)) : null,
    );
    renderHistory(current.caller_history);
    document.getElementById("answer").hidden = current.state !== "ringing";
    endButton.hidden = current.state !== "answered";
    document.getElementById("prank").hidden = !!current.incident_id || current.disposition === "prank";
    form.hidden = !!current.incident_id;
    if (fresh) {
      form.reset(); pin = null; closeResults();
      if (pinMarker) { pinMarker.remove(); pinMarker = null; }
      place = loc ? "caller" : "point";
    }
    renderPlace();
    callLayer.clearLayers();
    if (loc) {
      const ll = [loc.lat, loc.lon];
      if (loc.accuracy_m) L.circle(ll, { radius: loc.accuracy_m, color: "#d7263d", weight: 1, fillOpacity: 0.1 }).addTo(callLayer);
      L.circleMarker(ll, { radius: 9, color: "#fff", weight: 2, fillColor: "#d7263d", fillOpacity: 1 })
        .bindTooltip(el("span", {}, `${caller(current)} · ${T.words.caller_location}`)).addTo(callLayer);
      WR.fit(map, pin ? [ll, [pin.lat, pin.lon]] : [ll]);
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
    const callId = current.id;
    const messages = await api("GET", `/calls/${callId}/messages`).catch(() => []);
    if (!current || current.id !== callId) return;  // another call opened while these came
    const old = document.getElementById("reply-text");
    const draft = old && old.dataset.call === String(callId) ? old.value : "";  // a message arriving keeps the reply being typed
    const focused = old && document.activeElement === old;
    const input = el("input", { id: "reply-text", maxlength: "1000", "aria-label": T.words.reply, dataset: { call: String(callId) } });
    input.value = draft;
    const send = async (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      try { await api("POST", `/calls/${callId}/messages`, { body }); input.value = ""; await renderConversation(); }
      catch (error) { WR.flash(flashBox, error.message, true); }
    };
    clear(box,
      el("div", { class: "chat", id: "chat" }, messages.map((m) => el("p", { class: m.direction, dataset: { status: m.status } }, m.body,
        m.direction === "out" && m.status === "failed" ? el("span", { class: "failed" }, ` · ${T.words.not_delivered}`) : null))),
      el("form", { class: "row", id: "reply", onsubmit: send }, input, el("button", { type: "submit" }, T.words.reply)),
    );
    if (focused) input.focus();
  }

  async function renderNearby() {
    const list = document.getElementById("nearby-list");
    if (!current || current.incident_id || !current.location) { nearbyPanel.hidden = true; return; }
    const callId = current.id;
    const type = typeSelect.value;  // none chosen yet: every type
    const near = await api("GET", `/calls/${callId}/nearby${type ? `?type=${encodeURIComponent(type)}` : ""}`).catch(() => []);
    if (!current || current.id !== callId) return;
    nearbyPanel.hidden = false;
    clear(list, near.length ? near.map((i) => el("div", { class: "row nearby", dataset: { incident: i.number } },
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
      if (current && wanted === current.id) await open(current.id);  // unless another call is being opened
      return result;
    }
    catch (error) { WR.flash(flashBox, error.message, true); return null; }
  }

  function link(incidentId, number) {
    act(() => api("POST", `/calls/${current.id}/link`, { incident_id: incidentId }), `${T.words.call_linked}: ${number}`);
  }

  // --- answer, end ------------------------------------------------------------------------------
  // A: the call under the cursor if it rings, else the open one if it rings, else the one ringing longest.
  async function answerKey() {
    const ringing = (c) => c && c.state === "ringing";
    const target = [calls.find((c) => c.id === cursor), current, [...calls].reverse().find(ringing)].find(ringing);
    if (!target) { WR.flash(flashBox, T.words.nothing_ringing, true); return; }
    if (!current || current.id !== target.id) await open(target.id);
    if (!form.hidden) typeSelect.focus();  // the next key chooses the type
    await act(() => api("POST", `/calls/${target.id}/answer`), T.call_state.answered);
  }

  function endKey() {
    if (!current || current.state !== "answered") return;
    act(() => api("POST", `/calls/${current.id}/end`), T.words.call_ended);
  }

  document.getElementById("answer").addEventListener("click", answerKey);
  endButton.addEventListener("click", endKey);
  document.getElementById("prank").addEventListener("click", () => act(() => api("POST", `/calls/${current.id}/disposition`, { disposition: "prank" }), T.words.marked_prank));
  typeSelect.addEventListener("change", renderNearby);

  // --- where the incident goes: the caller's precise location or the address's point, both shown --
  function renderPlace() {
    const loc = current && current.location;
    if (place === "caller" && !loc) place = "point";
    if (place === "point" && !pin && loc) place = "caller";
    const callerRadio = document.getElementById("place-caller"), pointRadio = document.getElementById("place-point");
    callerRadio.disabled = !loc; pointRadio.disabled = !pin;
    callerRadio.checked = place === "caller" && !!loc; pointRadio.checked = place === "point" && !!pin;
    clear(document.getElementById("place-caller-text"), loc ? where(loc) : T.words.no_location);
    clear(document.getElementById("place-point-text"),
      pin ? `${pin.label ? `${pin.label} · ` : ""}${sourceLabel(pin.source)} ${pin.lat.toFixed(5)}, ${pin.lon.toFixed(5)}` : "—");
    form.dataset.place = place;
  }
  function togglePlace() {
    if (!current || !current.location || !pin) return;
    place = place === "caller" ? "point" : "caller";
    renderPlace();
  }
  for (const radio of form.querySelectorAll("input[name=place]")) radio.addEventListener("change", () => { place = radio.value; renderPlace(); });

  // where a location came from, as the call-taker reads it (never `pidf-lo` or `geocoded`)
  function sourceLabel(source) { return source ? T.location_sources[source] || source : ""; }

  function setPin(lat, lon, source, label) {
    pin = { lat, lon, source, label };
    if (!pinMarker) pinMarker = L.marker([lat, lon], { draggable: true, title: T.words.address_point }).addTo(map).on("dragend", (e) => {
      const p = e.target.getLatLng(); pin = { lat: p.lat, lon: p.lng, source: "manual" }; place = "point"; renderPlace();
    });
    pinMarker.setLatLng([lat, lon]);
    renderPlace();
  }
  // a click on the map is a choice of place; a chosen street is not (the caller's fix stays unless Alt+L)
  map.on("click", (e) => { if (current && !current.incident_id) { setPin(e.latlng.lat, e.latlng.lng, "manual"); place = "point"; renderPlace(); } });

  // --- address search: ↓/↑ through the suggestions, Enter takes the highlighted one, Esc closes ---
  function closeResults() { results.hidden = true; active = -1; addressInput.setAttribute("aria-expanded", "false"); }
  function highlight(i) {
    active = i;
    results.querySelectorAll("li").forEach((li, n) => { li.classList.toggle("active", n === i); li.setAttribute("aria-selected", String(n === i)); });
    const li = results.children[i];
    if (li) li.scrollIntoView({ block: "nearest" });
  }
  function take(i) {
    const p = found[i];
    if (!p) return;
    searchSeq += 1;  // a search still on its way must not reopen the list
    clearTimeout(searchTimer);
    addressInput.value = p.name; closeResults();
    setPin(p.lat, p.lon, "geocoded", p.name);
    WR.fit(map, current && current.location ? [[current.location.lat, current.location.lon], [p.lat, p.lon]] : [[p.lat, p.lon]]);
  }
  addressInput.setAttribute("role", "combobox");
  addressInput.setAttribute("aria-controls", "address-results");
  results.setAttribute("role", "listbox");
  addressInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const seq = ++searchSeq;
    const q = addressInput.value.trim();
    if (q.length < 2) { closeResults(); return; }
    searchTimer = setTimeout(async () => {
      const places = await api("GET", `/places?q=${encodeURIComponent(q)}&limit=8`).catch(() => []);
      if (seq !== searchSeq) return;
      found = places; active = -1;
      clear(results, places.map((p, i) => el("li", { role: "option", onclick: () => take(i) }, p.name, " ", el("span", { class: "muted" }, (p.label && p.label[WR.cfg.lang]) || p.kind))));
      results.hidden = !places.length;
      addressInput.setAttribute("aria-expanded", String(!!places.length));
    }, 200);
  });
  addressInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();  // never submits: takes the highlighted suggestion, if one is
      if (!results.hidden && active >= 0) take(active);
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && found.length && !event.altKey) {
      event.preventDefault();
      if (results.hidden) { results.hidden = false; highlight(0); return; }
      const n = found.length;
      highlight(event.key === "ArrowDown" ? Math.min(active + 1, n - 1) : Math.max(active - 1, 0));
    } else if (event.key === "Escape" && !results.hidden) {
      event.preventDefault(); event.stopPropagation(); closeResults();
    }
  });

  // --- type and priority by digit (or the type's first letter) --------------------------------------
  // Enter on the type or the priority goes on to the next field (never opens the list, never submits)
  const checkedPriority = () => form.querySelector("input[name=priority]:checked") || form.querySelector("input[name=priority]");
  typeSelect.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) { event.preventDefault(); checkedPriority().focus(); return; }
    if (event.ctrlKey || event.altKey || event.metaKey || event.key.length !== 1) return;
    const options = [...typeSelect.options].filter((o) => o.value);
    let pick = options.find((o) => o.dataset.key === event.key);
    if (!pick && /\p{L}/u.test(event.key)) {  // a letter: the next type starting with it
      const name = (o) => o.textContent.replace(/^\d+\s*·\s*/, "").trim().toLowerCase();
      const matching = options.filter((o) => name(o).startsWith(event.key.toLowerCase()));
      pick = matching[(matching.indexOf(typeSelect.selectedOptions[0]) + 1) % (matching.length || 1)];
    }
    event.preventDefault();
    if (!pick || pick.selected) return;
    typeSelect.value = pick.value;
    typeSelect.dispatchEvent(new Event("change"));
  });
  document.getElementById("priority").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) { event.preventDefault(); addressInput.focus(); return; }
    const radio = form.querySelector(`input[name=priority][value='${event.key}']`);
    if (!radio || event.ctrlKey || event.altKey || event.metaKey) return;
    event.preventDefault();
    radio.checked = true; radio.focus();
  });

  // --- the form: Enter never submits it; Ctrl+Enter or the button does, only when complete -------
  form.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && t.tagName === "INPUT") event.preventDefault();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); createIncident(); });

  function refuse(message, field) {
    WR.flash(flashBox, message, true);
    if (field) field.focus();
  }

  async function createIncident() {
    if (!current || current.incident_id || form.hidden || creating) return;
    const data = new FormData(form);
    const type = String(data.get("type") || "");
    if (!type) { refuse(T.words.choose_type, typeSelect); return; }
    const priority = Number(data.get("priority"));
    if (!priority) { refuse(T.words.choose_priority, form.querySelector("input[name=priority]")); return; }
    const address = String(data.get("address") || "").trim();
    const description = String(data.get("description") || "").trim();
    if (!current.location && !pin && !address) { refuse(T.words.choose_place, addressInput); return; }
    const body = { type, priority, call_id: current.id };
    if (address) body.address = address;
    if (description) body.description = description;
    // "caller": the centre copies the call's own fix (pidf-lo/aml, its accuracy and time)
    if (place === "point" && pin) body.location = { lat: pin.lat, lon: pin.lon, source: pin.source };
    creating = true;
    try {
      const made = await act(() => api("POST", "/incidents", body), (incident) =>
        `${T.words.incident_created}: ${incident.number} · ${T.words.placed_at}: ${incident.location ? sourceLabel(incident.location.source) : T.words.no_location}`);
      if (made) callsTable.focus();  // back to the list: A takes the next call
    } finally { creating = false; }
  }

  // --- the console's keys ----------------------------------------------------------------------------
  function typing(t) {
    if (!t || !t.tagName) return false;
    if (t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable) return true;
    return t.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(t.type);
  }
  function moveCursor(step) {
    if (!calls.length) return;
    const at = calls.findIndex((c) => c.id === cursor);
    const next = at < 0 ? 0 : Math.max(0, Math.min(calls.length - 1, at + step));
    cursor = calls[next].id;
    renderCalls();
    const row = callsBody.querySelector(`tr[data-call='${cursor}']`);
    if (row) row.scrollIntoView({ block: "nearest" });
  }
  function focusForm() {
    if (form.hidden) return;
    typeSelect.focus();
    form.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); createIncident(); return; }
    if (event.key === "F2" || (event.altKey && (event.key === "n" || event.key === "N"))) { event.preventDefault(); focusForm(); return; }
    if (event.altKey && (event.key === "l" || event.key === "L")) { event.preventDefault(); togglePlace(); return; }
    if (event.key === "Escape") { if (t && t.blur) t.blur(); callsTable.focus(); return; }
    if (typing(t) || event.ctrlKey || event.altKey || event.metaKey) return;
    const inList = t === document.body || t === callsTable || callsTable.contains(t);
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "j" || (inList && key === "ArrowDown")) { event.preventDefault(); moveCursor(1); }
    else if (key === "k" || (inList && key === "ArrowUp")) { event.preventDefault(); moveCursor(-1); }
    else if (key === "Enter" && inList && cursor !== null) { event.preventDefault(); open(cursor).then(focusForm); }
    else if (key === "a") { event.preventDefault(); answerKey(); }
    else if (key === "e") { event.preventDefault(); endKey(); }
    else if (key === "l") { event.preventDefault(); togglePlace(); }
  });

  const intakeFailures = WR.intakeFailures(document.getElementById("intake-failures"));
  WR.live({
    intake_failure: () => { intakeFailures(); return true; },
    unit: () => true, route: () => true, congestion: () => true, assignment: () => true,
    message: (data) => { if (current && data.call_id === current.id) renderConversation(); return false; },
    incident: () => { renderNearby(); return true; },
  }, refresh);
  WR.loaded(refresh());
})();
