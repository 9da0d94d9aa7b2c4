// A tube: its counts on each server, charts, its next jobs, actions and search.
import {
  $, act, config, duration, fill, follow, get, h, intOf, loadConfig, number, rate, say,
  serverOf, serverSelect,
} from "./common.js";
import { History, chart } from "./charts.js";

const tube = new URLSearchParams(location.search).get("name") || "";
const COUNTS = ["ready", "reserved", "delayed", "buried", "urgent", "waiting", "watching", "put", "delete", "pause"];
const TITLES = { put: "puts/s", delete: "deletes/s", pause: "paused" };
const JOB_STATS = [["pri", "priority"], ["age", "age"], ["delay", "delay"], ["time-left", "time left"], ["ttr", "ttr"], ["reserves", "reserves"], ["timeouts", "timeouts"], ["releases", "releases"], ["buries", "buries"], ["kicks", "kicks"]];

let history;
let lastCounts = "";
let refreshing = null;
let again = false;

// -- counts and charts --

function renderCounts(frame) {
  const all = frame.tubes[tube];
  const head = h("tr", null, h("th", { scope: "col" }, "server"), COUNTS.map((c) => h("th", { scope: "col" }, TITLES[c] || c)));
  const rows = [];
  const several = frame.servers.length > 1;
  const line = (label, row, cls) =>
    h("tr", { class: cls || "" }, h("th", { scope: "row" }, label),
      COUNTS.map((key) => {
        if (!row) return h("td", { "data-col": key }, "–");
        const value = row[config.tube_columns.indexOf(key)];
        let text = number(value);
        if (key === "put" || key === "delete") text = rate(value);
        if (key === "pause") text = value ? `${duration(value)} left` : "no";
        return h("td", { "data-col": key }, text);
      }));
  frame.servers.forEach((server, i) => {
    if (!server.up) {
      rows.push(h("tr", { class: "down" }, h("th", { scope: "row" }, server.address), h("td", { colspan: COUNTS.length }, `down: ${server.error}`)));
    } else {
      rows.push(line(server.address, all ? all[i + 1] : null));
    }
  });
  if (several) rows.push(line("total", all ? all[0] : null, "total"));
  fill($("#counts"), h("thead", null, head), h("tbody", null, rows));
  // The next jobs change when the counts do.
  const counts = JSON.stringify(frame.servers.map((s, i) => (all && all[i + 1] ? all[i + 1].slice(0, 4) : null)));
  if (counts !== lastCounts) {
    lastCounts = counts;
    refreshJobs();
  }
}

function renderCharts() {
  const names = config.point_columns.tube;
  const points = history.points.map((p) => p.tubes[tube] || null);
  const series = (keys) => keys.map((key) => ({ name: key, values: points.map((p) => (p ? p[names.indexOf(key)] : null)) }));
  fill($("#charts"), chart("jobs", series(["ready", "reserved", "delayed", "buried"]), number), chart("per second", series(["put", "delete"]), rate));
}

// -- jobs --

function statText(key, value) {
  if (key === "age" || key === "time-left") return duration(value);
  return key === "pri" ? String(value) : number(value);
}

function jobCard(title, job, server, withActions) {
  const stats = job.stats || {};
  const meta = h("dl", { class: "meta" },
    JOB_STATS.filter(([key]) => key in stats).map(([key, label]) => h("div", null, h("dt", null, label), h("dd", null, statText(key, stats[key])))));
  const body = h("pre", { class: `body ${job.format}` }, job.body);
  const parts = [
    h("h3", null, title, " ", h("span", { class: "id" }, `#${job.id}`), config.servers.length > 1 ? h("span", { class: "where" }, ` on ${server.address}`) : null),
    h("p", { class: "kind" }, `${job.kind === "envelope" ? "beanstalkm envelope" : job.kind}, ${number(job.size)} bytes${stats.state ? `, ${stats.state}` : ""}`),
    meta,
  ];
  if (job.envelope) {
    parts.push(h("dl", { class: "envelope" }, Object.entries(job.envelope).map(([key, value]) => [h("dt", null, key), h("dd", null, value === null ? "–" : String(value))])));
  }
  parts.push(body);
  if (job.truncated) {
    const more = h("button", { type: "button", class: "link" }, "Show all");
    more.addEventListener("click", async () => {
      try {
        const whole = await get("api/job", { server: job.server, id: job.id, full: 1 });
        body.textContent = whole.body;
        more.remove();
      } catch (error) {
        say(error.message, true);
      }
    });
    parts.push(h("p", { class: "cut" }, "Cut short here. ", more, " or ", h("a", { href: "api/job/body?" + new URLSearchParams({ server: job.server, id: job.id }) }, "download it")));
  }
  if (job.problems.length) parts.push(h("ul", { class: "problems" }, job.problems.map((p) => h("li", null, p))));
  if (withActions && !config.read_only) {
    const buttons = h("div", { class: "buttons" });
    if (stats.state === "buried" || stats.state === "delayed") {
      buttons.append(h("button", { type: "button", onclick: async () => {
        if (await act("api/kick-job", { server: job.server, id: job.id })) refreshJobs();
      } }, "Kick"));
    }
    if (stats.state !== "reserved") {
      buttons.append(h("button", { type: "button", class: "danger", onclick: async () => {
        if (await act("api/delete-job", { server: job.server, id: job.id }, `Delete job ${job.id} on ${server.address}? It cannot be undone.`, "Delete")) refreshJobs();
      } }, "Delete"));
    }
    parts.push(buttons);
  }
  return h("article", { class: "job", "data-state": stats.state || "", "data-id": job.id }, parts);
}

async function refreshJobs() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = (async () => {
    try {
      const data = await get("api/tube", { name: tube });
      renderJobs(data);
    } catch (error) {
      if (error.status === 404) fill($("#jobs"), h("p", null, `There is no tube ${tube} (now).`));
      else say(error.message, true);
    }
  })();
  await refreshing;
  refreshing = null;
  if (again) {
    again = false;
    refreshJobs();
  }
}

function renderJobs(data) {
  const cards = [];
  for (const server of data.servers) {
    if (!server.up) continue;
    for (const state of config.peek_states) {
      const job = server.jobs[state];
      if (job) cards.push(jobCard(`Next ${state} job`, job, server, true));
    }
  }
  fill($("#jobs"), cards.length ? cards : h("p", null, "No ready, delayed or buried job."));
}

// -- actions --

function field(label, input) {
  return h("label", null, h("span", null, label), input);
}

function actionForms() {
  const several = config.servers.length > 1;
  const where = () => (several ? serverSelect(config.servers, true) : null);
  const forms = [];
  const done = () => refreshJobs();

  const kickCount = h("input", { type: "number", min: 1, value: 10, name: "count", required: true });
  const kickWhere = where();
  forms.push(h("form", { id: "kick", onsubmit: async (e) => {
    e.preventDefault();
    if (await act("api/kick", { tube, count: intOf(kickCount), server: kickWhere ? serverOf(kickWhere) : null })) done();
  } }, h("h3", null, "Kick"), field("jobs", kickCount), kickWhere && field("on", kickWhere), h("button", null, "Kick"),
  h("p", { class: "hint" }, "Buried jobs back to ready (delayed ones when none is buried).")));

  const buriedWhere = where();
  forms.push(h("form", { id: "delete-buried", onsubmit: async (e) => {
    e.preventDefault();
    if (await act("api/delete-buried", { tube, server: buriedWhere ? serverOf(buriedWhere) : null }, `Delete every buried job of ${tube}? It cannot be undone.`, "Delete buried jobs")) done();
  } }, h("h3", null, "Buried jobs"), buriedWhere && field("on", buriedWhere), h("button", { class: "danger" }, "Delete all buried…")));

  const seconds = h("input", { type: "number", min: 0, value: 60, name: "seconds", required: true });
  const pauseWhere = where();
  const pauseBody = (s) => ({ tube, seconds: s, server: pauseWhere ? serverOf(pauseWhere) : null });
  forms.push(h("form", { id: "pause", onsubmit: async (e) => {
    e.preventDefault();
    await act("api/pause", pauseBody(intOf(seconds)));
  } }, h("h3", null, "Pause"), field("seconds", seconds), pauseWhere && field("on", pauseWhere), h("button", null, "Pause"),
  h("button", { type: "button", onclick: () => act("api/pause", pauseBody(0)) }, "Resume")));

  const target = h("input", { type: "text", name: "target", required: true, placeholder: "tube", autocomplete: "off" });
  const moveCount = h("input", { type: "number", min: 1, name: "count", placeholder: "all" });
  const states = config.peek_states.map((s) => h("input", { type: "checkbox", name: s, checked: true }));
  const moveWhere = where();
  forms.push(h("form", { id: "move", onsubmit: async (e) => {
    e.preventDefault();
    const chosen = config.peek_states.filter((s, i) => states[i].checked);
    const count = intOf(moveCount);
    const what = `${count ? `at most ${count.toLocaleString("en")}` : "every"} ${chosen.join(", ")} job${count === 1 ? "" : "s"}`;
    if (await act("api/move", { tube, target: target.value.trim(), states: chosen, count, server: moveWhere ? serverOf(moveWhere) : null },
      `Move ${what} of ${tube} into ${target.value.trim()}?`, "Move")) done();
  } }, h("h3", null, "Move"), field("to tube", target),
  h("fieldset", null, h("legend", null, "jobs"), config.peek_states.map((s, i) => h("label", { class: "check" }, states[i], s))),
  field("at most", moveCount), moveWhere && field("on", moveWhere), h("button", null, "Move…")));

  const body = h("textarea", { name: "body", rows: 3, required: true, placeholder: '{"to": "ada"}' });
  const envelope = h("input", { type: "checkbox", name: "envelope" });
  const numbers = { priority: 2 ** 31, delay: 0, ttr: 120 };
  const inputs = Object.fromEntries(Object.entries(numbers).map(([k, v]) => [k, h("input", { type: "number", min: 0, value: v, name: k })]));
  const putWhere = several ? serverSelect(config.servers, false) : null;
  forms.push(h("form", { id: "put", onsubmit: async (e) => {
    e.preventDefault();
    const data = { tube, body: body.value, envelope: envelope.checked, server: putWhere ? serverOf(putWhere) : 0 };
    for (const [k, input] of Object.entries(inputs)) data[k] = intOf(input) ?? numbers[k];
    if (await act("api/put", data)) done();
  } }, h("h3", null, "Put a job"), field("body", body),
  h("label", { class: "check" }, envelope, "JSON in beanstalkm's envelope (else the text as it is)"),
  Object.entries(inputs).map(([k, input]) => field(k, input)), putWhere && field("on", putWhere), h("button", null, "Put")));
  return forms;
}

// -- search --

function searchForm() {
  const text = h("input", { type: "search", name: "text", placeholder: "text in the body", autocomplete: "off" });
  const path = h("input", { type: "text", name: "path", placeholder: "$.user.id", autocomplete: "off" });
  const value = h("input", { type: "text", name: "value", placeholder: "equal to (JSON or text)", autocomplete: "off" });
  const limit = h("input", { type: "number", name: "limit", min: 1, max: config.search_limit, value: 1000 });
  const states = config.search_states.map((s) => h("input", { type: "checkbox", name: s, checked: true }));
  const where = config.servers.length > 1 ? serverSelect(config.servers, true) : null;
  const params = () => {
    const p = { tube, text: text.value, path: path.value, value: value.value, limit: limit.value,
      states: config.search_states.filter((s, i) => states[i].checked).join(",") };
    if (where && where.value !== "") p.server = where.value;
    return p;
  };
  const run = async (p) => {
    say("Searching…");
    try {
      showResults(await get("api/search", p), p);
      say("");
    } catch (error) {
      say(error.message, true);
    }
  };
  fill($("#search"), field("text", text), field("JSON path", path), field("value", value),
    h("fieldset", null, h("legend", null, "jobs"), config.search_states.map((s, i) => h("label", { class: "check" }, states[i], s))),
    field("look at most at", limit), where && field("on", where), h("button", null, "Search"));
  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    run(params());
  });
  showResults.run = run;
}

const STOPPED = {
  complete: "every job the tube counted was looked at",
  limit: "it looked at as many jobs as asked",
  probes: "it probed as many ids as it may for that many jobs",
  empty: "the tube has no ready, delayed or buried job to start from",
};

function showResults(data, asked) {
  const blocks = [];
  for (const r of data.results) {
    if (!r.up) {
      blocks.push(h("p", { class: "error" }, `${r.address}: down: ${r.error}`));
      continue;
    }
    if (r.missing) {
      blocks.push(h("p", null, `${r.address}: no tube ${data.tube}.`));
      continue;
    }
    const summary = h("p", { class: "summary" },
      `${config.servers.length > 1 ? r.address + ": " : ""}${number(r.matched)} matching of ${number(r.examined)} jobs looked at (the tube counted ${number(r.counted)}), ids ${number(r.low)} to ${number(r.high - 1)}. Stopped because ${STOPPED[r.stopped] || r.stopped}.`);
    blocks.push(summary);
    if (r.stopped === "limit" || r.stopped === "probes") {
      summary.append(" ", h("button", { type: "button", class: "link", onclick: () =>
        showResults.run({ ...asked, server: r.server, low: r.low, high: r.high, seen: r.seen }) }, "Go on"));
    }
    if (r.matched > r.jobs.length) blocks.push(h("p", { class: "hint" }, `The first ${r.jobs.length} are shown.`));
    const server = config.servers[r.server];
    for (const job of r.jobs) blocks.push(jobCard("Found", job, server, true));
  }
  fill($("#results"), blocks);
}

// -- start --

async function start() {
  await loadConfig();
  document.title = `${tube} · beanstalkm web`;
  $("#name").textContent = tube;
  history = new History(config.points);
  if (!config.read_only) {
    fill($("#forms"), actionForms());
    $("#actions").hidden = false;
  }
  searchForm();
  follow((frame) => {
    history.add(frame.point);
    renderCounts(frame);
    renderCharts();
  });
  const past = await get("api/history");
  history.load(past.points);
  renderCharts();
}

start().catch((error) => say(`Cannot start: ${error.message}`, true));
