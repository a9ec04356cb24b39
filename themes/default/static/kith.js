/* Kith progressive enhancement; every page also works without it. CSP is script-src 'self':
   no inline handlers, no eval, and data reaches the DOM only through textContent. */
(() => {
  "use strict";

  // The page's words for the script: `js-…` messages of the catalogue (a <template> of
  // JSON in layout.html: data, not a script), in the page's language; `%name` marks a value put in. English stays as the fallback.
  const MESSAGES = (() => {
    try { return JSON.parse(document.getElementById("kith-messages")?.content.textContent || "{}"); } catch (e) { return {}; }
  })();
  const msg = (key, fallback, values = {}) =>
    (MESSAGES[key] || fallback).replace(/%(\w+)/g, (all, name) => (name in values ? String(values[name]) : all));
  const STALE = msg("js-stale", "Someone else changed this record — reload to see their changes.");
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const esc = (s) => CSS.escape(s);
  const selected = (select) => Array.from(select.selectedOptions, (o) => o.value);
  const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  // Strings among `children` become text nodes, never markup.
  function make(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children);
    return node;
  }
  function parseJSON(text, fallback) {
    try { return text ? JSON.parse(text) : fallback; } catch { return fallback; }
  }
  function isTyping(el) {
    return el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  // Resolves to {ok, status, data, etag}; a network failure resolves with status 0.
  // Refusals come back in the page's language (the reader's own setting), not the browser's.
  const pageLanguage = () => document.documentElement.lang || "en";

  async function api(method, url, { json, raw, version } = {}) {
    const headers = { Accept: "application/json", "Accept-Language": pageLanguage() };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = $('meta[name="csrf-token"]')?.content || "";
      headers["Content-Type"] = raw ? raw.type || "application/octet-stream" : "application/json";
    }
    if (version != null) headers["If-Match"] = `"${version}"`;
    const body = raw || (json === undefined ? undefined : JSON.stringify(json));
    try {
      const res = await fetch(url, { method, headers, body, credentials: "same-origin" });
      const text = await res.text();
      return { ok: res.ok, status: res.status, data: parseJSON(text, null), etag: res.headers.get("ETag") };
    } catch {
      return { ok: false, status: 0, data: null };
    }
  }
  const errorOf = (res) => res.data?.error || {};
  // The brief names the list `errors`, DESIGN.md and the host `details`: accept both.
  const fieldErrors = (res) => errorOf(res).errors || errorOf(res).details || [];
  function errorMessage(res) {
    if (res.status === 412) return STALE;
    if (errorOf(res).message) return errorOf(res).message;
    if (res.status === 0) return msg("js-unreachable", "Could not reach the server — check your connection and try again.");
    if (res.status === 409) return msg("js-conflict", "This conflicts with another change — reload and try again.");
    return msg("js-went-wrong", "Something went wrong (HTTP %status).", { status: res.status });
  }
  // A PATCH answers the record bare or as {data: record}; the ETag also carries the version.
  function recordOf(res) {
    const body = res.data || {};
    const wrapped = body.version == null && body.data && typeof body.data === "object" && !Array.isArray(body.data);
    const rec = wrapped ? body.data : body;
    if (rec.version == null && res.etag) rec.version = Number(res.etag.replace(/\D/g, ""));
    return rec;
  }
  const recordUrl = (plural, id) => `/api/v1/${encodeURIComponent(plural)}/${encodeURIComponent(id)}`;
  function follow(redirect) {
    if (redirect === "reload") location.reload();
    else if (redirect) location.assign(redirect);
  }

  // ---------- a. global search ----------
  function initSearch() {
    const input = $("#global-search");
    const box = $("#search-results");
    if (!input || !box) return;
    const form = input.form || box.parentNode;
    let timer = 0, seq = 0, active = -1, options = [];
    input.autocomplete = "off";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");

    function show(open) {
      box.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      if (!open) setActive(-1);
    }
    function setActive(i) {
      active = i;
      options.forEach((li, n) => {
        li.classList.toggle("active", n === i);
        li.setAttribute("aria-selected", String(n === i));
      });
      if (i < 0) return input.removeAttribute("aria-activedescendant");
      input.setAttribute("aria-activedescendant", options[i].id);
      options[i].scrollIntoView({ block: "nearest" });
    }
    function option(href, title, type, cls = "") {
      const a = make("a", { href, tabindex: -1 }, make("span", { class: "title" }, title));
      if (type) a.append(make("span", { class: "type" }, type));
      const li = make("li", { class: cls, id: "search-opt-" + options.length, role: "option", "aria-selected": false }, a);
      li.addEventListener("mousemove", () => setActive(options.indexOf(li)));
      options.push(li);
      return li;
    }
    // The sidebar names every type the reader may see: "contacts" → its label ("Contacts").
    function typeLabel(plural) {
      for (const a of $$("nav.sidebar a")) {
        if (a.getAttribute("href") === "/records/" + plural) return a.textContent.trim();
      }
      return plural;
    }
    function render(q, hits) {
      options = [];
      const ul = make("ul", { id: "search-listbox", role: "listbox", "aria-label": msg("js-search-results", "Search results") });
      for (const hit of hits) ul.append(option(`/records/${encodeURIComponent(hit.type)}/${encodeURIComponent(hit.id)}`, hit.title || hit.id, typeLabel(hit.type)));
      ul.append(option("/search?q=" + encodeURIComponent(q), msg("js-see-all-results", "See all results for “%q”", { q }), "", "all"));
      box.replaceChildren(...(hits.length ? [] : [make("p", { class: "none" }, msg("js-no-quick-matches", "No quick matches."))]), ul);
      input.setAttribute("aria-controls", "search-listbox");
      show(true);
    }
    async function lookup() {
      const q = input.value.trim();
      const mine = ++seq;
      if (!q) return show(false);
      const res = await api("GET", `/api/v1/search?q=${encodeURIComponent(q)}&limit=8`);
      if (mine !== seq) return; // a newer query has been sent since
      if (res.ok && Array.isArray(res.data?.data)) render(q, res.data.data);
      else show(false);
    }
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(lookup, 120);
    });
    input.addEventListener("keydown", (ev) => {
      const open = !box.hidden && options.length > 0;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        if (!open) return void lookup();
        ev.preventDefault();
        const n = options.length;
        setActive(ev.key === "ArrowDown" ? (active + 1) % n : active <= 0 ? n - 1 : active - 1);
      } else if (ev.key === "Enter" && open && active >= 0) {
        ev.preventDefault();
        location.assign($("a", options[active]).href);
      } else if (ev.key === "Escape" && !box.hidden) {
        ev.preventDefault();
        show(false);
      }
    });
    input.addEventListener("focus", () => {
      if (box.hidden && options.length && input.value.trim()) show(true);
    });
    document.addEventListener("click", (ev) => {
      if (!box.hidden && !form.contains(ev.target)) show(false);
    });
    document.addEventListener("keydown", (ev) => {
      const slash = ev.key === "/" && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !isTyping(ev.target);
      const ctrlK = (ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === "k";
      if (!slash && !ctrlK) return;
      ev.preventDefault();
      input.focus();
      input.select();
    });
  }

  // ---------- a2. record picker ----------
  // One searchable picker for every reference: forms, inline edit and list filters. It asks
  // the server (`/records/<plural>/pick?q=`, the search index) as the person types, shows each
  // record's title and a second line, and never shows an id. `value` is an id, or a list of
  // ids when `multiple`; `titles` maps ids to the titles shown for the current value.
  let pickers = 0;
  // `source` (a URL taking `?q=`) asks elsewhere than the record search (a tag filter's
  // values); `free` also offers what was typed as it is.
  function makePicker({ plural, label, value, titles = {}, multiple = false, create = "", source = "", free = false, onChange }) {
    const n = ++pickers;
    let chosen = value == null ? [] : [].concat(value);
    const names = { ...titles };
    const root = make("div", { class: "picker" + (multiple ? " multiple" : "") });
    const chips = make("ul", { class: "picker-chips", "aria-label": label + ": chosen" });
    const input = make("input", { type: "text", class: "picker-input", role: "combobox", autocomplete: "off",
      "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": `picker-list-${n}`, "aria-label": label });
    const list = make("ul", { class: "picker-list", id: `picker-list-${n}`, role: "listbox", "aria-label": label + ": matches" });
    const status = make("p", { class: "picker-status visually-hidden", role: "status" });
    list.hidden = true;
    root.append(chips, input, list, status);
    let options = [], active = -1, seq = 0, timer = 0;

    function changed() {
      drawChips();
      onChange?.(read());
    }
    function drawChips() {
      chips.replaceChildren(...(multiple ? chosen : []).map((id) => {
        const remove = make("button", { type: "button", class: "chip-remove", "aria-label": msg("js-remove", "Remove %name", { name: names[id] || msg("js-record", "record") }) }, "×");
        remove.addEventListener("click", () => { chosen = chosen.filter((c) => c !== id); changed(); input.focus(); });
        return make("li", { class: "chip" }, make("span", {}, names[id] || "(a record you cannot see)"), remove);
      }));
      chips.hidden = !multiple || !chosen.length;
      if (!multiple) input.value = chosen.length ? names[chosen[0]] || "(a record you cannot see)" : "";
    }
    function open(show) {
      list.hidden = !show;
      input.setAttribute("aria-expanded", String(show));
      if (!show) setActive(-1);
    }
    function setActive(i) {
      active = i;
      options.forEach((li, k) => li.setAttribute("aria-selected", String(k === i)));
      if (i < 0) return input.removeAttribute("aria-activedescendant");
      input.setAttribute("aria-activedescendant", options[i].id);
      options[i].scrollIntoView({ block: "nearest" });
    }
    function pick(hit) {
      names[hit.id] = hit.title;
      chosen = multiple ? [...chosen.filter((c) => c !== hit.id), hit.id] : [hit.id];
      if (multiple) input.value = "";
      open(false);
      changed();
    }
    // `create` names the one field a new record needs (its title), when the reader may create.
    async function createNamed(title) {
      const res = await api("POST", `/api/v1/${encodeURIComponent(plural)}`, { json: { [create]: title } });
      const rec = res.ok ? recordOf(res) : null;
      if (rec?.id) return pick({ id: rec.id, title });
      status.textContent = errorMessage(res);
      status.classList.remove("visually-hidden");
    }
    function option(text, detail, onPick, cls = "") {
      const li = make("li", { id: `picker-${n}-opt-${options.length}`, role: "option", "aria-selected": "false", class: cls },
        make("span", { class: "title" }, text));
      if (detail) li.append(make("span", { class: "detail" }, detail));
      li.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the focus in the input
      li.addEventListener("click", onPick);
      li.addEventListener("mousemove", () => setActive(options.indexOf(li)));
      options.push(li);
      return li;
    }
    function render(q, hits) {
      options = [];
      const items = hits.map((hit) => option(hit.title || "(untitled)", hit.detail, () => pick(hit)));
      if (create && q) items.push(option(msg("js-create-named", "Create “%q”", { q }), "", () => createNamed(q), "create"));
      if (free && q && !hits.some((hit) => hit.id === q)) items.push(option(msg("js-use", "Use “%q”", { q }), "", () => pick({ id: q, title: q }), "create"));
      list.replaceChildren(...items);
      status.textContent = hits.length ? msg("js-matches", "%count matches", { count: hits.length }) : msg("js-no-matches", "No matches");
      if (!items.length) list.append(make("li", { class: "none", role: "presentation" }, msg("js-nothing-matches", "Nothing matches “%q”.", { q })));
      open(true);
      if (options.length) setActive(0);
    }
    async function lookup() {
      const q = input.value.trim();
      const mine = ++seq;
      const url = source || `/records/${encodeURIComponent(plural)}/pick`;
      const res = await api("GET", `${url}?q=${encodeURIComponent(q)}`);
      if (mine !== seq) return; // a newer query has been sent since
      if (res.ok && Array.isArray(res.data?.data)) render(q, res.data.data);
      else { open(false); status.textContent = errorMessage(res); }
    }
    input.addEventListener("input", () => {
      if (!multiple && !input.value.trim() && chosen.length) { chosen = []; onChange?.(read()); }
      clearTimeout(timer);
      timer = setTimeout(lookup, 100);
    });
    input.addEventListener("focus", () => {
      if (!multiple) input.select(); // typing replaces the shown title
      if (list.hidden) lookup();
    });
    input.addEventListener("blur", () => { open(false); if (!multiple) drawChips(); });
    input.addEventListener("keydown", (ev) => {
      const shown = !list.hidden && options.length > 0;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        if (!shown) return void lookup();
        const k = options.length;
        setActive(ev.key === "ArrowDown" ? (active + 1) % k : active <= 0 ? k - 1 : active - 1);
      } else if (ev.key === "Enter" && shown && active >= 0) {
        ev.preventDefault();
        ev.stopPropagation();
        options[active].click();
      } else if (ev.key === "Escape" && !list.hidden) {
        ev.preventDefault();
        ev.stopPropagation();
        open(false);
      } else if (ev.key === "Backspace" && multiple && !input.value && chosen.length) {
        chosen = chosen.slice(0, -1);
        changed();
      }
    });
    const read = () => multiple ? (chosen.length ? [...chosen] : null) : chosen[0] ?? null;
    drawChips();
    return { root, first: input, read };
  }

  // A server-rendered reference control (`data-picker` on a <select>, or on a text input
  // holding an id) becomes a picker that writes the chosen ids back into form inputs of the
  // same name, so the form posts exactly what it did without JavaScript.
  function enhancePicker(control) {
    if (control.dataset.values) return enhanceValues(control);
    const name = control.name;
    const multiple = control.multiple;
    const titles = parseJSON(control.dataset.titles, {}) || {};
    let value;
    if (control.tagName === "SELECT") {
      for (const o of control.options) if (o.value) titles[o.value] = o.textContent;
      value = multiple ? selected(control) : control.value || null;
    } else value = control.value || null;
    const label = control.getAttribute("aria-label") || (control.id && $(`label[for="${esc(control.id)}"]`)?.textContent.trim()) || name;
    const hidden = make("span", { hidden: "" });
    function write(v) {
      const ids = v == null ? [] : [].concat(v);
      hidden.replaceChildren(...(ids.length ? ids : [""]).map((id) => make("input", { type: "hidden", name, value: id })));
    }
    const picker = makePicker({ plural: control.dataset.picker, label, value, titles, multiple,
      create: control.dataset.create || "", onChange: write });
    if (control.id) picker.first.id = control.id;
    if (control.required) picker.first.required = true;
    for (const a of ["aria-invalid", "aria-describedby"]) if (control.hasAttribute(a)) picker.first.setAttribute(a, control.getAttribute(a));
    // A multiple select posts an empty value beside it (so "none" clears the field): keep one.
    for (const sibling of $$(`input[type=hidden][name="${esc(name)}"]`, control.parentNode)) sibling.remove();
    write(value);
    control.replaceWith(picker.root, hidden);
  }
  function initPickers(root = document) {
    for (const control of $$("[data-picker], input[data-values]", root)) enhancePicker(control);
  }

  // A filter's values of a tags or multi-select field ("tag a, tag b" in one input): chips
  // picked among the values that exist, or typed.
  function enhanceValues(control) {
    const value = control.value.split(",").map((v) => v.trim()).filter(Boolean);
    const label = control.getAttribute("aria-label") || (control.id && $(`label[for="${esc(control.id)}"]`)?.textContent.trim()) || control.name;
    const hidden = make("input", { type: "hidden", name: control.name, value: value.join(", ") });
    const picker = makePicker({ label, value, titles: Object.fromEntries(value.map((v) => [v, v])), multiple: true,
      source: control.dataset.values, free: true, onChange: (v) => { hidden.value = (v || []).join(", "); } });
    if (control.id) picker.first.id = control.id;
    control.replaceWith(picker.root, hidden);
  }

  // A filter row offers the conditions that work for its field (`data-ops` on the field's
  // option) and, for a reference, a picker as its value.
  function initFilterRows() {
    for (const row of $$(".filter-row")) {
      const field = $("select[name=f]", row), op = $("select[name=op]", row);
      if (!field || !op) continue;
      const update = (fresh) => {
        const chosen = field.selectedOptions[0];
        const ops = parseJSON(chosen?.dataset.ops, null);
        for (const o of op.options) o.hidden = o.disabled = !!ops && !ops.includes(o.value);
        if (op.selectedOptions[0]?.disabled) op.value = ops[0];
        if (!fresh) return;
        // A new field starts with a fresh value control: a picker for a reference.
        const old = $(".picker", row) || $("input[name=v]", row);
        const hidden = $("span > input[type=hidden][name=v]", row)?.parentNode;
        const input = make("input", { name: "v", id: `filter-value-${$$(".filter-row").indexOf(row) + 1}`, "aria-label": msg("js-value", "Value") });
        if (chosen?.dataset.target) input.dataset.picker = chosen.dataset.target;
        else if (chosen?.dataset.values) input.dataset.values = chosen.dataset.values;
        $("input[type=hidden][name=v]", row)?.remove();
        old?.replaceWith(input);
        hidden?.remove();
        if (input.dataset.picker || input.dataset.values) enhancePicker(input);
      };
      field.addEventListener("change", () => update(true));
      update(false);
    }
  }

  // ---------- b. inline edit ----------
  const INPUT_TYPES = { email: "email", phone: "tel", url: "url", integer: "number", number: "number",
    decimal: "number", date: "date", datetime: "datetime-local" };
  // Kinds shown as plain text, redrawn in place after saving; the others (links, money, dates,
  // references…) are rendered by the server, so the page reloads.
  const LOCAL_KINDS = ["text", "long_text", "integer", "number", "decimal", "select"];
  const fail = (message) => { throw { message }; };
  const pad = (n) => String(n).padStart(2, "0");
  function toLocalInput(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // An editor for one field kind: {root, first, read()}; read() throws {message} on bad input.
  function buildEditor(kind, value, options, label, field) {
    const root = make("div", { class: "inline-editor" });
    let control, read;
    if (kind === "reference" && field?.dataset.target) {
      const picker = makePicker({ plural: field.dataset.target, label, value,
        titles: parseJSON(field.dataset.titles, {}) || {}, multiple: field.hasAttribute("data-multiple") });
      root.append(picker.root);
      control = picker.first;
      read = picker.read;
    } else if (kind === "boolean") {
      control = make("input", { type: "checkbox" });
      control.checked = value === true;
      root.append(make("label", {}, control, " " + label));
      read = () => control.checked;
    } else if (kind === "select" || kind === "multi_select") {
      control = make("select");
      control.multiple = kind === "multi_select";
      const current = value == null ? [] : [].concat(value);
      if (!control.multiple) control.add(new Option("—", ""));
      for (const o of options) control.add(new Option(o.label || o.value, o.value, false, current.includes(o.value)));
      read = () => control.multiple ? (selected(control).length ? selected(control) : null) : control.value || null;
    } else if (kind === "money") {
      control = make("input", { inputmode: "decimal", "aria-label": label + " amount" });
      control.value = value?.amount ?? "";
      const currency = make("input", { class: "currency", maxlength: 3, "aria-label": label + " currency" });
      currency.value = value?.currency || "";
      root.append(control, currency);
      read = () => {
        const amount = control.value.trim(), code = currency.value.trim().toUpperCase();
        if (!amount && !code) return null;
        if (!/^-?\d+(\.\d+)?$/.test(amount)) fail(msg("js-enter-amount", "Enter an amount such as 1250.00."));
        return { amount, currency: code };
      };
    } else if (kind === "long_text" || kind === "json" || (value && typeof value === "object" && !Array.isArray(value))) {
      const asJson = kind !== "long_text";
      control = make("textarea", { rows: 4 });
      control.value = value == null ? "" : asJson ? JSON.stringify(value, null, 2) : value;
      read = () => {
        if (!control.value.trim()) return null;
        if (!asJson) return control.value;
        try { return JSON.parse(control.value); } catch (e) { return fail(msg("js-bad-json", "Not valid JSON: %error", { error: e.message })); }
      };
    } else if (kind === "tags" || Array.isArray(value)) {
      control = make("input");
      control.value = (value || []).join(", ");
      read = () => splitList(control.value).length ? splitList(control.value) : null;
    } else {
      control = make("input", { type: INPUT_TYPES[kind] || "text" });
      if (control.type === "number") control.step = kind === "integer" ? "1" : "any";
      control.value = value == null ? "" : kind === "datetime" ? toLocalInput(value) : String(value);
      read = () => {
        const v = control.value;
        if (control.validity.badInput) fail(msg("js-enter-number", "Enter a number."));
        if (!v.trim()) return null;
        if (kind === "integer") return Number.isInteger(Number(v)) ? Number(v) : fail(msg("js-enter-integer", "Enter a whole number."));
        if (control.type === "number") {
          if (!isFinite(Number(v))) fail(msg("js-enter-number", "Enter a number."));
          return typeof value === "string" ? v.trim() : Number(v);
        }
        if (kind === "datetime") return isNaN(new Date(v)) ? fail(msg("js-enter-datetime", "Enter a date and time.")) : new Date(v).toISOString();
        return v;
      };
    }
    if (!control.parentNode) {
      control.setAttribute("aria-label", label);
      root.append(control);
    }
    return { root, first: control, read };
  }

  function displayNode(kind, value, options) {
    if (value == null || value === "") return make("span", { class: "value muted" }, "—");
    const label = kind === "select" && options.find((o) => o.value === value)?.label;
    return make("span", { class: "value" }, label || String(value));
  }

  function startEdit(field, button) {
    const record = $("#record");
    const dd = $("dd", field);
    if (!record || !dd || field.classList.contains("editing")) return;
    const kind = field.dataset.kind || "text";
    const name = field.dataset.field;
    const value = parseJSON(field.dataset.value, null);
    const options = parseJSON(field.dataset.options, []) || [];
    const editor = buildEditor(kind, value, options, $("dt", field)?.textContent.trim() || name, field);
    const original = Array.from(dd.childNodes);

    const save = make("button", { type: "button", class: "button small primary" }, msg("js-save", "Save"));
    const cancel = make("button", { type: "button", class: "button small" }, msg("js-cancel", "Cancel"));
    editor.root.append(make("span", { class: "inline-actions" }, save, cancel));
    const error = make("p", { class: "field-error", role: "alert" });
    dd.replaceChildren(editor.root, error);
    field.classList.add("editing");
    editor.first.focus();

    // Puts the display back; with `shown`, first redraws the value next to the edit button.
    function finish(...shown) {
      dd.replaceChildren(...original);
      field.classList.remove("editing", "saving");
      if (shown.length) {
        const node = displayNode(kind, shown[0], options);
        const current = $(".value", dd);
        if (current) current.replaceWith(node);
        else {
          for (const n of Array.from(dd.childNodes)) if (!n.contains(button)) n.remove();
          dd.prepend(node);
        }
      }
      button.focus();
    }
    async function submit() {
      let next;
      error.textContent = "";
      try { next = editor.read(); } catch (e) {
        error.textContent = e.message;
        return editor.first.focus();
      }
      if (JSON.stringify(next) === JSON.stringify(value)) return finish();
      save.disabled = cancel.disabled = true;
      field.classList.add("saving");
      const res = await api("PATCH", recordUrl(record.dataset.plural, record.dataset.id),
        { json: { [name]: next }, version: record.dataset.version });
      save.disabled = cancel.disabled = false;
      field.classList.remove("saving");
      if (res.ok) {
        const rec = recordOf(res);
        if (rec.version != null) record.dataset.version = rec.version;
        const stored = name in rec ? rec[name] : next;
        field.dataset.value = JSON.stringify(stored ?? null);
        return LOCAL_KINDS.includes(kind) ? finish(stored) : location.reload();
      }
      const mine = fieldErrors(res).find((e) => e.field === name);
      error.textContent = res.status === 422 && mine ? mine.message : errorMessage(res);
      editor.first.focus();
    }
    save.addEventListener("click", submit);
    cancel.addEventListener("click", () => finish());
    editor.root.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        if (!save.disabled) finish();
      } else if (ev.key === "Enter" && ev.target !== save && ev.target !== cancel) {
        const multiLine = ev.target.tagName === "TEXTAREA" || ev.target.multiple;
        if (multiLine && !ev.ctrlKey && !ev.metaKey) return;
        ev.preventDefault();
        if (!save.disabled) submit();
      }
    });
  }

  function initInlineEdit() {
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest(".field[data-editable] .inline-edit");
      if (!button) return;
      ev.preventDefault();
      startEdit(button.closest(".field[data-editable]"), button);
    });
  }

  // ---------- c. kanban board ----------
  function boardAlert(board, message) {
    let alert = board.previousElementSibling;
    if (!alert?.hasAttribute("data-board-alert")) {
      if (!message) return;
      board.before((alert = make("div", { class: "alert error", role: "alert", "data-board-alert": "" })));
    }
    if (message) alert.textContent = message;
    else alert.remove();
  }
  function updateCounts(board) {
    for (const col of $$(".board-column", board)) {
      const count = $(".board-count", col);
      if (count) count.textContent = $$(".board-card", col).length;
    }
  }
  // Moving a node drops focus from inside it; put it back.
  function place(card, list, before) {
    const focused = card.contains(document.activeElement) ? document.activeElement : null;
    list.insertBefore(card, before || null);
    focused?.focus();
  }

  async function moveCard(board, card, column, before) {
    const fromList = card.parentNode, fromNext = card.nextSibling;
    const select = $("select.move-select", card);
    const oldValue = card.closest(".board-column").dataset.value; // the select may already show the new one
    place(card, $(".board-cards", column), before);
    if (select) select.value = column.dataset.value;
    updateCounts(board);
    card.classList.add("saving");
    const value = column.dataset.value === "" ? null : column.dataset.value;
    const patch = { [board.dataset.field]: value };
    let res = await api("PATCH", recordUrl(board.dataset.plural, card.dataset.id),
      { json: patch, version: card.dataset.version });
    // A rule that needs more for this move (a lost reason) names the fields it misses: ask
    // for them in a small form, then move again with them.
    const missing = res.status === 422 ? fieldErrors(res).filter((e) => e.field && e.field !== board.dataset.field) : [];
    if (missing.length) {
      const title = $("a", card)?.textContent.trim() || "this card";
      const extra = await askFields(msg("js-move-to", "Move “%title” to %column", { title, column: $("h2", column)?.textContent.trim() || msg("js-this-column", "this column") }), missing);
      if (extra) res = await api("PATCH", recordUrl(board.dataset.plural, card.dataset.id),
        { json: { ...patch, ...extra }, version: card.dataset.version });
    }
    card.classList.remove("saving");
    if (res.ok) {
      const rec = recordOf(res);
      if (rec.version != null) card.dataset.version = rec.version;
      return boardAlert(board, "");
    }
    place(card, fromList, fromNext?.parentNode === fromList ? fromNext : null);
    if (select) select.value = oldValue;
    updateCounts(board);
    boardAlert(board, errorMessage(res));
  }

  // A modal form asking for `fields` ({field, message}); resolves to {field: value}, or null
  // when cancelled (Escape, Cancel).
  function askFields(heading, fields) {
    return new Promise((resolve) => {
      const dialog = make("dialog", { class: "ask-fields card", "aria-labelledby": "ask-fields-h" });
      const form = make("form", { method: "dialog", class: "form" });
      form.append(make("h2", { id: "ask-fields-h" }, heading));
      const inputs = fields.map((f, i) => {
        const id = `ask-field-${i}`;
        const input = make("textarea", { id, name: f.field, rows: 2, required: "" });
        const name = f.field.replace(/_/g, " ");
        form.append(make("div", { class: "form-field" },
          make("label", { for: id }, name.charAt(0).toUpperCase() + name.slice(1)), input,
          make("p", { class: "hint" }, f.message || "")));
        return input;
      });
      const save = make("button", { type: "submit", class: "button primary", value: "save" }, msg("js-move", "Move"));
      const cancel = make("button", { type: "button", class: "button" }, msg("js-cancel", "Cancel"));
      form.append(make("div", { class: "form-actions" }, save, cancel));
      dialog.append(form);
      document.body.append(dialog);
      let answer = null;
      form.addEventListener("submit", () => {
        answer = Object.fromEntries(inputs.map((i) => [i.name, i.value.trim()]));
      });
      cancel.addEventListener("click", () => dialog.close());
      dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
      dialog.showModal();
      inputs[0]?.focus();
    });
  }

  // Each card of an editable board gets a select of the board's columns that moves it in
  // place: the keyboard's way to move a card. (Without JavaScript a card is moved by editing
  // its record; the board only reads.)
  function addMoveSelect(board, card, columns) {
    const title = $("a", card)?.textContent.trim() || "this card";
    const id = `move-${card.dataset.id}`;
    const select = make("select", { id, class: "move-select" },
      ...columns.map((c) => make("option", { value: c.dataset.value }, $("h2", c)?.textContent.trim() || c.dataset.value)));
    select.value = card.closest(".board-column").dataset.value;
    select.addEventListener("change", () => {
      const column = columns.find((c) => c.dataset.value === select.value);
      if (column && !column.contains(card)) moveCard(board, card, column, null);
    });
    card.append(make("div", { class: "move" }, make("label", { for: id, class: "sr-only" }, msg("js-move-card", "Move “%title” to", { title })), select));
  }

  function startDrag(board, down) {
    const card = down.target.closest(".board-card");
    if (!card || !down.isPrimary || down.button !== 0 || card.classList.contains("saving")) return;
    if (down.target.closest("select, button, input, textarea")) return;
    const origin = card.closest(".board-column"), startScroll = board.scrollLeft;
    let target = null, dragging = false;

    function columnAt(x, y) {
      card.style.pointerEvents = "none";
      const col = document.elementFromPoint(x, y)?.closest(".board-column");
      card.style.pointerEvents = "";
      return col && board.contains(col) ? col : null;
    }
    function mark(col) {
      target?.classList.remove("drop-target");
      target = col;
      target?.classList.add("drop-target");
    }
    function move(ev) {
      if (ev.pointerId !== down.pointerId) return;
      const dx = ev.clientX - down.clientX, dy = ev.clientY - down.clientY;
      if (!dragging) {
        if (Math.abs(dx) < 4 && Math.abs(dy) < 4) return;
        dragging = true;
        // Capture only now: captured from pointerdown, a plain click would miss the card's link.
        try { card.setPointerCapture(ev.pointerId); } catch { /* pointer already released */ }
        card.classList.add("dragging");
      }
      ev.preventDefault();
      const edge = board.getBoundingClientRect();
      if (ev.clientX < edge.left + 40) board.scrollLeft -= 12;
      else if (ev.clientX > edge.right - 40) board.scrollLeft += 12;
      card.style.transform = `translate(${dx + board.scrollLeft - startScroll}px, ${dy}px)`;
      mark(columnAt(ev.clientX, ev.clientY));
    }
    function end(ev) {
      if (ev.pointerId !== down.pointerId) return;
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", end);
      document.removeEventListener("pointercancel", end);
      if (!dragging) return;
      const col = ev.type === "pointerup" ? columnAt(ev.clientX, ev.clientY) : null;
      mark(null);
      card.classList.remove("dragging");
      card.style.transform = "";
      // The click that ends a drag must not follow the card's link.
      const swallow = (c) => { c.preventDefault(); c.stopPropagation(); };
      window.addEventListener("click", swallow, true);
      setTimeout(() => window.removeEventListener("click", swallow, true), 0);
      if (!col || col === origin) return;
      const before = $$(".board-card", col).find((c) => {
        const r = c.getBoundingClientRect();
        return ev.clientY < r.top + r.height / 2;
      });
      moveCard(board, card, col, before);
    }
    // Before capture starts the moves land on other elements; once captured they target the
    // card and bubble up here, so document listeners follow the whole gesture.
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", end);
    document.addEventListener("pointercancel", end);
  }

  function initBoards() {
    for (const board of $$(".board[data-plural][data-field]")) {
      const columns = $$(".board-column", board);
      for (const card of $$(".board-card", board)) {
        if (board.hasAttribute("data-editable")) addMoveSelect(board, card, columns);
        for (const n of $$("a, img", card)) n.draggable = false;
      }
      board.addEventListener("pointerdown", (ev) => startDrag(board, ev));
      board.addEventListener("dragstart", (ev) => ev.preventDefault());
    }
  }

  // ---------- d–f. API forms, API buttons, confirmations ----------
  // The JSON body of a form[data-api]: {data, problems: [{field, message}]}.
  function collect(form) {
    const data = {}, problems = [];
    for (const el of form.elements) {
      const { name, type } = el, as = el.dataset?.type;
      if (!name || name === "_csrf" || el.disabled || /^(submit|button|reset|image|file|fieldset)$/.test(type)) continue;
      if (type === "checkbox") {
        if (as !== "list") data[name] = el.checked;
        else {
          data[name] = data[name] || [];
          if (el.checked) data[name].push(el.value);
        }
        continue;
      }
      if ((type === "radio" && !el.checked)) continue;
      if (el.multiple) { data[name] = selected(el); continue; }
      const v = el.value;
      if (el.hasAttribute("data-omit-empty") && !v.trim()) continue;
      if (as === "number") {
        if (!v.trim()) data[name] = null;
        else if (isFinite(Number(v))) data[name] = Number(v);
        else problems.push({ field: name, message: msg("js-enter-number", "Enter a number.") });
      } else if (as === "json") {
        try { data[name] = v.trim() ? JSON.parse(v) : null; } catch (e) {
          problems.push({ field: name, message: msg("js-bad-json", "Not valid JSON: %error", { error: e.message }) });
        }
      } else if (as === "list") data[name] = splitList(v);
      else if (as === "bool") data[name] = v === "" ? null : /^(true|on|1|yes)$/i.test(v);
      else data[name] = v;
    }
    return { data: nest(data), problems };
  }

  // `tokens.color_bg` → {tokens: {color_bg: …}}: dotted names make nested objects.
  function nest(data) {
    const out = {};
    for (const [key, value] of Object.entries(data)) {
      const path = key.split(".");
      let at = out;
      for (const part of path.slice(0, -1)) at = at[part] = at[part] || {};
      at[path[path.length - 1]] = value;
    }
    return out;
  }

  function clearErrors(form) {
    for (const n of $$("[data-error-for], .form-errors, .form-status", form)) n.textContent = "";
    for (const n of $$("[aria-invalid]", form)) n.removeAttribute("aria-invalid");
  }

  function showErrors(form, top, list) {
    const general = [], targets = [];
    for (const { field, message } of list) {
      const slot = field && $(`[data-error-for="${esc(field)}"]`, form);
      if (!slot) {
        general.push(field ? `${field}: ${message}` : message);
        continue;
      }
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      const control = $(`[name="${esc(field)}"]`, form);
      control?.setAttribute("aria-invalid", "true");
      targets.push(control || slot);
    }
    if (top || general.length) {
      let box = $(".form-errors", form);
      if (!box) form.prepend((box = make("div", { class: "form-errors" })));
      box.setAttribute("role", "alert");
      if (top) box.append(make("p", {}, top));
      if (general.length) box.append(make("ul", {}, ...general.map((m) => make("li", {}, m))));
      targets.push(box);
    }
    targets.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
    if (targets[0]) {
      if (targets[0].tabIndex < 0 && !targets[0].hasAttribute("tabindex")) targets[0].tabIndex = -1;
      targets[0].focus();
    }
  }

  // A token or a signing secret, which an answer carries this once.
  const tokenOf = (res) => res.data?.data?.token || res.data?.token || res.data?.secret || "";
  // The slot may say what the value is (`data-label`) and offer a reload (`data-reload-link`).
  function showToken(container, token) {
    let slot = $("[data-show-token]", container);
    if (!slot) container.append((slot = make("p", { "data-show-token": "" })));
    const { label, reloadLink } = slot.dataset;
    slot.replaceChildren(...(label ? [make("span", {}, label), " ", make("code", {}, token)] : [token]));
    if (reloadLink) slot.append(" ", make("a", { href: location.pathname }, reloadLink));
    slot.hidden = false;
    slot.tabIndex = -1;
    slot.focus();
  }

  async function submitApiForm(form) {
    const opts = {};
    clearErrors(form);
    const file = $("input[type=file][data-raw]", form);
    if (file) {
      if (!file.files.length) return showErrors(form, "", [{ field: file.name, message: msg("js-choose-file", "Choose a file first.") }]);
      opts.raw = file.files[0];
    } else {
      const { data, problems } = collect(form);
      if (problems.length) return showErrors(form, "", problems);
      opts.json = data;
    }
    const buttons = $$("button:not([type=button]), input[type=submit]", form);
    for (const b of buttons) b.disabled = true;
    form.setAttribute("aria-busy", "true");
    const res = await api((form.dataset.method || "POST").toUpperCase(), form.dataset.api, opts);
    for (const b of buttons) b.disabled = false;
    form.removeAttribute("aria-busy");
    if (!res.ok) return showErrors(form, errorMessage(res), fieldErrors(res));
    const token = tokenOf(res);
    if (token) return showToken(form, token);
    if (form.dataset.redirect) return follow(form.dataset.redirect);
    let status = $(".form-status", form);
    if (!status) form.append((status = make("p", { class: "form-status hint", role: "status" })));
    status.textContent = msg("js-saved", "Saved.");
  }

  // A button marked `data-result` (a connection test) says what the API answered in the
  // element of that id instead of reloading: `{ok: false, error}` is a failure; `data-done`
  // words a success, `{name}` standing for the answer's value of that name.
  function showResult(button, slot, res) {
    const failed = !res.ok || res.data?.ok === false;
    const done = (button.dataset.done || msg("js-done", "Done.")).replace(/\{(\w+)\}/g, (_, key) => String(res.data?.[key] ?? ""));
    slot.textContent = !res.ok ? errorMessage(res) : failed ? msg("js-failed", "Failed: %reason", { reason: res.data?.error || msg("js-no-reason", "no reason given") }) : done;
    slot.classList.toggle("failed", failed);
    slot.classList.toggle("ok", !failed);
  }

  async function sendApiButton(button) {
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    button.disabled = true;
    const slot = button.dataset.result ? document.getElementById(button.dataset.result) : null;
    if (slot) {
      slot.classList.remove("ok", "failed");
      slot.textContent = msg("js-working", "Working…");
    }
    const res = await api((button.dataset.method || "POST").toUpperCase(), button.dataset.api);
    button.disabled = false;
    if (slot) return showResult(button, slot, res);
    if (!res.ok) return alert([errorMessage(res), ...fieldErrors(res).map((e) => e.message)].join("\n"));
    const token = tokenOf(res);
    if (token) return showToken(button.closest("form, section, .card") || button.parentNode, token);
    follow(button.dataset.redirect || "reload");
  }

  function initForms() {
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-api]");
      if (!button) return;
      ev.preventDefault(); // also keeps a data-api button inside a form from submitting it
      sendApiButton(button);
    });
    document.addEventListener("submit", (ev) => {
      const form = ev.target;
      const question = ev.submitter?.dataset.confirm || form.dataset.confirm;
      if (question && !confirm(question)) return ev.preventDefault();
      if (!form.hasAttribute("data-api")) return;
      ev.preventDefault();
      submitApiForm(form);
    });
  }

  // On a phone the main navigation folds into a menu button (without JavaScript it stays a
  // strip that scrolls sideways).
  function initMenu() {
    const button = $(".menu-button"), nav = $("#main-nav");
    if (!button || !nav) return;
    document.documentElement.classList.add("has-menu");
    button.hidden = false;
    const toggle = (open) => {
      nav.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
    };
    button.addEventListener("click", () => toggle(!nav.classList.contains("open")));
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && nav.classList.contains("open")) { toggle(false); button.focus(); }
    });
  }

  // "Tick every row" for the list's bulk actions.
  function initBulk() {
    const all = $("input.select-all");
    if (!all) return;
    all.hidden = false;
    const boxes = () => $$('input[name=ids][form=bulk]');
    all.addEventListener("change", () => { for (const b of boxes()) b.checked = all.checked; });
  }

  // A link marked `data-dialog` (a plugin action that asks for fields) opens its page's form
  // in a modal dialog over the current page; without JavaScript it is that page.
  function initDialogLinks() {
    document.addEventListener("click", async (ev) => {
      const link = ev.target.closest("a[data-dialog]");
      if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
      ev.preventDefault();
      let form = null;
      try {
        const res = await fetch(link.href, { credentials: "same-origin" });
        // Not offered (any more): the page says why.
        if (res.ok && !res.redirected) {
          const doc = new DOMParser().parseFromString(await res.text(), "text/html");
          form = doc.querySelector("form.dialog-form");
        }
      } catch (_) { /* the page itself follows */ }
      if (!form) return void (location.href = link.href);
      const heading = $("h2", form);
      const dialog = make("dialog", { class: "ask-fields card", "aria-labelledby": heading?.id || "" });
      dialog.append(document.importNode(form, true));
      document.body.append(dialog);
      initPickers(dialog);
      $("[data-close]", dialog)?.addEventListener("click", (e) => { e.preventDefault(); dialog.close(); });
      dialog.addEventListener("close", () => { dialog.remove(); link.focus(); });
      dialog.showModal();
      $("input:not([type=hidden]), select, textarea, button", dialog)?.focus();
    });
  }

  function init() {
    initMenu();
    initDialogLinks();
    initBulk();
    initSearch();
    initPickers();
    initFilterRows();
    initInlineEdit();
    initBoards();
    initForms();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// -- settings (users, roles, fields) --
// Invitation links, the roles editor and the add-field form. Each sends the JSON API like the
// other settings forms; the forms marked here are handled before the generic handler.
(() => {
  "use strict";
  // The page's words, as at the top of the first part.
  const MESSAGES = (() => {
    try { return JSON.parse(document.getElementById("kith-messages")?.content.textContent || "{}"); } catch (e) { return {}; }
  })();
  const msg = (key, fallback, values = {}) =>
    (MESSAGES[key] || fallback).replace(/%(\w+)/g, (all, name) => (name in values ? String(values[name]) : all));
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
  const cssName = (s) => CSS.escape(s);

  async function send(method, url, body) {
    const headers = { Accept: "application/json", "Content-Type": "application/json",
      "Accept-Language": document.documentElement.lang || "en",
      "X-CSRF-Token": $('meta[name="csrf-token"]')?.content || "" };
    try {
      const res = await fetch(url, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
      let data = null;
      try { data = await res.json(); } catch { /* an empty answer */ }
      return { ok: res.ok, status: res.status, data };
    } catch {
      return { ok: false, status: 0, data: null };
    }
  }

  function clear(form) {
    for (const n of $$("[data-error-for], .form-errors, .form-status", form)) n.textContent = "";
    for (const n of $$("[aria-invalid]", form)) n.removeAttribute("aria-invalid");
  }

  // Shows an API refusal: field messages next to their fields, the rest at the top.
  function refuse(form, res, say = (e) => e.message) {
    const error = res.data?.error || {};
    const details = error.details || [];
    const box = $(".form-errors", form);
    const general = [];
    let first = null;
    for (const detail of details) {
      const message = say(detail, res);
      const slot = detail.field && $(`[data-error-for="${cssName(detail.field)}"]`, form);
      if (!slot) { general.push(message); continue; }
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      const control = $(`[name="${cssName(detail.field)}"]`, form);
      control?.setAttribute("aria-invalid", "true");
      first = first || control || slot;
    }
    if (!details.length) general.push(say({ field: "", code: error.code || "", message: error.message ||
      (res.status === 0 ? msg("js-unreachable", "Could not reach the server — check your connection and try again.") : msg("js-went-wrong", "Something went wrong (HTTP %status).", { status: res.status })) }, res));
    if (box && general.length) {
      box.textContent = "";
      for (const m of general) { const p = document.createElement("p"); p.textContent = m; box.append(p); }
      first = first || box;
    }
    if (first) {
      if (first.tabIndex < 0 && !first.hasAttribute("tabindex")) first.tabIndex = -1;
      first.focus();
    }
  }

  function busy(form, on) {
    for (const b of $$("button", form)) b.disabled = on;
    if (on) form.setAttribute("aria-busy", "true"); else form.removeAttribute("aria-busy");
  }

  // An invitation link, shown once, with a copy button.
  function showInvitation(res) {
    const slot = $("[data-invite-link]");
    if (!slot) return;
    const link = res.data.invite_url || location.origin + res.data.invite_path;
    const who = res.data.user?.name || res.data.user?.email || "them";
    slot.textContent = "";
    const label = document.createElement("label");
    label.htmlFor = "invite-link";
    label.textContent = msg("js-invitation-link", "Invitation link for %who (works once, for 7 days; pass it on yourself):", { who });
    const input = Object.assign(document.createElement("input"), { id: "invite-link", readOnly: true, value: link });
    const copy = Object.assign(document.createElement("button"), { type: "button", className: "button small", textContent: msg("js-copy-link", "Copy link") });
    copy.addEventListener("click", async () => {
      input.select();
      try { await navigator.clipboard.writeText(link); copy.textContent = msg("js-copied", "Copied"); } catch { document.execCommand?.("copy"); }
    });
    const again = Object.assign(document.createElement("a"), { href: location.pathname, textContent: msg("js-show-updated", "Show the updated list") });
    slot.append(label, input, copy, " ", again);
    slot.hidden = false;
    slot.tabIndex = -1;
    slot.focus();
  }

  async function invite(form) {
    clear(form);
    const body = {};
    for (const el of form.elements) if (el.name) body[el.name] = el.value.trim();
    busy(form, true);
    const res = await send("POST", form.dataset.api, body);
    busy(form, false);
    if (!res.ok) return refuse(form, res);
    form.reset();
    showInvitation(res);
  }

  // The body of PUT /api/v1/admin/roles/{name} from the matrix and the field rules.
  function roleBody(form) {
    const body = { name: form.elements.name.value.trim(), types: {}, fields: {},
      admin: !!form.elements.admin?.checked };
    for (const select of $$('select[name^="types."]', form)) {
      const [, entity, op] = select.name.split(".");
      (body.types[entity] = body.types[entity] || {})[op] = select.value;
    }
    for (const select of $$("select[data-rule]", form)) {
      if (select.value === "visible") continue;
      const [, entity, field] = select.name.split(".");
      (body.fields[entity] = body.fields[entity] || {})[field] = { read: select.value !== "hidden", edit: false };
    }
    return body;
  }

  async function saveRole(form) {
    clear(form);
    const body = roleBody(form);
    const url = form.hasAttribute("data-new-role") ? form.dataset.api + encodeURIComponent(body.name) : form.dataset.api;
    busy(form, true);
    const res = await send("PUT", url, body);
    busy(form, false);
    if (!res.ok) {
      return refuse(form, res, (e) => e.code === "reserved_name" ? msg("js-reserved-role", "That is a built-in role: choose another name.")
        : e.code === "invalid_name" && e.field === "name" ? msg("js-role-name", "Names start with a letter and use only a–z, 0–9 and _.") : e.message);
    }
    if (form.hasAttribute("data-new-role")) return location.reload();
    let status = $(".form-status", form);
    if (!status) form.append((status = Object.assign(document.createElement("p"), { className: "form-status hint" })));
    status.setAttribute("role", "status");
    status.textContent = msg("js-role-saved", "Saved. People with the role %role have these permissions from their next click.", { role: body.name });
  }

  // "Annual revenue (€)" → "annual_revenue": lower snake case ASCII, as field names are.
  function suggestName(label) {
    const name = label.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^[0-9_]+/, "");
    return name.slice(0, 48).replace(/_+$/, "");
  }

  // What a refusal of a new field means, in words (the API's codes stay out of sight).
  function fieldProblem(form) {
    const typeLabel = form.dataset.typeLabel || "this type";
    const name = () => form.elements.name.value.trim();
    return (e, res) => {
      if (e.code === "already_exists" || res.status === 409) return msg("js-field-exists", "A field named `%name` already exists on %type.", { name: name(), type: typeLabel });
      if (e.field === "name" && e.code === "invalid_name") return msg("js-field-name", "Names start with a letter and use only a–z, 0–9 and _ (48 characters at most).");
      if (e.field === "name" && e.code === "reserved_name") return `\`${name()}\` is kept for Kith's own use: choose another name.`;
      if (e.field === "options" && e.code === "required") return msg("js-options-required", "A select field needs its choices: list them separated by commas.");
      if (e.field === "options" && e.code === "not_allowed") return msg("js-options-not-allowed", "Only select fields have choices: empty this box, or pick a select kind.");
      if (e.field === "options" && e.code === "duplicate_option") return msg("js-option-twice", "A choice is listed twice.");
      const text = e.message || "";
      return text ? text[0].toUpperCase() + text.slice(1) + (text.endsWith(".") ? "" : ".") : msg("js-did-not-work", "That did not work.");
    };
  }

  async function addField(form) {
    clear(form);
    const el = form.elements;
    const body = { name: el.name.value.trim(), type: el.type.value };
    if (el.label.value.trim()) body.label = el.label.value.trim();
    const options = el.options.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (options.length) body.options = options;
    for (const flag of ["required", "indexed", "searchable"]) if (el[flag]?.checked) body[flag] = true;
    busy(form, true);
    const res = await send("POST", form.dataset.api, body);
    busy(form, false);
    if (!res.ok) return refuse(form, res, fieldProblem(form));
    location.reload();
  }

  function initFieldNames() {
    for (const form of $$("form[data-field-form]")) {
      const label = form.elements.label, name = form.elements.name;
      name.addEventListener("input", () => { name.dataset.touched = name.value ? "yes" : ""; });
      label.addEventListener("input", () => { if (!name.dataset.touched) name.value = suggestName(label.value); });
    }
  }

  function init() {
    document.addEventListener("submit", (ev) => {
      const form = ev.target;
      const handler = form.matches("form[data-invite]") ? invite
        : form.matches("form[data-role-editor]") ? saveRole
        : form.matches("form[data-field-form]") ? addField : null;
      if (!handler) return;
      ev.preventDefault();
      ev.stopPropagation();
      handler(form);
    }, true);
    document.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button[data-invite-again]");
      if (!button) return;
      ev.preventDefault();
      ev.stopPropagation();
      button.disabled = true;
      const res = await send("POST", button.dataset.api);
      button.disabled = false;
      if (!res.ok) return alert(res.data?.error?.message || msg("js-went-wrong", "Something went wrong (HTTP %status).", { status: res.status }));
      showInvitation(res);
    }, true);
    initFieldNames();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
