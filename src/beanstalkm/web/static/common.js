// What both pages share: elements built from text only, the API, the live stream,
// confirmations and numbers. Nothing that comes from a server is ever parsed as
// HTML: it goes into the document as text nodes and attribute values.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

export const $ = (selector) => document.querySelector(selector);

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  let data;
  try {
    data = await response.json();
  } catch {
    data = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new ApiError(data.error || response.statusText, response.status);
  return data;
}

export async function get(path, params) {
  const query = params ? "?" + new URLSearchParams(params) : "";
  return answer(await fetch(path + query, { headers: { Accept: "application/json" } }));
}

export let config = null;

export async function loadConfig() {
  config = await get("api/config");
  return config;
}

export async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": config.csrf },
    body: JSON.stringify(body),
  });
  return answer(response);
}

// The live state: onFrame gets each frame; the header says whether it is live.
export function follow(onFrame) {
  const live = $("#live");
  const source = new EventSource("api/events");
  source.addEventListener("frame", (event) => {
    live.textContent = "live";
    live.className = "live on";
    onFrame(JSON.parse(event.data));
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  });
  return source;
}

export function say(text, error = false) {
  const status = $("#status");
  status.textContent = text;
  status.className = error ? "status error" : "status";
}

// A question in a modal dialog; resolves to true when the action is confirmed.
export function confirmAction(question, verb) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm" },
      h("p", null, question),
      h(
        "form",
        { method: "dialog" },
        h("button", { value: "cancel" }, "Cancel"),
        h("button", { value: "ok", class: "danger" }, verb),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Runs an action, says what it did (or why not), and resolves to its report.
export async function act(path, body, question, verb) {
  if (question && !(await confirmAction(question, verb))) {
    say("Nothing done.");
    return null;
  }
  try {
    const report = await post(path, body);
    say(report.message);
    return report;
  } catch (error) {
    say(error.message, true);
    return null;
  }
}

export function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en");
}

export function rate(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? Math.round(value).toLocaleString("en") : value.toFixed(1);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const parts = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
  const shown = [];
  let rest = Math.floor(seconds);
  for (const [size, unit] of parts) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n) shown.push(`${n}${unit}`);
  }
  return shown.slice(0, 2).join("") || "0s";
}

export function tubeLink(name) {
  return h("a", { href: "tube?" + new URLSearchParams({ name }) }, name);
}

// Numbers of a labelled input, or null when empty.
export function intOf(input) {
  const text = input.value.trim();
  if (text === "") return null;
  const n = Number(text);
  return Number.isInteger(n) ? n : NaN;
}

export function serverSelect(servers, withAll) {
  const select = h("select", { name: "server" });
  if (withAll) select.append(h("option", { value: "" }, "every server"));
  for (const server of servers) select.append(h("option", { value: server.index }, server.address));
  return select;
}

export function serverOf(select) {
  return select.value === "" ? null : Number(select.value);
}
