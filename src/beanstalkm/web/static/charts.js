// Small line charts in SVG, drawn from the points of the last minutes.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 70;

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

// values: numbers or null (a gap). Returns the polylines' point lists.
function lines(values, max, width, height) {
  const runs = [];
  let run = [];
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  values.forEach((value, i) => {
    if (value === null || value === undefined) {
      if (run.length) runs.push(run);
      run = [];
      return;
    }
    const y = height - 2 - (max ? (value / max) * (height - 4) : 0);
    run.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  if (run.length) runs.push(run);
  return runs;
}

function maxOf(series) {
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  return max;
}

// A chart with a title, a line per series and a legend of the latest values.
export function chart(title, series, format) {
  const max = maxOf(series);
  const box = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": title,
  });
  series.forEach((s, i) => {
    for (const run of lines(s.values, max, WIDTH, HEIGHT)) {
      if (run.length === 1) run.push(run[0]);
      box.append(svg("polyline", { points: run.join(" "), class: `line s${i}` }));
    }
  });
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  const heading = document.createElement("strong");
  heading.textContent = title;
  const top = document.createElement("span");
  top.className = "max";
  top.textContent = `max ${format(max)}`;
  caption.append(heading, " ", top);
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("li");
    item.className = `s${i}`;
    const last = s.values.length ? s.values[s.values.length - 1] : null;
    item.textContent = `${s.name} ${format(last)}`;
    legend.append(item);
  });
  figure.append(caption, box, legend);
  return figure;
}

export function sparkline(values) {
  const width = 80;
  const height = 18;
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", "aria-hidden": "true" });
  const max = Math.max(0, ...values.filter((v) => v !== null));
  for (const run of lines(values, max, width, height)) {
    if (run.length === 1) run.push(run[0]);
    box.append(svg("polyline", { points: run.join(" "), class: "line s0" }));
  }
  return box;
}

// The points of the last minutes, kept in step with the live frames.
export class History {
  constructor(limit) {
    this.points = [];
    this.limit = limit;
  }

  load(points) {
    const last = this.points.length ? this.points[0].time : Infinity;
    this.points = points.filter((p) => p.time < last).concat(this.points).slice(-this.limit);
  }

  add(point) {
    if (this.points.length && this.points[this.points.length - 1].time >= point.time) return;
    this.points.push(point);
    if (this.points.length > this.limit) this.points.shift();
  }
}
