// The overview: every server's stats, charts of the last minutes, every tube.
import { $, config, duration, fill, follow, get, h, loadConfig, number, rate, say, tubeLink } from "./common.js";
import { History, chart, sparkline } from "./charts.js";

const SERVER_ROWS = [
  ["version", "version", String],
  ["uptime", "uptime", duration],
  ["connections", "current-connections", number],
  ["producers", "current-producers", number],
  ["workers", "current-workers", number],
  ["waiting workers", "current-waiting", number],
  ["tubes", "current-tubes", number],
  ["ready", "current-jobs-ready", number],
  ["reserved", "current-jobs-reserved", number],
  ["delayed", "current-jobs-delayed", number],
  ["buried", "current-jobs-buried", number],
  ["urgent", "current-jobs-urgent", number],
  ["jobs put in all", "total-jobs", number],
  ["timed out", "job-timeouts", number],
];
const RATE_ROWS = [["commands/s", "commands"], ["puts/s", "put"], ["deletes/s", "delete"]];
const TUBE_SHOWN = ["ready", "reserved", "delayed", "buried", "urgent", "waiting", "watching", "put", "delete", "pause"];
const TUBE_TITLES = { put: "puts/s", delete: "deletes/s", pause: "paused" };

let history;
let latest = null;

function column(name) {
  return config.tube_columns.indexOf(name);
}

function renderServers(frame) {
  const several = frame.servers.length > 1;
  const heads = frame.servers.map((s) => h("th", { scope: "col", class: s.up ? "" : "down" }, s.address));
  if (several) heads.push(h("th", { scope: "col" }, `total (${frame.total.up} of ${frame.servers.length} up)`));
  const rows = [h("tr", null, h("th", null, ""), heads)];
  const downRow = frame.servers.some((s) => !s.up);
  if (downRow) {
    rows.push(
      h("tr", { class: "down" }, h("th", { scope: "row" }, "state"),
        frame.servers.map((s) => h("td", { class: s.up ? "" : "down" }, s.up ? "up" : `down: ${s.error}`)),
        several ? h("td") : null),
    );
  }
  for (const [label, key, format] of SERVER_ROWS) {
    const cells = frame.servers.map((s) => h("td", { "data-col": key }, s.up && key in s.stats ? format(s.stats[key]) : "–"));
    if (several) cells.push(h("td", { "data-col": key }, key in frame.total.stats ? format(frame.total.stats[key]) : ""));
    rows.push(h("tr", null, h("th", { scope: "row" }, label), cells));
  }
  for (const [label, key] of RATE_ROWS) {
    const cells = frame.servers.map((s) => h("td", { "data-col": key }, s.up ? rate(s.rates[key]) : "–"));
    if (several) cells.push(h("td", { "data-col": key }, rate(frame.total.rates[key])));
    rows.push(h("tr", null, h("th", { scope: "row" }, label), cells));
  }
  fill($("#servers"), rows);
}

function chosenServer() {
  const value = $("#server").value;
  return value === "" ? null : Number(value);
}

function pointsOf(which) {
  return history.points.map((p) => (which === null ? p.total : p.servers[which]));
}

function renderCharts() {
  const which = chosenServer();
  const points = pointsOf(which);
  const names = config.point_columns.server;
  const series = (keys) => keys.map((key) => ({ name: key, values: points.map((p) => (p ? p[names.indexOf(key)] : null)) }));
  fill(
    $("#charts"),
    chart("jobs", series(["ready", "reserved", "delayed", "buried"]), number),
    chart("per second", series(["put", "delete"]), rate),
    chart("commands per second", series(["commands"]), rate),
  );
}

function renderTubes(frame) {
  const which = chosenServer();
  const filter = $("#filter").value.trim().toLowerCase();
  const ready = config.point_columns.tube.indexOf("ready");
  const head = h("tr", null,
    h("th", { scope: "col" }, "tube"),
    TUBE_SHOWN.map((name) => h("th", { scope: "col" }, TUBE_TITLES[name] || name)),
    h("th", { scope: "col" }, "ready, last minutes"));
  const rows = [];
  for (const [name, all] of Object.entries(frame.tubes)) {
    if (filter && !name.toLowerCase().includes(filter)) continue;
    const row = which === null ? all[0] : all[which + 1];
    if (!row) continue;
    const cells = TUBE_SHOWN.map((key) => {
      const value = row[column(key)];
      let text;
      if (key === "put" || key === "delete") text = rate(value);
      else if (key === "pause") text = value ? `${duration(value)} left` : "";
      else text = number(value);
      return h("td", { "data-col": key, class: key === "buried" && value ? "warn" : "" }, text);
    });
    const trend = history.points.map((p) => (p.tubes[name] ? p.tubes[name][ready] : null));
    rows.push(h("tr", { "data-tube": name }, h("th", { scope: "row" }, tubeLink(name)), cells, h("td", null, sparkline(trend))));
  }
  if (!rows.length) rows.push(h("tr", null, h("td", { colspan: TUBE_SHOWN.length + 2 }, filter ? "No tube matches." : "No tube.")));
  fill($("#tubes"), h("thead", null, head), h("tbody", null, rows));
}

function render() {
  if (!latest) return;
  renderServers(latest);
  renderCharts();
  renderTubes(latest);
}

async function start() {
  await loadConfig();
  history = new History(config.points);
  if (config.servers.length > 1) {
    const select = $("#server");
    select.append(h("option", { value: "" }, "every server (totals)"));
    for (const s of config.servers) select.append(h("option", { value: s.index }, s.address));
    $("#server-choice").hidden = false;
    select.addEventListener("change", render);
  } else {
    $("#server").append(h("option", { value: "0" }, config.servers[0].address));
  }
  $("#filter").addEventListener("input", render);
  follow((frame) => {
    latest = frame;
    history.add(frame.point);
    render();
  });
  const past = await get("api/history");
  history.load(past.points);
  render();
}

start().catch((error) => say(`Cannot start: ${error.message}`, true));
