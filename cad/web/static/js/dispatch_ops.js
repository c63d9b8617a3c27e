// Dispatcher: what a shift does to an incident after sending units — correct it, close it with its
// outcome, merge a duplicate, take a unit back, take a unit from a less urgent incident.
"use strict";

WR.dispatchOps = (() => {
  const { el, clear, api, L: T } = WR;
  const OPEN = ["new", "dispatched", "on_scene"];

  function field(label, control) { return el("label", { class: "field" }, label, " ", control); }

  function metres(a, b) {
    if (!a || !b) return Infinity;
    const k = Math.PI / 180, x = (b.lon - a.lon) * k * Math.cos(((a.lat + b.lat) / 2) * k), y = (b.lat - a.lat) * k;
    return Math.sqrt(x * x + y * y) * 6371000;
  }

  // A button that asks once more on the page itself (no browser dialog): the first click puts the
  // question in its place as a second button, and that one does it.
  function confirmed(button, question, act) {
    const holder = el("span", { class: "confirm" }, button);
    button.addEventListener("click", () => {
      const sure = el("button", { class: "danger confirm-yes", dataset: button.dataset }, question);
      sure.addEventListener("click", () => act(sure));
      clear(holder, sure);
      sure.focus();
    });
    return holder;
  }

  function editForm(incident, run) {
    const type = el("select", { id: "edit-type", name: "type" },
      Object.entries(T.types).map(([value, label]) => el("option", { value, selected: value === incident.type }, label)));
    const priority = el("select", { id: "edit-priority", name: "priority" },
      [1, 2, 3, 4].map((p) => el("option", { value: String(p), selected: p === incident.priority }, `P${p}`)));
    const address = el("input", { id: "edit-address", name: "address", value: incident.address || "", maxlength: "255" });
    const description = el("textarea", { id: "edit-description", name: "description", rows: "2", maxlength: "4000" }, incident.description || "");
    const submit = el("button", { type: "submit", class: "ok" }, T.words.save);
    return el("form", {
      id: "edit-form", class: "panel",
      onsubmit: (e) => {
        e.preventDefault();
        const body = { version: incident.version };
        if (type.value !== incident.type) body.type = type.value;
        if (Number(priority.value) !== incident.priority) body.priority = Number(priority.value);
        if (address.value.trim() !== (incident.address || "")) body.address = address.value.trim() || null;
        if (description.value.trim() !== (incident.description || "")) body.description = description.value.trim() || null;
        if (Object.keys(body).length === 1) return;
        run(submit, () => api("PATCH", `/incidents/${incident.id}`, body));
      },
    }, field(T.words.type, type), field(T.words.priority, priority), field(T.words.address, address),
       field(T.words.description, description), submit);
  }

  function closeForm(incident, committed, run) {
    const outcome = el("select", { id: "close-disposition", name: "disposition", required: true },
      el("option", { value: "" }, T.words.choose_disposition),
      Object.entries(T.dispositions).filter(([v]) => v !== "ganda").map(([value, label]) => el("option", { value }, label)));
    const reason = el("input", { id: "close-reason", name: "reason", maxlength: "500" });
    const release = committed.length ? el("input", { type: "checkbox", id: "close-release", name: "release_units", required: true }) : null;
    const submit = el("button", { type: "submit", class: "ok", id: "close-submit" }, T.words.close);
    return el("form", {
      id: "close-form", class: "panel",
      onsubmit: (e) => {
        e.preventDefault();
        const body = { status: "closed", disposition: outcome.value, release_units: Boolean(release && release.checked) };
        if (reason.value.trim()) body.reason = reason.value.trim();
        run(submit, () => api("POST", `/incidents/${incident.id}/status`, body));
      },
    }, field(T.words.disposition, outcome), field(T.words.reason, reason),
       release ? el("label", { class: "field warn" }, release, " ", `${T.words.release_units}: ${committed.map((a) => a.callsign).join(", ")}`) : null,
       submit);
  }

  function mergeForm(incident, incidents, run) {
    const others = incidents.filter((i) => i.id !== incident.id && OPEN.includes(i.status))
      .map((i) => [i, metres(incident.location, i.location)]).sort((a, b) => a[1] - b[1]);
    if (!others.length) return el("p", { class: "muted" }, T.words.no_other_incident);
    const into = el("select", { id: "merge-into", name: "into", required: true },
      el("option", { value: "" }, T.words.merge_into),
      others.map(([i, d]) => el("option", { value: String(i.id) },
        `${i.number} · P${i.priority} ${T.types[i.type] || i.type} · ${i.address || ""}${Number.isFinite(d) ? ` · ${Math.round(d)} m` : ""}`)));
    const submit = el("button", { type: "submit", class: "ok", id: "merge-submit" }, T.words.merge);
    return el("form", {
      id: "merge-form", class: "panel",
      onsubmit: (e) => {
        e.preventDefault();
        run(submit, () => api("POST", `/incidents/${incident.id}/merge`, { into: Number(into.value) }));
      },
    }, el("p", { class: "muted" }, T.words.merge_help), field(T.words.merge_into, into), submit);
  }

  function releaseForm(incident, assignment, run) {
    const reason = el("input", { id: "release-reason", name: "reason", required: true, maxlength: "500" });
    const home = el("input", { type: "checkbox", id: "release-home", name: "return_to_station" });
    const submit = el("button", { type: "submit", class: "ok", id: "release-submit" }, `${T.words.release} ${assignment.callsign}`);
    return el("form", {
      id: "release-form", class: "panel",
      onsubmit: (e) => {
        e.preventDefault();
        run(submit, () => api("POST", `/incidents/${incident.id}/assignments/${assignment.unit_id}/release`,
          { reason: reason.value.trim(), return_to_station: home.checked }));
      },
    }, field(T.words.reason, reason), el("label", { class: "field" }, home, " ", T.words.return_to_station), submit);
  }

  async function preemptList(incident, show, run, fail) {
    let found;
    try { found = await api("GET", `/incidents/${incident.id}/preemptable`); }
    catch (error) { fail(error); return; }
    if (!found.length) { show(el("p", { class: "muted", id: "preempt-none" }, T.words.preempt_none)); return; }
    show(el("table", { class: "grid", id: "preempt-list" }, el("tbody", {}, found.map((p) => el("tr", { dataset: { unit: p.callsign } },
      el("td", {}, el("b", {}, p.callsign), el("br"), el("span", { class: "muted" }, T.unit_status[p.status] || p.status)),
      el("td", {}, WR.eta(p.eta_s)),
      el("td", {}, `${p.incident_number} (P${p.incident_priority})`),
      el("td", {}, confirmed(
        el("button", { class: "danger preempt", dataset: { unit: p.callsign } }, T.words.preempt_take),
        T.words.preempt_confirm.replace("{unit}", p.callsign).replace("{from}", p.incident_number).replace("{to}", incident.number),
        (button) => run(button, () => api("POST", `/incidents/${incident.id}/assignments`, { unit_id: p.unit_id, preempt: true })),
      )),
    )))));
  }

  // The actions for `incident`; `done()` after a change succeeded, `fail(error)` to show a refusal.
  function panel(incident, incidents, done, fail) {
    if (!OPEN.includes(incident.status)) return null;
    const box = el("div", { id: "action-form" });
    const committed = incident.assignments.filter((a) => a.active);
    const show = (node) => clear(box, node);
    const run = async (button, fn) => {
      button.disabled = true;
      try { await fn(); clear(box); await done(); }
      catch (error) { button.disabled = false; fail(error); }
    };
    return el("div", { class: "ops" },
      el("p", { class: "row actions" },
        el("button", { class: "quiet", id: "edit-incident", onclick: () => show(editForm(incident, run)) }, T.words.edit),
        el("button", { class: "quiet", id: "close-incident", onclick: () => show(closeForm(incident, committed, run)) }, T.words.close),
        el("button", { class: "quiet", id: "merge-incident", onclick: () => show(mergeForm(incident, incidents, run)) }, T.words.merge),
        el("button", { class: "quiet", id: "preempt-unit", onclick: () => preemptList(incident, show, run, fail) }, T.words.preempt),
        incident.status !== "on_scene" ? confirmed(
          el("button", { class: "danger", id: "cancel-incident" }, T.words.cancel), T.words.cancel_confirm,
          (button) => run(button, () => api("POST", `/incidents/${incident.id}/status`, { status: "cancelled" })),
        ) : null,
      ),
      committed.length ? el("p", { class: "row" }, committed.map((a) => el("button", {
        class: "quiet release-unit", dataset: { unit: a.callsign }, onclick: () => show(releaseForm(incident, a, run)),
      }, `${T.words.release} ${a.callsign}`))) : null,
      box);
  }

  return { panel };
})();
