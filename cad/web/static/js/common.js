// War Room 112: what every console shares. Plain JS, no build step.
// Text from the centre (names, SMS bodies, notes) only ever goes into the page as text nodes:
// `el()` sets textContent, never innerHTML.
"use strict";

const WR = (() => {
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const L_ = cfg.labels;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // <body data-loaded> once the page's first looks at the centre (each registered with `loaded()`
  // while the scripts run) have answered or failed: tests wait on it, never on time.
  const firsts = [];
  function loaded(first) {
    firsts.push(Promise.resolve(first).catch(() => {}));
    return first;
  }
  document.addEventListener("DOMContentLoaded", () => {
    Promise.all(firsts).then(() => { document.body.dataset.loaded = "true"; });
  });

  function clear(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  // A refusal in the page's language: the server's words in English, else what the code means and
  // the field, with the names in the server's words (callsigns, incident numbers) kept.
  function errorText(status, detail) {
    if (cfg.lang === "en") return detail.message || String(status);
    const E = L_.errors, code = detail.code || "";
    const meaning = E[code] || (status === 401 ? E.unauthorized : status === 403 ? E.forbidden : status === 404 ? E.not_found
      : status === 409 ? E.conflict : status === 429 ? E.rate_limited : status >= 500 ? E.server : E.invalid);
    const field = detail.field && L_.fields[detail.field.split(".")[0]];
    const names = [...new Set(String(detail.message || "").match(/\b[A-Z]{2,5}-\d[\d-]*\b/g) || [])];
    return `${meaning}${field ? ` (${field})` : ""}${names.length ? `: ${names.join(", ")}` : ""}`;
  }

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = cfg.csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(cfg.api + path, options);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const detail = data && data.error ? data.error : { code: "", message: response.statusText, field: null };
      const error = new Error(errorText(response.status, detail));
      error.status = response.status;
      error.field = data && data.error ? data.error.field : null;
      throw error;
    }
    return data;
  }

  const timeFormat = new Intl.DateTimeFormat(cfg.lang === "en" ? "en-GB" : "id-ID", {
    timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", hour12: false,
  });
  function time(iso) {
    if (!iso) return "—";
    return timeFormat.format(new Date(iso)).replace(".", ":") + " " + cfg.zone;
  }
  function seconds(iso) {
    return Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  }
  function duration(s) {
    s = Math.max(0, Math.round(s));
    const m = Math.floor(s / 60), r = s % 60;
    return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(r).padStart(2, "0")}`
      : `${m}:${String(r).padStart(2, "0")}`;
  }
  function minutes(s) { return `${Math.max(1, Math.round(s / 60))} ${L_.words.min}`; }
  // An arrival time to the second: "3 mnt 20 dtk" / "3 min 20 s".
  function eta(s) {
    s = Math.max(0, Math.round(s));
    return L_.words.eta.replace("{m}", String(Math.floor(s / 60))).replace("{s}", String(s % 60));
  }

  // Sound without files (Web Audio): one context per page, and a mute the operator can see. A
  // browser lets a page sound only after a click or key on it; until then tones wait silently.
  const sound = (() => {
    let context = null;
    let muted = localStorage.getItem("wr.muted") === "1";
    const watchers = [];
    function ready() {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      context = context || new Context();
      if (context.state === "suspended") context.resume().catch(() => {});
      return context;
    }
    // `tones`: [hertz, start s, length s] each; nothing when muted. True when it played.
    function play(tones) {
      if (muted) return false;
      const audio = ready();
      if (!audio) return false;
      for (const [hertz, start, length] of tones) {
        const tone = audio.createOscillator(), gain = audio.createGain();
        tone.type = "square";
        tone.frequency.value = hertz;
        gain.gain.value = 0.2;
        tone.connect(gain).connect(audio.destination);
        tone.start(audio.currentTime + start);
        tone.stop(audio.currentTime + start + length);
      }
      return true;
    }
    function setMuted(value) {
      muted = value;
      localStorage.setItem("wr.muted", muted ? "1" : "0");
      for (const watch of watchers) watch(muted);
    }
    // A button that shows and switches the page's sound (red while muted: never silent unnoticed).
    function toggle(button) {
      const show = () => {
        button.textContent = muted ? L_.words.sound_off : L_.words.sound_on;
        button.setAttribute("aria-pressed", muted ? "true" : "false");
        button.classList.toggle("danger", muted);
      };
      button.addEventListener("click", () => setMuted(!muted));
      watchers.push(show);
      show();
    }
    return { play, toggle, isMuted: () => muted, setMuted };
  })();
  // the chimes: a new P1 (rising), a new job for a crew (three short)
  const CHIMES = {
    new_p1: [[660, 0, 0.18], [880, 0.22, 0.18], [1100, 0.44, 0.3]],
    new_job: [[880, 0, 0.12], [880, 0.2, 0.12], [880, 0.4, 0.12]],
  };

  function flash(node, text, isError) {
    clear(node, el("p", { class: isError ? "error" : "notice", role: "status" }, text));
  }

  // One stream of changes; `handlers[kind](data)`; a debounced `refresh()` runs after any.
  function live(handlers, refresh) {
    const badge = document.getElementById("live");
    let timer = null;
    const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 150); };
    const source = new EventSource(cfg.api + "/events");
    source.onopen = () => { badge.hidden = false; badge.className = "live"; badge.textContent = L_.words.live; later(); };
    source.onerror = () => { badge.hidden = false; badge.className = "live down"; badge.textContent = L_.words.reconnecting; };
    // After a reconnect the browser sends Last-Event-ID and the centre replays what was missed,
    // with a few recent events again to be sure: each is handled once.
    const seen = new Set();
    const fresh = (id) => {
      if (!id || seen.has(id)) return !id;
      seen.add(id);
      if (seen.size > 5000) seen.delete(seen.values().next().value);
      return true;
    };
    source.addEventListener("resync", () => { if (refresh) later(); });  // too far behind: reload it all
    for (const kind of ["call", "incident", "unit", "assignment", "alert", "message", "congestion", "route", "intake_failure"]) {
      source.addEventListener(kind, (event) => {
        if (!fresh(event.lastEventId)) return;
        const data = JSON.parse(event.data);
        const handled = handlers[kind] ? handlers[kind](data) : false;
        if (handled !== true && refresh) later();
      });
    }
    return source;
  }

  // A map of the loaded extract's roads (no tile server needed); tiles only when configured.
  // The roads come as a light layer drawn for one zoom level (`roads`): the consoles' 16 keeps every
  // road to about a metre; a crew phone asks for ROADS_PHONE, a fraction of the bytes on a mobile
  // connection. Fetched once per page and level; the browser keeps it (ETag, max-age).
  const ROADS_CONSOLE = 16, ROADS_PHONE = 15, MAX_ZOOM = 19, FIT_ZOOM = 16;
  const roadsPromises = {};
  function map(id, options) {
    const level = (options && options.roads) || ROADS_CONSOLE;
    // maxZoom: without a tile layer Leaflet has none, and a fit to a box of no size (two incidents at
    // one address) asks for zoom Infinity, after which every view of the map is NaN
    const m = L.map(id, { preferCanvas: true, zoomControl: false, maxZoom: MAX_ZOOM });
    L.control.zoom({ zoomInTitle: L_.words.zoom_in, zoomOutTitle: L_.words.zoom_out }).addTo(m);
    m.attributionControl.setPrefix(false);
    m.attributionControl.addAttribution("© OpenStreetMap contributors");
    if (cfg.tiles) L.tileLayer(cfg.tiles, { maxZoom: 19 }).addTo(m);
    m.setView([0, 0], 2);
    roadsPromises[level] = roadsPromises[level] || api("GET", `/roads/geojson?zoom=${level}`).catch(() => null);
    loaded(roadsPromises[level]).then((roads) => {
      if (!roads || !roads.features || !roads.features.length) return;
      const layer = L.geoJSON(roads, {
        style: (f) => ({ color: f.properties.major ? "#8a8f98" : "#b9bec6", weight: f.properties.major ? 3 : 1.5, interactive: false }),
      }).addTo(m);
      layer.bringToBack();
      if (!m._wrFitted) moveMap(m, () => { if (!m._wrFitted) m.fitBounds(layer.getBounds()); });
    });
    if (level === ROADS_CONSOLE) streetNames(m);
    return m;
  }

  // Street names along the roads from zoom 15 (the extract's own names, no tiles): the labels in
  // view, main roads first, at most LABELS_MAX so the map stays readable.
  const LABELS_ZOOM = 15, LABELS_MAX = 80;
  let labelsPromise = null;
  function streetNames(m) {
    const layer = L.layerGroup().addTo(m);
    labelsPromise = labelsPromise || api("GET", "/roads/labels").catch(() => null);
    const draw = (labels) => {
      layer.clearLayers();
      if (!labels || m.getZoom() < LABELS_ZOOM) return;
      const view = m.getBounds().pad(0.1);
      const shown = labels.features.filter((f) => view.contains([f.geometry.coordinates[1], f.geometry.coordinates[0]]))
        .sort((a, b) => Number(b.properties.major) - Number(a.properties.major)).slice(0, LABELS_MAX);
      for (const f of shown) {
        const text = el("span", { class: `street-label${f.properties.major ? " major" : ""}` }, f.properties.name);
        text.style.transform = `translate(-50%, -50%) rotate(${f.properties.angle}deg)`;
        L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
          icon: L.divIcon({ html: text, className: "street-label-icon", iconSize: null }), interactive: false, keyboard: false,
        }).addTo(layer);
      }
    };
    m.on("zoomend moveend", () => labelsPromise.then(draw));
    labelsPromise.then(draw);
  }
  // Leaflet 1.9 drops a setView/fitBounds asked for while a zoom animation runs (`_tryAnimatedZoom`
  // answers "done" and the animation's end puts the map back where that zoom was going): a dispatcher
  // who selects an incident while the map still zooms would be left looking elsewhere. Every view
  // change goes through here: now, or once the running zoom has ended.
  function moveMap(m, move) {
    if (m._animatingZoom) m.once("zoomend", () => moveMap(m, move));
    else move();
  }
  // The view on a few places: one place, or several at one spot (two calls about one fire), at street
  // level; several, all in view, never closer than that.
  function fit(m, latlngs) {
    if (!latlngs.length) return;
    m._wrFitted = true;
    const box = L.latLngBounds(latlngs);
    moveMap(m, () => {
      if (box.getNorthEast().equals(box.getSouthWest())) m.setView(box.getCenter(), FIT_ZOOM);
      else m.fitBounds(box.pad(0.2), { maxZoom: FIT_ZOOM });
    });
  }

  const PRIORITY_COLOURS = { 1: "#d7263d", 2: "#f46036", 3: "#e2b714", 4: "#2e86ab" };
  const STATUS_COLOURS = {
    available: "#17752f", assigned: "#b45309", acknowledged: "#7c3aed", en_route: "#2457c5", on_scene: "#d7263d",
    transporting: "#0e7490", at_hospital: "#0e7490", out_of_service: "#6b7280",
  };
  const CONGESTION_COLOURS = { free: "#17752f", slow: "#e2b714", heavy: "#f46036", jam: "#d7263d", closed: "#111111" };

  // Calls the intake took but could not record: an alert on the call-taker's and dispatcher's
  // consoles ("a call could not be recorded: number, time") until someone marks it handled or
  // `warroom sip redeliver` delivers it. Returns the function that refreshes it.
  function intakeFailures(box) {
    async function refresh() {
      let failures = [];
      try { failures = await api("GET", "/intake-failures"); } catch (error) { return; }
      clear(box, failures.map((f) => el("p", { class: "error intake-failure", role: "alert", dataset: { failure: String(f.id) } },
        `${L_.words.intake_failed}: ${f.phone || L_.words.unknown_caller}, ${time(f.received_at || f.reported_at)} `,
        el("button", { type: "button", class: "small", onclick: async () => {
          try { await api("POST", `/intake-failures/${f.id}/resolve`); } finally { refresh(); }
        } }, L_.words.intake_resolve),
      )));
    }
    loaded(refresh());
    return refresh;
  }

  function prio(p) { return el("span", { class: `prio prio-${p}` }, `P${p}`); }
  function badge(kind, value, labels) { return el("span", { class: `badge st-${value}` }, (labels || {})[value] || value); }

  return { cfg, L: L_, el, clear, loaded, api, time, seconds, duration, minutes, eta, flash, live, map, fit, moveMap, prio, badge, intakeFailures, ROADS_PHONE, sound, CHIMES,
    PRIORITY_COLOURS, STATUS_COLOURS, CONGESTION_COLOURS };
})();
