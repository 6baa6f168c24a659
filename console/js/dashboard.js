// The dashboard (CONTRACT §14): GET /v1/admin/dashboard?from=&to= drawn with Apache ECharts.
// Every block is drawn only when its field is in the answer; a 404 (the route is not on this API
// yet) says so in words. Charts render tooltips in the canvas (renderMode richText): no HTML
// is built from data, and the page's CSP (no inline style) holds.
import { ApiError, call, query } from './api.js';
import { isOperator } from './auth.js';
import { append, h, replace } from './dom.js';
import { digits, money, number, percent, t, word } from './i18n.js';
import { busy, dl, field, notice, problemView, showProblem } from './ui.js';

const ECHARTS = '/console/vendor/echarts-6.1.0.min.js';
const ZONE = 'Asia/Shanghai'; // the business time zone's default (template parameter)
const COLOURS = ['#0b57a4', '#0a6b2e', '#8a4b00', '#a3001b', '#5b3fa0', '#00707a', '#555555'];
let loading = null;
const live = new Set(); // charts on the page, resized with the window and disposed on leaving

function loadCharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = ECHARTS;
      script.addEventListener('load', () => resolve(window.echarts));
      script.addEventListener('error', () => {
        loading = null;
        reject(new Error('echarts'));
      });
      document.head.append(script);
    });
  }
  return loading;
}

window.addEventListener('resize', () => {
  for (const chart of live) chart.resize();
});

function dispose() {
  for (const chart of live) chart.dispose();
  live.clear();
}

export function today(zone = ZONE) {
  // en-CA formats a date as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

function daysBefore(day, n) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - n);
  return date.toISOString().slice(0, 10);
}

// The currency of the series' amounts (each point names it), else the first of the totals.
function mainCurrency(data) {
  const point = Array.isArray(data.series) ? data.series.find((p) => p && p.currency) : null;
  if (point) return point.currency;
  const totals = Array.isArray(data.currency_totals) ? data.currency_totals : [];
  return totals.length ? totals[0].currency : null;
}

// A point's label: its business day, or for a one-day range its hour (business time, `hour`).
function pointLabel(p, hourly) {
  if (hourly && Number.isInteger(p.hour)) return `${String(p.hour).padStart(2, '0')}:00`;
  const raw = String(p.date ?? p.at ?? '');
  return hourly ? (/T(\d{2}:\d{2})/.exec(raw)?.[1] ?? raw) : raw.slice(0, 10);
}

function major(amount, currency) {
  return currency ? Number(amount) / 10 ** digits(currency) : Number(amount);
}

// A split ([{method|channel|name…, orders|count|amount…}]) as name/value pairs, whatever its keys.
function pairs(items) {
  if (!Array.isArray(items)) return [];
  return items.map((item) => {
    if (typeof item !== 'object' || item === null) return { name: String(item), value: 0 };
    const name = item.method ?? item.payment_method ?? item.channel ?? item.name ?? item.sku ?? Object.values(item).find((v) => typeof v === 'string') ?? '';
    const value = item.orders ?? item.count ?? item.units ?? item.amount ?? Object.values(item).find((v) => typeof v === 'number') ?? 0;
    return { name: String(name), value: Number(value) };
  });
}

function chartBox(label) {
  return h('div', { class: 'chart', role: 'img', 'aria-label': label });
}

function draw(echarts, el, option) {
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  chart.setOption({
    color: COLOURS,
    animation: false,
    textStyle: { fontFamily: 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif' },
    tooltip: { trigger: 'axis', renderMode: 'richText' },
    grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
    ...option,
  });
  live.add(chart);
  return chart;
}

function seriesChart(echarts, el, series, currency, hourly) {
  const labels = series.map((p) => pointLabel(p, hourly));
  draw(echarts, el, {
    legend: { top: 0 },
    xAxis: { type: 'category', data: labels },
    yAxis: [
      { type: 'value', name: currency || t('dash.amount'), position: 'left' },
      { type: 'value', name: t('dash.count'), position: 'right', minInterval: 1 },
    ],
    series: [
      { name: t('dash.amount'), type: 'bar', data: series.map((p) => major(p.amount ?? 0, currency)) },
      { name: t('dash.count'), type: 'line', yAxisIndex: 1, data: series.map((p) => Number(p.orders ?? 0)) },
    ],
  });
}

function pieChart(echarts, el, items, title) {
  draw(echarts, el, {
    tooltip: { trigger: 'item', renderMode: 'richText' },
    legend: { bottom: 0 },
    series: [{ name: title, type: 'pie', radius: ['45%', '78%'], data: items, label: { position: 'inside', formatter: '{d}%', color: '#fff' } }],
  });
}

function topChart(echarts, el, items) {
  const rows = [...items].reverse();
  draw(echarts, el, {
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', data: rows.map((p) => p.name || p.sku) },
    series: [{ name: t('dash.units'), type: 'bar', data: rows.map((p) => Number(p.units ?? 0)) }],
  });
}

function table(headers, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'grid' },
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((cell, i) => h('td', { 'data-label': headers[i] }, cell))))),
    ),
  );
}

function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...body);
}

async function render(ctx, slot, from, to) {
  dispose();
  replace(slot, busy());
  let data;
  let hours = null;
  try {
    data = await call('GET', `/v1/admin/dashboard${query({ from, to })}`, { signal: ctx.signal });
    const day = today();
    hours = from === day && to === day ? data : await call('GET', `/v1/admin/dashboard${query({ from: day, to: day })}`, { signal: ctx.signal });
  } catch (error) {
    if (error?.name === 'AbortError') return;
    if (error instanceof ApiError && error.status === 404 && !error.code.startsWith('UNKNOWN')) {
      replace(slot, notice(t('dash.missing'), 'warn'));
      if (isOperator(ctx.session)) lowStockFallback(ctx, slot);
      return;
    }
    showProblem(slot, error);
    return;
  }
  if (ctx.signal.aborted) return;
  let echarts = null;
  try {
    echarts = await loadCharts();
  } catch {
    echarts = null; // the figures still show as tables
  }
  if (ctx.signal.aborted) return;
  const currency = mainCurrency(data);
  const grid = h('div', { class: 'cards' });
  const pending = []; // charts are drawn once their boxes are in the page (ECharts measures them)
  replace(slot, grid);

  for (const c of Array.isArray(data.currency_totals) ? data.currency_totals : []) {
    append(
      grid,
      card(
        data.currency_totals.length > 1 ? `${t('dash.totals')} · ${c.currency}` : t('dash.totals'),
        h('p', { class: 'big' }, money(c.net, c.currency)),
        dl([
          [t('dash.paid'), money(c.paid, c.currency)],
          [t('dash.refunded'), money(c.refunded, c.currency)],
          [t('dash.net'), money(c.net, c.currency)],
        ]),
      ),
    );
  }
  if (data.orders && typeof data.orders === 'object') {
    append(grid, card(t('dash.orders'), dl(Object.entries(data.orders).map(([status, count]) => [word('ostatus', status), number(count)]))));
  }
  if (data.buyers) {
    append(
      grid,
      card(
        t('dash.buyers'),
        dl([
          [t('dash.buyers.total'), number(data.buyers.total ?? 0)],
          [t('dash.buyers.repeat'), number(data.buyers.repeat ?? 0)],
          [t('dash.buyers.rate'), data.buyers.repeat_rate === undefined ? null : percent(data.buyers.repeat_rate)],
        ]),
      ),
    );
  }
  if (data.funnel) {
    append(
      grid,
      card(
        t('dash.funnel'),
        dl(['created', 'paid', 'delivered'].map((k) => [t(`dash.funnel.${k}`), data.funnel[k] === undefined ? null : number(data.funnel[k])])),
      ),
    );
  }
  if (data.tickets) {
    append(
      grid,
      card(
        t('dash.tickets'),
        dl([
          [t('dash.tickets.open'), number(data.tickets.open ?? 0)],
          [t('dash.tickets.overdue'), number(data.tickets.overdue ?? 0)],
        ]),
      ),
    );
  }
  const wide = (title, box, fallback) => {
    const section = card(title, box);
    section.classList.add('wide');
    append(grid, section);
    if (!echarts) replace(box, fallback());
    return section;
  };
  if (Array.isArray(data.series)) {
    const box = chartBox(t('dash.series'));
    wide(t('dash.series'), box, () => table([t('orders.created'), t('dash.amount'), t('dash.count')], data.series.map((p) => [pointLabel(p, from === to), money(p.amount, currency), number(p.orders)])));
    if (data.series.length) pending.push(() => seriesChart(echarts, box, data.series, currency, from === to));
    else replace(box, h('p', { class: 'empty' }, t('dash.nodata')));
  }
  if (hours && Array.isArray(hours.series)) {
    const box = chartBox(t('dash.today'));
    wide(t('dash.today'), box, () => table([t('orders.created'), t('dash.amount'), t('dash.count')], hours.series.map((p) => [pointLabel(p, true), money(p.amount, currency), number(p.orders)])));
    if (hours.series.length) pending.push(() => seriesChart(echarts, box, hours.series, currency, true));
    else replace(box, h('p', { class: 'empty' }, t('dash.nodata')));
  }
  if (Array.isArray(data.top_products)) {
    const box = chartBox(t('dash.top'));
    box.classList.add('short');
    const rows = data.top_products.map((p) => [p.sku, p.name ?? '', number(p.units ?? 0), money(p.amount, currency)]);
    const section = wide(t('dash.top'), box, () => h('span'));
    append(section, table([t('product.sku'), t('product.name'), t('dash.units'), t('dash.amount')], rows));
    if (data.top_products.length) pending.push(() => topChart(echarts, box, data.top_products));
    else replace(box, h('p', { class: 'empty' }, t('dash.nodata')));
  }
  for (const [key, title] of [
    ['payment_methods', t('dash.methods')],
    ['channels', t('dash.channels')],
  ]) {
    if (!Array.isArray(data[key])) continue;
    const items = pairs(data[key]).map((i) => ({ ...i, name: key === 'payment_methods' ? word('method', i.name) : word('channel', i.name) }));
    const box = chartBox(title);
    const section = card(title, box);
    append(grid, section);
    if (!echarts || !items.length) replace(box, items.length ? table([title, t('dash.count')], items.map((i) => [i.name, number(i.value)])) : h('p', { class: 'empty' }, t('dash.nodata')));
    else pending.push(() => pieChart(echarts, box, items, title));
  }
  for (const p of Array.isArray(data.profit) ? data.profit : []) {
    append(
      grid,
      card(
        data.profit.length > 1 ? `${t('dash.profit')} · ${p.currency}` : t('dash.profit'),
        dl([
          [t('dash.cost'), money(p.cost, p.currency)],
          [t('dash.gross'), money(p.gross_profit, p.currency)],
          [t('dash.margin'), p.margin === undefined || p.margin === null ? null : percent(p.margin)],
        ]),
      ),
    );
  }
  if (Array.isArray(data.low_stock)) {
    append(grid, card(t('dash.lowstock'), lowStockTable(data.low_stock)));
  }
  for (const drawChart of pending) drawChart();
}

function lowStockTable(items) {
  if (!items.length) return h('p', { class: 'empty' }, t('none'));
  return table(
    [t('product.sku'), t('stock.available'), t('stock.threshold')],
    items.map((s) => [h('code', {}, s.sku), number(s.available), number(s.alert_threshold)]),
  );
}

// Without the dashboard route, the low-stock list still comes from GET /v1/admin/stock.
async function lowStockFallback(ctx, slot) {
  try {
    const data = await call('GET', '/v1/admin/stock', { signal: ctx.signal });
    const low = (data.items || []).filter((s) => s.available <= s.alert_threshold);
    append(slot, h('div', { class: 'cards' }, card(t('dash.lowstock'), lowStockTable(low))));
  } catch (error) {
    const view = problemView(error);
    if (view) append(slot, view);
  }
}

export function dashboard(ctx) {
  const params = new URLSearchParams(location.search);
  const to = /^\d{4}-\d{2}-\d{2}$/.test(params.get('to') || '') ? params.get('to') : today();
  const from = /^\d{4}-\d{2}-\d{2}$/.test(params.get('from') || '') ? params.get('from') : daysBefore(to, 29);
  const slot = h('div');
  const form = h(
    'form',
    { class: 'panel filters', 'aria-label': t('dash.title') },
    field({ name: 'from', label: t('dash.from'), type: 'date', value: from, required: true }),
    field({ name: 'to', label: t('dash.to'), type: 'date', value: to, required: true }),
    h('button', { type: 'submit' }, t('dash.show')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    ctx.navigate(`/${query({ from: data.get('from'), to: data.get('to') })}`);
  });
  ctx.signal.addEventListener('abort', dispose);
  ctx.paint(t('dash.title'), h('h1', {}, t('dash.title')), form, slot);
  render(ctx, slot, from, to);
}
