// signoff reviewer pages: live updates, local times, and the details editor.
// Everything works without this file; it only adds what a browser can do better.
"use strict";

(function () {
  const announce = (text) => {
    const region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  };

  // -- times: "3 min ago", "5 h left", and absolute times in the reader's zone -------
  const span = (seconds) => {
    seconds = Math.abs(seconds);
    if (seconds < 60) return Math.floor(seconds) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    if (seconds < 48 * 3600) {
      const hours = Math.floor(seconds / 3600);
      const minutes = Math.floor((seconds % 3600) / 60);
      return hours < 10 && minutes ? hours + " h " + minutes + " min" : hours + " h";
    }
    return Math.floor(seconds / 86400) + " days";
  };
  const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  let flipTimer = null;
  const refreshTimes = (root) => {
    const now = Date.now();
    let nextFlip = Infinity;  // the soonest SLA or expiry still ahead: its text changes then
    for (const el of (root || document).querySelectorAll("time[data-rel]")) {
      const at = Date.parse(el.getAttribute("datetime") || "");
      if (Number.isNaN(at)) continue;
      const kind = el.dataset.rel;
      if (kind === "ago") el.textContent = span((now - at) / 1000) + " ago";
      else if (kind === "left") {
        el.textContent = at <= now ? "expired" : span((at - now) / 1000) + " left";
        el.classList.toggle("urgent", at - now < 3600 * 1000);
        if (at > now) nextFlip = Math.min(nextFlip, at);
      } else if (kind === "sla") {
        // A policy's SLA: "due in 12 min", then "overdue 12 min", clearly marked.
        const late = at <= now;
        el.textContent = (late ? "overdue " : "due in ") + span((at - now) / 1000);
        el.classList.toggle("overdue", late);
        const box = el.closest(".sla");
        if (box) box.classList.toggle("sla-overdue", late);
        if (!late) nextFlip = Math.min(nextFlip, at);
      } else if (kind === "abs" && !el.dataset.done) {
        el.title = el.textContent.trim();
        el.textContent = absolute.format(new Date(at));
        el.dataset.done = "1";
      }
    }
    const wait = nextFlip - now;
    if (wait < 60 * 1000 && (!flipTimer || !root)) {
      // Under a minute to go: the seconds count, and the flip shows when it happens.
      if (flipTimer) window.clearTimeout(flipTimer);
      flipTimer = window.setTimeout(() => { flipTimer = null; refreshTimes(); }, Math.min(wait, 1000) + 20);
    }
  };

  // -- live updates over server-sent events ----------------------------------------
  const parse = (text) => new DOMParser().parseFromString(text, "text/html");

  const refreshInbox = async (inbox) => {
    const response = await fetch(inbox.dataset.rowsUrl, { credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); return; }
    if (!response.ok) return;
    const fresh = parse(await response.text());
    const ids = (root) => new Set(root ? [...root.querySelectorAll("tr[data-id]")].map((tr) => tr.dataset.id) : []);
    // Two lists: "Waiting for you" and everything else; an approval may move between them.
    const lists = [["waiting-rows", "waiting-count"], ["rows", "count"]];
    const before = new Map(lists.map(([id]) => [id, ids(document.getElementById(id))]));
    const after = new Map(lists.map(([id]) => [id, ids(fresh.getElementById(id))]));
    const union = (sets) => new Set([...sets].flatMap((set) => [...set]));
    const seen = union(before.values());
    const now = union(after.values());
    let waitingNow = 0;
    for (const [rowsId, countId] of lists) {
      const rows = document.getElementById(rowsId);
      const newRows = fresh.getElementById(rowsId);
      if (!rows || !newRows) continue;
      for (const tr of newRows.querySelectorAll("tr[data-id]")) {
        if (!before.get(rowsId).has(tr.dataset.id)) {
          tr.classList.add("new");
          if (rowsId === "waiting-rows" && seen.has(tr.dataset.id)) waitingNow += 1;
        }
      }
      rows.replaceWith(newRows);
      const count = document.getElementById(countId);
      const newCount = fresh.getElementById(countId);
      if (count && newCount) count.replaceWith(newCount);
      refreshTimes(newRows);
    }
    const added = [...now].filter((id) => !seen.has(id)).length;
    const gone = [...seen].filter((id) => !now.has(id)).length;
    const parts = [];
    if (added) parts.push(added === 1 ? "1 new approval" : added + " new approvals");
    if (waitingNow) parts.push(waitingNow === 1 ? "1 approval is now waiting for you" : waitingNow + " approvals are now waiting for you");
    if (gone) parts.push(gone === 1 ? "1 approval left this list" : gone + " approvals left this list");
    if (parts.length) announce(parts.join(", ") + ".");
  };

  let deliveryTimer = null;
  const scheduleDeliveries = (review) => {
    if (deliveryTimer) window.clearTimeout(deliveryTimer);
    deliveryTimer = null;
    const section = document.getElementById("deliveries");
    const next = section && Date.parse(section.dataset.nextAttempt || "");
    if (!next || Number.isNaN(next)) return;
    const wait = Math.max(1000, next - Date.now() + 1000);
    // A retry is due at a known time: look again then, not on a fixed beat.
    if (wait < 15 * 60 * 1000) deliveryTimer = window.setTimeout(() => refreshReview(review), wait);
  };

  const refreshReview = async (review) => {
    const response = await fetch(review.dataset.liveUrl, { credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); return; }
    if (!response.ok) return;
    const fresh = parse(await response.text());
    for (const id of ["status-badge", "who-decides", "deliveries", "notifications", "trail"]) {
      const here = document.getElementById(id);
      const there = fresh.getElementById(id);
      if (here && there) { here.replaceWith(there); refreshTimes(there); }
    }
    const decision = document.getElementById("decision");
    const freshDecision = fresh.getElementById("decision");
    const text = (el) => (el ? el.textContent.replace(/\s+/g, " ").trim() : "");
    if (decision && freshDecision && decision.dataset.status !== freshDecision.dataset.status) {
      decision.replaceWith(freshDecision);
      for (const el of document.querySelectorAll(".pending-only")) el.remove();
      refreshTimes(freshDecision);
      announce("This approval was decided while you were looking: " + text(freshDecision.querySelector(".verdict")));
    } else if (decision && freshDecision && decision.dataset.key !== freshDecision.dataset.key) {
      // Still pending, but who may decide changed (a step opened): the form follows.
      decision.replaceWith(freshDecision);
      bindEditor();
      const why = freshDecision.querySelector("#decision-refusal");
      announce(why ? text(why) : "You may decide this approval now.");
    }
    bindRefreshButton(review);
    scheduleDeliveries(review);
  };

  const bindRefreshButton = (review) => {
    const button = document.getElementById("refresh-deliveries");
    if (button) button.addEventListener("click", () => refreshReview(review));
  };

  const serialized = (work) => {
    // One refresh at a time; changes that arrive meanwhile trigger one more.
    let running = false;
    let again = false;
    const run = async () => {
      if (running) { again = true; return; }
      running = true;
      try { await work(); } catch (err) { /* the next change retries */ }
      running = false;
      if (again) { again = false; run(); }
    };
    return run;
  };

  const listen = (root, onChange) => {
    const state = document.getElementById("live-state");
    const source = new EventSource(root.dataset.eventsUrl || "/events");
    source.addEventListener("open", () => { if (state) state.dataset.state = "open"; });
    source.addEventListener("change", () => onChange());
    source.addEventListener("error", () => {
      if (state) state.dataset.state = source.readyState === EventSource.CLOSED ? "closed" : "connecting";
      if (source.readyState === EventSource.CLOSED) onChange();  // 401 there reloads to sign-in
    });
    window.addEventListener("pagehide", () => source.close());
  };

  // -- webhook, workflow and event pages: deliveries refresh when a try is due ------
  let subscriptionTimer = null;
  const scheduleSubscription = (root) => {
    if (subscriptionTimer) window.clearTimeout(subscriptionTimer);
    subscriptionTimer = null;
    const section = document.getElementById("deliveries");
    const next = section && Date.parse(section.dataset.nextAttempt || "");
    if (!next || Number.isNaN(next)) return;
    const wait = Math.max(1000, next - Date.now() + 1000);
    if (wait < 15 * 60 * 1000) subscriptionTimer = window.setTimeout(() => refreshSubscription(root), wait);
  };

  const refreshSubscription = async (root) => {
    try {
      const response = await fetch(root.dataset.liveUrl, { credentials: "same-origin", redirect: "manual" });
      if (response.type === "opaqueredirect" || response.status === 401) { window.location.reload(); return; }
      if (!response.ok) return;
      const fresh = parse(await response.text());
      const states = (doc) => new Map([...doc.querySelectorAll("#deliveries .delivery")]
        .map((el) => [el.id, el.dataset.state]));
      const before = states(document);
      for (const id of ["deliveries", "health"]) {
        const here = document.getElementById(id);
        const there = fresh.getElementById(id);
        if (here && there) { here.replaceWith(there); refreshTimes(there); }
      }
      const changed = [...states(document)].filter(([id, state]) => before.get(id) !== state);
      if (changed.length) {
        announce(changed.map(([id, state]) => id.replace("delivery-", "Delivery ") + ": " + state).join(". ") + ".");
      }
    } finally {
      scheduleSubscription(root);
    }
  };

  // A replay is sent once, however often its button is pressed.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("replay")) return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });

  // -- the details editor: validate, diff, then approve ---------------------------
  const isIdentifier = (key) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
  const child = (path, key) => typeof key === "number" ? `${path}[${key}]`
    : isIdentifier(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
  const kindOf = (v) => v === null ? "null" : Array.isArray(v) ? "array" : typeof v;

  const diff = (before, after, path, out) => {
    const a = kindOf(before);
    const b = kindOf(after);
    if (a === "object" && b === "object") {
      for (const key of Object.keys(before)) {
        if (!Object.prototype.hasOwnProperty.call(after, key)) out.push({ path: child(path, key), kind: "removed", before: before[key] });
        else diff(before[key], after[key], child(path, key), out);
      }
      for (const key of Object.keys(after)) {
        if (!Object.prototype.hasOwnProperty.call(before, key)) out.push({ path: child(path, key), kind: "added", after: after[key] });
      }
    } else if (a === "array" && b === "array") {
      for (let i = 0; i < Math.max(before.length, after.length); i += 1) {
        if (i >= after.length) out.push({ path: child(path, i), kind: "removed", before: before[i] });
        else if (i >= before.length) out.push({ path: child(path, i), kind: "added", after: after[i] });
        else diff(before[i], after[i], child(path, i), out);
      }
    } else if (a !== b || before !== after) {
      out.push({ path: path || "(whole)", kind: "changed", before, after });
    }
    return out;
  };

  const where = (text, message) => {
    const match = /position (\d+)/.exec(message);
    if (!match || /line \d+/.test(message)) return message;
    const upto = text.slice(0, Number(match[1]));
    const line = upto.split("\n").length;
    const column = upto.length - upto.lastIndexOf("\n");
    return `${message} (line ${line}, column ${column})`;
  };

  const bindEditor = () => {
    const form = document.getElementById("decide-form");
    if (!form) return;
    let refuse = () => false;  // the editor's own check, below
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent || refuse(event)) { event.preventDefault(); return; }  // no double decision
      form.dataset.sent = "1";
    });
    const editor = document.getElementById("edited");
    const originalNode = document.getElementById("original-details");
    if (!editor || !originalNode) return;
    const original = JSON.parse(originalNode.textContent);
    const status = document.getElementById("edited-status");
    const list = document.getElementById("edited-diff");
    const button = document.getElementById("approve-edited");
    const reset = document.getElementById("reset-edits");
    const plain = document.getElementById("approve");
    // The approval's detailsSchema, checked by the service as the reviewer types.
    const checkUrl = editor.dataset.checkUrl;
    const box = () => document.getElementById("schema-check");
    let known = { text: editor.value, problems: Number((box() && box().dataset.problems) || 0) };
    let asked = 0;
    let timer = null;

    const check = () => {
      let value;
      try {
        value = JSON.parse(editor.value);
      } catch (err) {
        return { ok: false, message: "Not valid JSON: " + where(editor.value, err.message) };
      }
      if (kindOf(value) !== "object") return { ok: false, message: "The details must be a JSON object: { … }." };
      const changes = diff(original, value, "", []);
      if (!changes.length) return { ok: false, changes, message: "Valid JSON, no changes yet." };
      if (known.text === editor.value && known.problems) {
        return { ok: false, changes, schema: true, message: "Valid JSON, but it breaks this approval's schema (see below)." };
      }
      return { ok: true, changes, message: `Valid JSON, ${changes.length} ${changes.length === 1 ? "change" : "changes"}:` };
    };

    const show = () => {
      const result = check();
      const invalid = !result.changes || result.schema;
      status.textContent = result.message;
      status.className = invalid ? "error" : result.ok ? "ok-text" : "hint";
      if (invalid) editor.setAttribute("aria-invalid", "true");
      else editor.removeAttribute("aria-invalid");
      button.disabled = !result.ok;
      // With edits in the editor, the plain button must not look like it applies them.
      if (plain) plain.textContent = editor.value === editor.defaultValue ? "Approve" : "Approve the original details";
      list.replaceChildren();
      if (result.changes && result.changes.length) {
        const ul = document.createElement("ul");
        ul.className = "diff-list";
        ul.setAttribute("aria-label", "Changes from the original details");
        for (const change of result.changes) {
          const li = document.createElement("li");
          const path = document.createElement("code");
          path.textContent = change.path;
          li.append(path, " " + change.kind + ": ");
          if (change.kind !== "added") {
            const del = document.createElement("del");
            del.textContent = JSON.stringify(change.before);
            li.append(del);
          }
          if (change.kind === "changed") li.append(" → ");
          if (change.kind !== "removed") {
            const ins = document.createElement("ins");
            ins.textContent = JSON.stringify(change.after);
            li.append(ins);
          }
          ul.append(li);
        }
        list.append(ul);
      }
    };

    const checkSchema = async () => {
      if (timer) { window.clearTimeout(timer); timer = null; }
      const text = editor.value;
      if (!checkUrl || known.text === text || !check().changes) return;
      const mine = ++asked;
      const csrf = form.querySelector("input[name=csrf]");
      const body = new URLSearchParams({ edited: text, csrf: csrf ? csrf.value : "" });
      try {
        const response = await fetch(checkUrl, { method: "POST", body, credentials: "same-origin" });
        if (response.status === 401) { window.location.reload(); return; }
        if (!response.ok || mine !== asked || editor.value !== text) return;
        const fresh = parse(await response.text()).getElementById("schema-check");
        if (!fresh || !box()) return;
        box().replaceWith(fresh);
        known = { text, problems: Number(fresh.dataset.problems || 0) };
        show();
      } catch (err) { /* offline: the service checks again when the form is sent */ }
    };

    refuse = (event) => {
      if (!(event.submitter && event.submitter.value === "approve_edited") || check().ok) return false;
      show();
      editor.focus();
      return true;
    };
    editor.addEventListener("input", () => {
      show();
      if (!checkUrl) return;
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(checkSchema, 300);  // a pause in typing, not every key
    });
    editor.addEventListener("blur", checkSchema);
    reset.addEventListener("click", () => { editor.value = editor.defaultValue; show(); checkSchema(); editor.focus(); });
    show();
  };

  document.addEventListener("DOMContentLoaded", () => {
    refreshTimes();
    window.setInterval(() => refreshTimes(), 30 * 1000);
    bindEditor();
    const inbox = document.getElementById("inbox");
    if (inbox) listen(inbox, serialized(() => refreshInbox(inbox)));
    const subscription = document.getElementById("subscription");
    if (subscription) scheduleSubscription(subscription);
    const review = document.getElementById("review");
    if (review) {
      listen(review, serialized(() => refreshReview(review)));
      bindRefreshButton(review);
      scheduleDeliveries(review);
    }
  });
})();
