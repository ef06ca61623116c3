(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  document.documentElement.classList.add('js');
  let rows = [];
  let sortKey = 'sev';
  let sortDir = -1;
  const open = new Set();
  const ascFirst = new Set(['det', 'client', 'start']);

  function load() {
    const data = JSON.parse($('gw-data').textContent);
    rows = data.incidents || [];
    return data;
  }
  function bodies() {
    const t = $('incidents');
    return t ? Array.from(t.tBodies) : [];
  }
  function row(b) {
    return rows[+b.dataset.i] || {};
  }
  function has(s, q) {
    return !q || String(s || '').toLowerCase().includes(q);
  }
  function apply() {
    const sev = +$('f-sev').value || 0;
    const det = $('f-det').value;
    const cl = $('f-client').value.trim().toLowerCase();
    const rt = $('f-route').value.trim().toLowerCase();
    const all = bodies();
    let n = 0;
    for (const b of all) {
      const r = row(b);
      const ok = r.sev >= sev && (!det || r.det === det || (r.dets || []).includes(det)) &&
        (has(r.client, cl) || (cl && has(r.clients, cl))) && has(r.routes, rt);
      b.hidden = !ok;
      if (ok) n++;
    }
    $('f-count').textContent = n + ' of ' + all.length + ' shown';
  }
  function sort() {
    const t = $('incidents');
    if (!t) return;
    const all = bodies();
    all.sort((a, b) => {
      const x = row(a)[sortKey];
      const y = row(b)[sortKey];
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c * sortDir || (+a.dataset.i - +b.dataset.i);
    });
    for (const b of all) t.appendChild(b);
    for (const th of t.tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      const on = th.dataset.key === sortKey;
      th.setAttribute('aria-sort', on ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }
  function toggle(b, on) {
    b.classList.toggle('open', on);
    const x = b.querySelector('button.x');
    if (x) x.setAttribute('aria-expanded', String(on));
    if (on) open.add(b.dataset.id); else open.delete(b.dataset.id);
  }
  function bind() {
    const t = $('incidents');
    if (!t) return;
    t.tHead.addEventListener('click', (e) => {
      const th = e.target.closest('th[data-key]');
      if (!th) return;
      const k = th.dataset.key;
      sortDir = k === sortKey ? -sortDir : (ascFirst.has(k) ? 1 : -1);
      sortKey = k;
      sort();
    });
    t.addEventListener('click', (e) => {
      const x = e.target.closest('button.x');
      if (!x) return;
      const b = x.closest('tbody');
      toggle(b, !b.classList.contains('open'));
    });
    for (const b of bodies()) if (open.has(b.dataset.id)) toggle(b, true);
    sort();
    apply();
  }
  function swap(doc) {
    for (const id of ['hdr', 'incidents', 'overview', 'top', 'gw-data', 'omitted']) {
      const a = $(id);
      const b = doc.getElementById(id);
      if (a && b) a.replaceWith(document.importNode(b, true));
    }
    const sel = $('f-det');
    const nsel = doc.getElementById('f-det');
    if (sel && nsel) {
      const v = sel.value;
      sel.replaceChildren(...Array.from(nsel.options, (o) => document.importNode(o, true)));
      sel.value = v;
    }
  }
  function refresh() {
    fetch(location.href, { cache: 'no-store', credentials: 'same-origin' })
      .then((r) => {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then((text) => {
        swap(new DOMParser().parseFromString(text, 'text/html'));
        load();
        bind();
        $('live').textContent = 'updated ' + new Date().toLocaleTimeString();
      })
      .catch((err) => {
        $('live').textContent = 'refresh failed: ' + err.message;
      });
  }
  for (const id of ['f-sev', 'f-det', 'f-client', 'f-route']) $(id).addEventListener('input', apply);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  const data = load();
  bind();
  if (data.refresh > 0) setInterval(refresh, data.refresh);
})();
