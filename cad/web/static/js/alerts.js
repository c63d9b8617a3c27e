// Alerts every dispatcher sees until someone acts (issue 16): a red banner per open alert (an urgent
// incident nobody has sent a unit to, with its level; a crew that has not acknowledged), a beep that
// repeats while any is open (Web Audio, no sound file), a mute toggle, "Acknowledge", and for an
// overdue acknowledgement one click that sends the next unit (a unit taken meanwhile: the next
// recommendation is offered instead). The list comes from GET /alerts; the console hands over its
// `alert` events (`heard`) and its refreshes (`refresh`: on connecting, on assignments …).
// Mute silences the alerts open now: an alert or a level not yet heard sounds again.
"use strict";

WR.alerts = (box) => {
  const { el, clear, api } = WR;
  const A = WR.L.alerts, T = WR.L;
  const BEEP_EVERY_MS = 2500;
  let open = [], asked = 0, audio = null, beeping = null;
  let muted = null;  // the alerts (id and level) heard when muted, or null
  const offers = new Map(), taken = new Map();  // alert id → the unit offered after one was taken meanwhile, and that one
  const list = el("div", { id: "alert-list" }), note = el("div", { id: "alert-note" });
  const mute = el("button", { type: "button", class: "small quiet", id: "alert-mute", onclick: toggleMute });
  const blocked = el("span", { class: "muted", id: "alert-sound-blocked" }, A.sound_blocked);
  const bar = el("p", { class: "alert-bar", hidden: true }, mute, " ", blocked);
  box.append(bar, note, list);
  // browsers start sound only after the page was touched: the first click or key lets it out
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, () => { if (audio && audio.state === "suspended") audio.resume().catch(() => {}); });
  }

  const key = (a) => `${a.id}:${a.level}`;
  function eta(s) {
    s = Math.max(0, Math.round(s || 0));
    return A.eta.replace("{m}", String(Math.floor(s / 60))).replace("{s}", String(s % 60));
  }

  function offerOf(a) {
    if (offers.has(a.id)) return offers.get(a.id);
    return a.next_unit_id ? { unit_id: a.next_unit_id, callsign: a.next_callsign, eta_s: a.next_eta_s } : null;
  }

  function banner(a) {
    const what = a.kind === "unassigned" ? A.unassigned : `${a.callsign} ${T.words.ack_overdue}`;
    const offer = a.kind === "ack_overdue" ? offerOf(a) : null;
    return el("div", { class: `alert-banner level-${Math.min(a.level, 3)}`, role: "alert", dataset: { alert: a.id, level: String(a.level) } },
      el("p", {},
        el("b", {}, a.incident_number), " ", WR.prio(a.priority), " ", T.types[a.incident_type] || a.incident_type, " — ", what,
        " · ", A.waiting, " ", el("span", { class: "timer", dataset: { since: a.since } }, WR.duration(WR.seconds(a.since))),
        a.kind === "unassigned" ? ` · ${A.level} ${a.level}` : ""),
      taken.has(a.id) ? el("p", { class: "alert-note" }, `${taken.get(a.id)} ${A.taken}`) : null,
      el("p", { class: "alert-actions" },
        a.kind === "ack_overdue"
          ? (offer
            ? el("button", { type: "button", class: "ok send-next", dataset: { unit: offer.callsign }, onclick: (e) => sendNext(a, offer, e.target) },
              `${A.send_next}: ${offer.callsign} (${eta(offer.eta_s)})`)
            : el("span", {}, T.words.no_units))
          : null,
        " ",
        el("button", { type: "button", class: "acknowledge", onclick: (e) => acknowledge(a, e.target) }, A.acknowledge)));
  }

  function render() {
    clear(list, open.map(banner));
    if (muted && open.some((a) => !muted.has(key(a)))) muted = null;  // something new: sound again
    bar.hidden = open.length === 0;
    mute.textContent = muted ? A.unmute : A.mute;
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
    sound();
    showBlocked();
  }

  function showBlocked() {
    blocked.hidden = !(audio && audio.state === "suspended") || !!muted;
  }

  function beep() {
    if (WR.sound.isMuted()) return;  // the page's own mute (shown in red) silences alarms too
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) {
      audio = new Context();
      audio.onstatechange = showBlocked;
    }
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const level = Math.min(3, Math.max(1, ...open.map((a) => a.level)));  // one tone per level, up to three
    for (let i = 0; i < level; i += 1) {
      const tone = audio.createOscillator(), gain = audio.createGain();
      tone.type = "square";
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      const at = audio.currentTime + i * 0.25;
      tone.start(at);
      tone.stop(at + 0.15);
    }
  }

  function sound() {
    const wanted = open.length > 0 && !muted;
    if (wanted && !beeping) { beep(); beeping = setInterval(beep, BEEP_EVERY_MS); }
    else if (!wanted && beeping) { clearInterval(beeping); beeping = null; }
  }

  function toggleMute() {
    muted = muted ? null : new Set(open.map(key));
    render();
  }

  async function refresh() {
    const mine = ++asked;
    let alerts;
    try { alerts = await api("GET", "/alerts"); } catch (error) { return; }
    if (mine !== asked) return;  // a later answer is on its way
    open = alerts;
    for (const id of [...offers.keys()]) if (!open.some((a) => a.id === id)) { offers.delete(id); taken.delete(id); }
    render();
  }

  function drop(id) {
    open = open.filter((a) => a.id !== id);
    render();
  }

  async function acknowledge(a, button) {
    if (button) button.disabled = true;
    try { await api("POST", `/alerts/${a.id}/acknowledge`); }
    catch (error) { if (error.status !== 409) { if (button) button.disabled = false; WR.flash(note, error.message, true); return; } }
    drop(a.id);  // 409: another dispatcher was first, or it ended meanwhile
    refresh();
  }

  async function sendNext(a, offer, button) {
    button.disabled = true;
    try {
      await api("POST", `/incidents/${a.incident_id}/assignments`, { unit_id: offer.unit_id });
    } catch (error) {
      if (error.status !== 409) { button.disabled = false; WR.flash(note, error.message, true); return; }
      let next = null;  // taken meanwhile: offer the best unit still available
      try { next = (await api("GET", `/incidents/${a.incident_id}/recommendations?limit=1`)).recommendations[0] || null; } catch (e) { next = null; }
      offers.set(a.id, next && { unit_id: next.unit_id, callsign: next.callsign, eta_s: next.eta_s });
      taken.set(a.id, offer.callsign);
      render();
      return;
    }
    await acknowledge(a, null);
  }

  // An `alert` event: new or higher ones are fetched (with their offer), acknowledged ones go at once.
  // True when the console has nothing else to do for it (other kinds change its board too).
  function heard(data) {
    if (data.kind === "acknowledged") { drop(data.id); return true; }
    refresh();
    return data.kind === "unassigned";
  }

  WR.loaded(refresh());
  return { heard, refresh };
};
