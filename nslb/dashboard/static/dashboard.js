// nslb dashboard: polls the JSON feeds of /dashboard and updates the page in place.
// Every value is written with textContent or as an attribute, never as markup.
"use strict";
(() => {
  const LIST_MS = 2000, LB_MS = 1000, HISTORY = 120, W = 240, H = 40;
  const $ = (sel, root = document) => root.querySelector(sel);
  const setText = (el, value) => { if (el && el.textContent !== value) el.textContent = value; };
  const utc = (at) => new Date(at * 1000).toISOString().replace("T", " ").slice(0, 19);

  function poll(url, every, apply) {
    const tick = async () => {
      try {
        const answer = await fetch(url, {credentials: "same-origin", cache: "no-store"});
        if (answer.status === 401) { location.assign("/dashboard/login"); return; }
        if (!answer.ok) throw new Error(String(answer.status));
        apply(await answer.json());
        $("#stale").hidden = true;
      } catch (err) {
        $("#stale").hidden = false;
      }
      setTimeout(tick, every);
    };
    tick();
  }

  function paint(el, prov, op) {
    el.dataset.prov = prov;
    el.dataset.op = op;
    setText($(".prov", el), prov);
    setText($(".op", el), op);
  }

  function cell(tr, text, cls) {
    const td = tr.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  // --- the list of load balancers -------------------------------------------------------
  function listRow(lb, allProjects) {
    const tr = document.createElement("tr");
    tr.dataset.id = lb.id;
    const link = document.createElement("a");
    link.href = "/dashboard/loadbalancers/" + encodeURIComponent(lb.id);
    link.textContent = lb.name || lb.id;
    tr.insertCell().append(link);
    cell(tr, lb.vip_address);
    for (const cls of ["prov", "op"]) {
      const badge = document.createElement("span");
      badge.className = "badge " + cls;
      tr.insertCell().append(badge);
    }
    if (allProjects) cell(tr, lb.project_id, "mono");
    paint(tr, lb.provisioning_status, lb.operating_status);
    return tr;
  }

  function showList(feed) {
    const rows = feed.loadbalancers.map((lb) => listRow(lb, feed.all_projects));
    $("#lbs").replaceChildren(...rows);
    $("#no-lbs").hidden = rows.length > 0;
  }

  // --- one load balancer: statuses, graphs, amphorae, events -----------------------------
  const series = new Map(); // object id -> {last: [at, requests, conns, errors], points: [[rps, conns, eps]]}

  function fold(traffic) {
    for (const [id, [req, conn, err]] of Object.entries(traffic.counters)) {
      const s = series.get(id) || {last: null, points: []};
      series.set(id, s);
      if (s.last && traffic.at <= s.last[0]) continue; // the same health round again
      if (s.last) {
        const dt = traffic.at - s.last[0];
        // a counter that went back was reset (haproxy restarted, a failover): no rate then
        const rate = (now, before) => (now >= before ? (now - before) / dt : 0);
        s.points.push([rate(req, s.last[1]), conn, rate(err, s.last[3])]);
        if (s.points.length > HISTORY) s.points.shift();
      }
      s.last = [traffic.at, req, conn, err];
    }
  }

  function draw(svg, points) {
    const top = Math.max(1, ...points.flat());
    svg.querySelectorAll("polyline").forEach((line, k) => {
      const xy = points.map((p, i) => {
        const x = (W * (HISTORY - points.length + i)) / (HISTORY - 1);
        const y = H - 2 - ((H - 4) * p[k]) / top;
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      line.setAttribute("points", xy.join(" "));
    });
  }

  function showGraphs() {
    for (const svg of document.querySelectorAll("svg[data-graph]")) {
      const s = series.get(svg.dataset.graph);
      if (!s || !s.points.length) continue;
      draw(svg, s.points);
      const [rps, conn, eps] = s.points[s.points.length - 1];
      svg.dataset.rps = rps.toFixed(2);
      for (const fig of document.querySelectorAll("[data-figures]")) {
        if (fig.dataset.figures === svg.dataset.graph) {
          setText(fig, `${rps.toFixed(1)} req/s · ${conn} conn · ${eps.toFixed(1)} err/s`);
        }
      }
    }
  }

  function showAmphorae(amphorae) {
    const body = $("#amphorae");
    if (!body || !amphorae) return;
    body.replaceChildren(...amphorae.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.amphora = a.id;
      cell(tr, a.id, "mono"); cell(tr, a.role); cell(tr, a.status, "status"); cell(tr, a.host);
      cell(tr, a.namespace, "mono"); cell(tr, a.vrrp_ip, "mono");
      cell(tr, a.vrrp_state, "vrrp"); cell(tr, a.running, "running");
      return tr;
    }));
  }

  function showEvents(events) {
    $("#events").replaceChildren(...events.map((e) => {
      const li = document.createElement("li");
      li.dataset.kind = e.kind;
      const time = document.createElement("time");
      time.textContent = utc(e.at);
      const text = document.createElement("span");
      text.textContent = e.text;
      li.append(time, " ", text);
      return li;
    }));
  }

  function showLb(feed) {
    const shown = new Set();
    for (const el of document.querySelectorAll("#lb-page [data-id]")) {
      shown.add(el.dataset.id);
      const status = feed.objects[el.dataset.id];
      if (status) paint(el, status[0], status[1]);
    }
    const ids = Object.keys(feed.objects);
    $("#changed").hidden = ids.length === shown.size && ids.every((id) => shown.has(id));
    if (feed.traffic) { fold(feed.traffic); showGraphs(); }
    showAmphorae(feed.amphorae);
    showEvents(feed.events);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = $("#lb-table"), lb = $("#lb-page");
    if (list) poll(list.dataset.feed, LIST_MS, showList);
    if (lb) poll(lb.dataset.feed, LB_MS, showLb);
  });
})();
