// nslb dashboard: polls the JSON feeds of /dashboard and updates the page in place.
// Every value is written with textContent or as an attribute, never as markup.
"use strict";
(() => {
  const LIST_MS = 2000, LB_MS = 1000, WINDOW = 120, MIN_SPAN = 15, GW = 120, GH = 28;
  const LIST_FEED = "/dashboard/api/loadbalancers";
  const $ = (sel, root = document) => root.querySelector(sel);
  const setText = (el, value) => { if (el && el.textContent !== value) el.textContent = value; };
  const utc = (at) => new Date(at * 1000).toISOString().replace("T", " ").slice(0, 19);

  function poll(url, every, apply) {
    const tick = async () => {
      try {
        const answer = await fetch(url, {credentials: "same-origin", cache: "no-store"});
        if (answer.status === 401) { location.assign("/dashboard/login"); return; }
        // the load balancer was deleted (or moved out of sight): back to the list
        if (answer.status === 404 && url !== LIST_FEED) { location.assign("/dashboard/"); return; }
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
  // Each listener and member has three small graphs (requests/s, open connections,
  // errors/s), each on its own scale, over the last WINDOW seconds of server time. The
  // feed carries cumulative counters as the health loop last read them; rates are the
  // difference between two health rounds, so the history lives here, in the page.
  const METRICS = [
    {key: "rps", digits: 1, floor: 1},
    {key: "conn", digits: 0, floor: 1},
    {key: "eps", digits: 1, floor: 1},
  ];
  const series = new Map(); // object id -> {last: [at, requests, errors] | null, points: [{at, rps, conn, eps}]}
  let serverNow = 0;

  function fold(traffic) {
    for (const [id, [req, conn, err]] of Object.entries(traffic.counters)) {
      const s = series.get(id) || {last: null, points: []};
      series.set(id, s);
      if (s.last && traffic.at <= s.last[0]) continue; // the same health round again
      if (s.last) {
        const dt = traffic.at - s.last[0];
        // a counter that went back was reset (haproxy restarted, a failover): no rate then
        const rate = (now, before) => (now >= before ? (now - before) / dt : 0);
        s.points.push({at: traffic.at, rps: rate(req, s.last[1]), conn, eps: rate(err, s.last[2])});
        while (s.points.length && s.points[0].at < traffic.at - WINDOW - 10) s.points.shift();
      }
      s.last = [traffic.at, req, err];
    }
  }

  function draw(spark, points, key, top, span) {
    const x = (at) => (GW * (at - (serverNow - span))) / span;
    const y = (v) => GH - 1 - ((GH - 3) * v) / top;
    const xy = points.map((p) => x(p.at).toFixed(1) + "," + y(p[key]).toFixed(1));
    $("polyline", spark).setAttribute("points", xy.join(" "));
    const area = xy.length
      ? [x(points[0].at).toFixed(1) + "," + GH, ...xy, x(points[points.length - 1].at).toFixed(1) + "," + GH]
      : [];
    $("polygon", spark).setAttribute("points", area.join(" "));
  }

  function showGraphs() {
    for (const box of document.querySelectorAll("[data-graph]")) {
      const s = series.get(box.dataset.graph);
      if (!s || !s.points.length || s.points[s.points.length - 1].at < serverNow - WINDOW) continue;
      const latest = s.points[s.points.length - 1];
      const shown = s.points.filter((p) => p.at >= serverNow - WINDOW - 5);
      // the time axis grows with the history this page has, from MIN_SPAN up to WINDOW
      const span = Math.min(WINDOW, Math.max(MIN_SPAN, serverNow - shown[0].at));
      for (const m of METRICS) {
        const spark = $(`.spark[data-metric="${m.key}"]`, box);
        const top = Math.max(m.floor, ...shown.map((p) => p[m.key]));
        draw(spark, shown, m.key, top, span);
        setText($(".value", spark), latest[m.key].toFixed(m.digits));
        spark.title = `peak ${top.toFixed(m.digits)} in the last ${WINDOW / 60} minutes`;
        spark.dataset.nonzero = latest[m.key] > 0 ? "yes" : "no";
        box.dataset[m.key] = latest[m.key].toFixed(2);
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
    serverNow = feed.at;
    if (feed.traffic) fold(feed.traffic);
    showGraphs(); // also slides the graphs along while no new health round came in
    showAmphorae(feed.amphorae);
    showEvents(feed.events);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = $("#lb-table"), lb = $("#lb-page");
    if (list) poll(list.dataset.feed, LIST_MS, showList);
    if (lb) poll(lb.dataset.feed, LB_MS, showLb);
  });
})();
