/// The live dashboard: one page, everything inline (no CDN: the farm's machines have no
/// internet), that fetches `/state.json` every second and redraws the convergence curve and the
/// tables of layers, hardware, runners and failures.
public enum DashboardPage {
    public static let html = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>vtafarm dashboard</title>
        <style>body{font-family:sans-serif;margin:20px;max-width:1000px;color:#222}
        table{border-collapse:collapse;margin:6px 0 14px}td,th{border:1px solid #ccc;padding:2px 7px;font-size:13px}
        th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}.down{color:#c00}</style></head>
        <body><h1>vtafarm: <span id="model">-</span></h1>
        <p><span id="measured" data-value="0">0</span> of <span id="budget">-</span> measured,
        <span id="filtered">0</span> filtered; best model latency <b id="best" data-value="">-</b> cycles on
        <span id="hardware">-</span>; <span id="explored">0</span> hardware configurations measured.
        <span id="updated"></span></p>
        <svg id="convergence" width="640" height="240" viewBox="0 0 640 240" font-size="11"></svg>
        <h2>Layers</h2><table id="layers"><thead><tr><th>layer</th><th>count</th><th>best</th><th>default</th>
        <th>compute bound</th><th>measured</th><th>best schedule</th></tr></thead><tbody></tbody></table>
        <h2>Hardware (fastest first)</h2><table id="configurations"><thead><tr><th>hardware</th><th>model latency</th></tr></thead><tbody></tbody></table>
        <h2>Runners</h2><table id="runners"><thead><tr><th>runner</th><th>endpoint</th><th>up</th><th>slots</th><th>busy</th>
        <th>queue</th><th>RTT ms</th></tr></thead><tbody></tbody></table>
        <h2>Failures</h2><table id="failures"><thead><tr><th>status</th><th>count</th></tr></thead><tbody></tbody></table>
        <p id="last-error"></p>
        <script>
        "use strict";
        const fmt = n => (n === undefined || n === null) ? "-" : Number(n).toLocaleString("en-US");
        function cell(text, cls, value) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          if (value !== undefined && value !== null) td.dataset.value = String(value);
          return td;
        }
        function fill(id, rows) {
          const body = document.querySelector("#" + id + " tbody");
          body.replaceChildren(...rows.map(cells => { const tr = document.createElement("tr"); tr.append(...cells); return tr; }));
        }
        function curve(points) {
          const svg = document.getElementById("convergence");
          const ns = "http://www.w3.org/2000/svg";
          svg.replaceChildren();
          if (points.length === 0) return;
          const W = 640, H = 240, L = 70, R = 10, T = 10, B = 30;
          const xmax = Math.max(1, ...points.map(p => p.measured));
          const ys = points.map(p => p.cycles), ylo = Math.min(...ys) * 0.95, yhi = Math.max(...ys) * 1.02;
          const px = x => L + x / xmax * (W - L - R), py = y => H - B - (y - ylo) / Math.max(1, yhi - ylo) * (H - T - B);
          let d = "";
          points.forEach((p, i) => {
            if (i > 0) d += " L" + px(p.measured) + "," + py(points[i - 1].cycles);
            d += (i === 0 ? "M" : " L") + px(p.measured) + "," + py(p.cycles);
          });
          d += " L" + px(xmax) + "," + py(points[points.length - 1].cycles);
          const path = document.createElementNS(ns, "path");
          path.setAttribute("d", d); path.setAttribute("fill", "none"); path.setAttribute("stroke", "#1f77b4");
          path.setAttribute("stroke-width", "1.8"); path.id = "best-curve";
          path.dataset.points = String(points.length);
          const axis = document.createElementNS(ns, "path");
          axis.setAttribute("d", "M" + L + "," + T + " L" + L + "," + (H - B) + " L" + (W - R) + "," + (H - B));
          axis.setAttribute("stroke", "#444"); axis.setAttribute("fill", "none");
          const label = (x, y, t, anchor) => { const e = document.createElementNS(ns, "text"); e.setAttribute("x", x);
            e.setAttribute("y", y); e.setAttribute("text-anchor", anchor); e.textContent = t; return e; };
          for (const p of points) {
            const dot = document.createElementNS(ns, "circle");
            dot.setAttribute("cx", px(p.measured)); dot.setAttribute("cy", py(p.cycles)); dot.setAttribute("r", "3");
            dot.setAttribute("fill", "#1f77b4");
            svg.append(dot);
          }
          svg.append(axis, path, label(L - 4, py(yhi) + 10, fmt(Math.round(yhi)), "end"),
            label(L - 4, py(ylo), fmt(Math.round(ylo)), "end"), label(W - R, H - 8, fmt(xmax) + " measurements", "end"));
        }
        async function refresh() {
          try {
            const s = await (await fetch("/state.json", {cache: "no-store"})).json();
            document.getElementById("model").textContent = s.model || "-";
            const m = document.getElementById("measured"); m.textContent = fmt(s.measured); m.dataset.value = String(s.measured);
            document.getElementById("budget").textContent = fmt(s.budget);
            document.getElementById("filtered").textContent = fmt(s.filtered);
            const b = document.getElementById("best"); b.textContent = fmt(s.best); b.dataset.value = s.best === undefined ? "" : String(s.best);
            document.getElementById("hardware").textContent = s.hardware || "-";
            document.getElementById("explored").textContent = fmt(s.hardware_explored);
            curve(s.convergence || []);
            fill("layers", (s.layers || []).map(l => [cell(l.name), cell(fmt(l.count), "n"), cell(fmt(l.best), "n best", l.best),
              cell(fmt(l["default"]), "n"), cell(fmt(l.compute_bound), "n"), cell(fmt(l.measured), "n"), cell(l.schedule || "-")]));
            fill("configurations", (s.configurations || []).map(c => [cell(c.hardware), cell(fmt(c.cycles), "n", c.cycles)]));
            fill("runners", (s.runners || []).map(r => [cell(r.name), cell(r.endpoint), cell(r.up ? "yes" : "no", r.up ? "" : "down"),
              cell(fmt(r.slots), "n"), cell(fmt(r.busy), "n"), cell(fmt(r.queue), "n"),
              cell(r.rtt_ms === undefined ? "-" : r.rtt_ms.toFixed(2), "n")]));
            fill("failures", Object.entries(s.failures || {}).map(([k, v]) => [cell(k), cell(fmt(v), "n", v)]));
            document.getElementById("last-error").textContent = s.last_error ? "last error: " + s.last_error : "";
            document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
          } catch (e) {
            document.getElementById("updated").textContent = "(the coordinator is not answering)";
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script></body></html>
        """
}
