// The console's pages other than the dashboard: products, batches, stock, orders, partners, reports.
import { ApiError, call, query, upload } from './api.js';
import { isOperator } from './auth.js';
import { append, h, replace } from './dom.js';
import { bytes, money, number, t, when, word } from './i18n.js';
import { busy, copyButton, dl, field, markFields, notice, pagedTable, pill, problemView, showProblem } from './ui.js';

const BASE = '/console';
const FILE_TYPES = ['.txt', '.csv', '.xlsx'];
const POLL_MS = 1000;

function link(path, text) {
  return h('a', { href: BASE + path, 'data-link': true }, text);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      window.clearTimeout(timer);
      reject(new DOMException('aborted', 'AbortError'));
    });
  });
}

function statusPill(prefix, value) {
  return pill(word(prefix, value), `pill-${value}`);
}

// -- products

const PRODUCT_FIELDS = ['name', 'description', 'price', 'currency', 'cost', 'max_per_order', 'alert_threshold', 'status'];
const NUMBERS = ['price', 'cost', 'max_per_order', 'alert_threshold'];

// Price tiers as people type them: "10:4500, 50:4000" (quantity:unit price in minor units).
const TIERS_PATTERN = '\\s*(\\d+\\s*:\\s*\\d+\\s*(,\\s*\\d+\\s*:\\s*\\d+\\s*)*)?';

function tiersText(tiers) {
  return (tiers || []).map((tier) => `${tier.min_quantity}:${tier.price}`).join(', ');
}

function parseTiers(text) {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [quantity, price] = part.split(':').map((n) => Number(n.trim()));
      return { min_quantity: quantity, price };
    });
}

// A bundle's components as people type them: "GIFT-50:1, GIFT-100:2" (SKU:cards per bundle; ":1" may be left out).
const COMPONENTS_PATTERN = '\\s*([A-Za-z0-9][A-Za-z0-9._\\-]*(\\s*:\\s*\\d+)?\\s*(,\\s*[A-Za-z0-9][A-Za-z0-9._\\-]*(\\s*:\\s*\\d+)?\\s*)*)?';

function componentsText(components) {
  return (components || []).map((c) => `${c.sku}:${c.quantity}`).join(', ');
}

function parseComponents(text) {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [sku, quantity] = part.split(':').map((n) => n.trim());
      return { sku, quantity: quantity === undefined ? 1 : Number(quantity) };
    });
}

function productForm(ctx, product, done) {
  const creating = !product;
  const p = product || { currency: 'CNY', max_per_order: 10, alert_threshold: 10, status: 'active', description: '' };
  const slot = h('div');
  const form = h(
    'form',
    { class: 'panel form-grid', 'aria-label': creating ? t('products.new') : t('products.editing', { sku: p.sku }) },
    h('h2', {}, creating ? t('products.new') : t('products.editing', { sku: p.sku })),
    creating ? field({ name: 'sku', label: t('product.sku'), required: true, maxlength: 64, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*' }) : null,
    field({ name: 'name', label: t('product.name'), value: p.name, required: true, maxlength: 200 }),
    field({ name: 'description', label: t('product.description'), type: 'textarea', value: p.description, maxlength: 5000 }),
    field({ name: 'price', label: t('product.price'), type: 'number', value: p.price, required: true, min: 0, step: 1 }),
    field({ name: 'currency', label: t('product.currency'), value: p.currency, required: true, maxlength: 3 }),
    // What a unit costs the shop (operators only): the dashboard's gross profit. Left empty: none, or unchanged.
    field({ name: 'cost', label: t('product.cost'), type: 'number', value: p.cost ?? '', min: 0, step: 1 }),
    field({ name: 'max_per_order', label: t('product.max_per_order'), type: 'number', value: p.max_per_order, min: 1, max: 64, step: 1 }),
    field({ name: 'alert_threshold', label: t('product.alert_threshold'), type: 'number', value: p.alert_threshold, min: 0, step: 1 }),
    field({
      name: 'status',
      label: t('product.status'),
      value: p.status,
      options: [
        ['active', t('status.active')],
        ['inactive', t('status.inactive')],
      ],
    }),
    field({ name: 'price_tiers', label: t('product.price_tiers'), value: tiersText(p.price_tiers), pattern: TIERS_PATTERN }),
    // A bundle is made so and stays so (its orders keep what they were sold): set at creation only.
    creating
      ? field({ name: 'components', label: t('product.components'), pattern: COMPONENTS_PATTERN })
      : p.components
        ? h('p', { class: 'hint' }, `${t('product.components.of')} ${componentsText(p.components)}`)
        : null,
    // Product forms (CONTRACT §11) get their fields here when the API has them.
    h('p', { class: 'hint' }, t('products.later')),
    slot,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, creating ? t('products.new') : t('save')),
      h('button', { type: 'button', class: 'secondary', onclick: () => done(null) }, t('cancel')),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {};
    for (const name of creating ? ['sku', ...PRODUCT_FIELDS] : PRODUCT_FIELDS) {
      const raw = String(data.get(name) ?? '');
      if (name === 'cost' && raw.trim() === '') continue;
      body[name] = NUMBERS.includes(name) ? Number(raw) : raw.trim();
    }
    body.price_tiers = parseTiers(String(data.get('price_tiers') ?? ''));
    const components = creating ? parseComponents(String(data.get('components') ?? '')) : [];
    if (components.length) body.components = components;
    body.currency = body.currency.toUpperCase();
    replace(slot);
    try {
      const saved = creating
        ? await call('POST', '/v1/admin/products', { body })
        : await call('PUT', `/v1/admin/products/${encodeURIComponent(p.sku)}`, { body });
      done(saved, creating);
    } catch (error) {
      markFields(form, error);
      showProblem(slot, error);
    }
  });
  return form;
}

export function products(ctx) {
  const operator = isOperator(ctx.session);
  const editor = h('div');
  const message = h('div');
  const list = h('div');
  const newButton = operator ? h('button', { type: 'button', onclick: () => edit(null) }, t('products.new')) : null;

  function edit(product) {
    replace(message);
    replace(
      editor,
      productForm(ctx, product, (saved, created) => {
        replace(editor);
        if (saved) {
          replace(message, notice(t(created ? 'products.created' : 'products.saved', { sku: saved.sku })));
          ctx.announce(t(created ? 'products.created' : 'products.saved', { sku: saved.sku }));
          draw();
        }
      }),
    );
    editor.querySelector('input, textarea')?.focus();
  }

  async function setStatus(product, status) {
    try {
      const saved = await call('PUT', `/v1/admin/products/${encodeURIComponent(product.sku)}`, { body: { status } });
      replace(message, notice(t('products.saved', { sku: saved.sku })));
      draw();
    } catch (error) {
      showProblem(message, error);
    }
  }

  function draw() {
    const columns = [
      { label: t('product.sku'), cell: (p) => h('code', {}, p.sku) },
      { label: t('product.name'), cell: (p) => (p.components ? [p.name, ' ', h('span', { class: 'pill', title: componentsText(p.components) }, t('product.bundle'))] : p.name) },
      { label: t('product.price.short'), cell: (p) => money(p.price, p.currency), class: 'num' },
      { label: t('product.max_per_order'), cell: (p) => number(p.max_per_order), class: 'num' },
      { label: t('product.alert_threshold'), cell: (p) => number(p.alert_threshold), class: 'num' },
      { label: t('product.available'), cell: (p) => (p.available === undefined ? '' : number(p.available)), class: 'num' },
      { label: t('product.status'), cell: (p) => statusPill('status', p.status) },
    ];
    if (operator) {
      columns.push({
        label: '',
        cell: (p) =>
          h(
            'div',
            { class: 'row-actions' },
            h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('products.edit')} ${p.sku}`, onclick: () => edit(p) }, t('products.edit')),
            p.status === 'active'
              ? h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('products.deactivate')} ${p.sku}`, onclick: () => setStatus(p, 'inactive') }, t('products.deactivate'))
              : h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('products.activate')} ${p.sku}`, onclick: () => setStatus(p, 'active') }, t('products.activate')),
          ),
      });
    }
    replace(list, pagedTable({ columns, caption: t('products.title'), signal: ctx.signal, load: (cursor) => call('GET', `/v1/admin/products${query({ cursor })}`, { signal: ctx.signal }) }));
  }

  ctx.paint(t('products.title'), h('div', { class: 'page-head' }, h('h1', {}, t('products.title')), newButton), message, editor, list);
  draw();
}

// -- batches

function batchReport(ctx, batch) {
  const box = h('section', { class: 'panel report', 'aria-label': t('batches.report') });
  const voidSlot = h('div');
  append(
    box,
    h('h2', {}, t('batches.report')),
    dl([
      [t('batches.id'), h('code', {}, batch.batch_id)],
      [t('batches.sku'), batch.sku],
      [t('batches.file'), batch.filename],
      [t('batches.status'), statusPill('batch', batch.status)],
      [t('batches.rows'), number(batch.rows)],
      [t('batches.imported'), number(batch.imported)],
      [t('batches.duplicates'), number(batch.duplicates)],
      [t('batches.rejected'), number(batch.rejected)],
      [t('batches.voided'), batch.voided ? number(batch.voided) : null],
      [t('batches.error'), batch.error || null],
    ]),
    batch.rejects_url ? h('p', {}, h('a', { href: batch.rejects_url, rel: 'noreferrer', target: '_blank' }, t('batches.rejects'))) : null,
  );
  if (batch.status === 'completed' && batch.imported > 0 && isOperator(ctx.session)) {
    append(
      box,
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          onclick: async (event) => {
            // Two steps: voiding cannot be undone.
            const button = event.currentTarget;
            if (!button.dataset.armed) {
              button.dataset.armed = '1';
              button.textContent = t('batches.void.confirm');
              return;
            }
            button.disabled = true;
            try {
              const done = await call('POST', `/v1/admin/batches/${encodeURIComponent(batch.batch_id)}/void`, { body: {} });
              replace(voidSlot, notice(t('batches.voided.done', { n: done.voided, held: done.held })));
            } catch (error) {
              showProblem(voidSlot, error);
            }
          },
        },
        t('batches.void'),
      ),
      voidSlot,
    );
  }
  return box;
}

async function follow(ctx, batchId, slot) {
  // Polls until the import is over (a large file takes seconds), showing each state it passes.
  for (;;) {
    const batch = await call('GET', `/v1/admin/batches/${encodeURIComponent(batchId)}`, { signal: ctx.signal });
    replace(slot, batchReport(ctx, batch));
    if (batch.status === 'completed' || batch.status === 'failed') return batch;
    await sleep(POLL_MS, ctx.signal);
  }
}

export function batches(ctx) {
  const skuSlot = h('div');
  const fileInput = h('input', { id: 'batch-file', name: 'file', type: 'file', accept: FILE_TYPES.join(','), class: 'sr-only' });
  const chosen = h('p', { class: 'chosen' });
  const drop = h(
    'label',
    { class: 'dropzone', for: fileInput.id, 'data-testid': 'dropzone' },
    h('span', {}, t('batches.drop')),
    chosen,
  );
  const bar = h('progress', { max: 100, value: 0, 'aria-label': t('batches.progress'), hidden: true });
  const percent = h('span', { class: 'percent' });
  const state = h('div', { role: 'status', 'aria-live': 'polite' });
  const report = h('div');
  const submit = h('button', { type: 'submit' }, t('batches.upload'));
  let file = null;

  function choose(picked) {
    file = picked || null;
    chosen.textContent = file ? `${file.name} (${bytes(file.size)})` : '';
  }
  fileInput.addEventListener('change', () => choose(fileInput.files?.[0]));
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add('dragging');
    });
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    choose(event.dataTransfer?.files?.[0]);
  });

  const form = h('form', { class: 'panel', 'aria-label': t('batches.upload') }, skuSlot, h('div', { class: 'field' }, h('span', { class: 'label' }, t('batches.file')), fileInput, drop), h('div', { class: 'progress-row' }, bar, percent), state, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(report);
    const sku = String(new FormData(form).get('sku') || '');
    if (!file) {
      replace(state, h('p', { class: 'problem', role: 'alert' }, t('batches.nofile')));
      return;
    }
    if (!FILE_TYPES.some((ext) => file.name.toLowerCase().endsWith(ext))) {
      replace(state, h('p', { class: 'problem', role: 'alert' }, t('batches.badtype')));
      return;
    }
    submit.disabled = true;
    try {
      const started = await call('POST', '/v1/admin/batches', { body: { sku, filename: file.name }, signal: ctx.signal });
      bar.hidden = false;
      bar.value = 0;
      replace(state, t('batches.uploading', { name: file.name }));
      await upload(
        started.upload_url,
        file,
        (loaded, total) => {
          const done = total ? Math.round((loaded / total) * 100) : 100;
          bar.value = done;
          percent.textContent = `${done}%`;
        },
        ctx.signal,
      );
      replace(state, t('batches.processing'));
      const batch = await follow(ctx, started.batch_id, report);
      replace(state, word('batch', batch.status));
    } catch (error) {
      if (error?.name === 'AbortError') return;
      if (error instanceof ApiError && error.code === 'UPLOAD_FAILED') {
        replace(state, h('p', { class: 'problem', role: 'alert' }, t('batches.uploadfailed', { status: error.status })));
      } else {
        showProblem(state, error);
      }
    } finally {
      submit.disabled = false;
    }
  });

  const lookupId = field({ name: 'batch_id', label: t('batches.lookup.id'), required: true, maxlength: 64 });
  const lookupSlot = h('div');
  const lookup = h('form', { class: 'panel inline', 'aria-label': t('batches.lookup') }, lookupId, h('button', { type: 'submit', class: 'secondary' }, t('batches.lookup')), lookupSlot);
  lookup.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = String(new FormData(lookup).get('batch_id') || '').trim();
    replace(lookupSlot, busy());
    try {
      await follow(ctx, id, lookupSlot);
    } catch (error) {
      showProblem(lookupSlot, error);
    }
  });

  ctx.paint(t('batches.title'), h('h1', {}, t('batches.title')), h('p', {}, t('batches.intro')), form, report, lookup);
  replace(skuSlot, busy());
  call('GET', '/v1/admin/products', { signal: ctx.signal })
    .then((data) => {
      const options = (data.items || []).map((p) => [p.sku, `${p.sku} · ${p.name}`]);
      replace(skuSlot, field({ name: 'sku', label: t('batches.sku'), options, required: true }));
    })
    .catch((error) => showProblem(skuSlot, error));
}

// -- stock

export function stock(ctx) {
  const low = (s) => s.available <= s.alert_threshold;
  const n = (key) => (s) => number(s[key] ?? 0);
  ctx.paint(
    t('stock.title'),
    h('h1', {}, t('stock.title')),
    pagedTable({
      caption: t('stock.title'),
      signal: ctx.signal,
      rowClass: (s) => (low(s) ? 'low' : null),
      load: (cursor) => call('GET', `/v1/admin/stock${query({ cursor })}`, { signal: ctx.signal }),
      columns: [
        { label: t('product.sku'), cell: (s) => [h('code', {}, s.sku), low(s) ? [' ', pill(t('stock.low'), 'pill-low')] : null] },
        { label: t('stock.imported'), cell: n('imported'), class: 'num' },
        { label: t('stock.available'), cell: n('available'), class: 'num' },
        { label: t('stock.reserved'), cell: n('reserved'), class: 'num' },
        { label: t('stock.sold'), cell: n('sold'), class: 'num' },
        { label: t('stock.redeemed'), cell: n('redeemed'), class: 'num' },
        { label: t('stock.void'), cell: n('void'), class: 'num' },
        { label: t('stock.threshold'), cell: n('alert_threshold'), class: 'num' },
      ],
    }),
  );
}

// -- orders

const ORDER_STATUSES = ['pending_payment', 'paid', 'delivered', 'expired', 'refunded'];

export function orders(ctx) {
  const params = new URLSearchParams(location.search);
  const filters = {
    status: params.get('status') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    email: params.get('email') || '',
  };
  const form = h(
    'form',
    { class: 'panel filters', 'aria-label': t('orders.title') },
    field({ name: 'q', label: t('orders.search'), type: 'search', value: filters.email, autocomplete: 'off' }),
    field({ name: 'status', label: t('orders.status'), value: filters.status, options: [['', t('orders.any')], ...ORDER_STATUSES.map((s) => [s, word('ostatus', s)])] }),
    field({ name: 'from', label: t('orders.from'), type: 'date', value: filters.from }),
    field({ name: 'to', label: t('orders.to'), type: 'date', value: filters.to }),
    h('button', { type: 'submit' }, t('orders.find')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const q = String(data.get('q') || '').trim();
    if (/^ord_[a-z2-7]+$/i.test(q)) {
      ctx.navigate(`/orders/${encodeURIComponent(q)}`);
      return;
    }
    const next = { email: q, status: data.get('status'), from: data.get('from'), to: data.get('to') };
    ctx.navigate(`/orders${query(next)}`);
  });
  const table = pagedTable({
    caption: t('orders.title'),
    signal: ctx.signal,
    load: (cursor) => call('GET', `/v1/admin/orders${query({ ...filters, cursor })}`, { signal: ctx.signal }),
    columns: [
      { label: t('orders.id'), cell: (o) => link(`/orders/${encodeURIComponent(o.order_id)}`, o.order_id) },
      { label: t('orders.created'), cell: (o) => when(o.created_at) },
      { label: t('orders.status'), cell: (o) => statusPill('ostatus', o.status) },
      { label: t('orders.sku'), cell: (o) => o.sku },
      { label: t('orders.quantity'), cell: (o) => number(o.quantity), class: 'num' },
      { label: t('orders.amount'), cell: (o) => money(o.amount, o.currency), class: 'num' },
      { label: t('orders.email'), cell: (o) => o.email },
      { label: t('orders.method'), cell: (o) => (o.payment?.method ? word('method', o.payment.method) : '') },
    ],
  });
  ctx.paint(t('orders.title'), h('h1', {}, t('orders.title')), form, table);
}

export function orderPage(ctx, orderId) {
  const slot = h('div', {}, busy());
  ctx.paint(t('order.title', { id: orderId }), h('p', {}, link('/orders', t('order.back'))), h('h1', {}, t('order.title', { id: orderId })), slot);
  call('GET', `/v1/admin/orders/${encodeURIComponent(orderId)}`, { signal: ctx.signal })
    .then((order) => replace(slot, orderView(ctx, order)))
    .catch((error) => showProblem(slot, error));
}

function orderView(ctx, order) {
  const box = h('div');
  const actions = h('div');
  const redraw = (updated) => replace(box.parentElement || box, orderView(ctx, updated));
  append(
    box,
    h('div', { class: 'panel' }, dl([
      [t('orders.status'), statusPill('ostatus', order.status)],
      [t('orders.sku'), order.sku],
      [t('orders.quantity'), number(order.quantity)],
      [t('orders.subtotal'), order.discounts?.length ? money(order.subtotal, order.currency) : null],
      [t('orders.discounts'), (order.discounts || []).map((d) => `${word('discount', d.kind)} ${d.id}: −${money(d.amount, order.currency)}`).join('; ') || null],
      [t('orders.amount'), money(order.amount, order.currency)],
      [t('orders.email'), order.email],
      [t('orders.method'), order.payment?.method ? word('method', order.payment.method) : null],
      [t('orders.created'), when(order.created_at)],
      [t('order.paid_at'), when(order.paid_at)],
      [t('order.delivered_at'), when(order.delivered_at)],
      [t('order.refunded_at'), when(order.refunded_at)],
      [t('order.transaction'), order.transaction_id],
      [t('order.refund_reason'), order.refund_reason],
      [t('order.review_reason'), order.review_reason],
      [t('order.late'), order.late_payment ? t('yes') : null],
    ])),
    actions,
    h('h2', {}, t('order.history')),
    simpleTable(order.history || [], [
      [t('order.at'), (e) => when(e.at)],
      [t('order.from'), (e) => (e.from_status ? word('ostatus', e.from_status) : '')],
      [t('order.to'), (e) => word('ostatus', e.to_status)],
      [t('order.reason'), (e) => e.reason ?? ''],
      [t('order.actor'), (e) => e.actor ?? ''],
    ]),
    order.cards?.length
      ? [
          h('h2', {}, t('order.cards')),
          simpleTable(order.cards, [
            [t('order.code'), (c) => h('code', {}, c.code)],
            [t('order.batch'), (c) => c.batch_id ?? ''],
            [t('order.card_status'), (c) => c.status ?? ''],
          ]),
        ]
      : null,
  );
  if (isOperator(ctx.session)) {
    const result = h('div');
    const reason = field({ name: 'reason', label: t('order.refund.reason'), required: true, maxlength: 500 });
    const refund = h('form', { class: 'panel inline', 'aria-label': t('order.refund') }, h('h2', {}, t('order.refund')), reason, h('button', { type: 'submit', class: 'danger' }, t('order.refund.confirm')));
    refund.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const updated = await call('POST', `/v1/admin/orders/${encodeURIComponent(order.order_id)}/refund`, {
          body: { reason: String(new FormData(refund).get('reason') || '').trim() },
        });
        ctx.announce(t('order.refund.done'));
        redraw(updated);
      } catch (error) {
        markFields(refund, error);
        showProblem(result, error);
      }
    });
    const check = h('button', { type: 'button', class: 'secondary' }, t('order.check'));
    check.addEventListener('click', async () => {
      check.disabled = true;
      replace(result, busy());
      try {
        const answer = await call('POST', `/v1/admin/orders/${encodeURIComponent(order.order_id)}/payment-check`, { body: {} });
        const applied = answer.applied ? t('order.check.applied', { applied: answer.applied }) : t('order.check.nothing');
        const text = t('order.check.result', { status: answer.provider_status, applied });
        if (answer.applied) redraw(answer.order);
        replace(result, notice(answer.provider_detail ? `${text} ${answer.provider_detail}` : text));
      } catch (error) {
        showProblem(result, error);
      } finally {
        check.disabled = false;
      }
    });
    append(actions, h('div', { class: 'actions' }, check), result, ['paid', 'delivered'].includes(order.status) ? refund : null);
  }
  return box;
}

function simpleTable(items, columns) {
  if (!items.length) return h('p', { class: 'empty' }, t('none'));
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'grid' },
      h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, items.map((item) => h('tr', {}, columns.map(([label, cell]) => h('td', { 'data-label': label }, cell(item)))))),
    ),
  );
}

// -- partners

function secretBox(label, secret) {
  return h('div', { class: 'secret', role: 'status' }, h('p', {}, label), h('p', {}, h('code', { class: 'secret-value' }, secret), ' ', copyButton(secret)));
}

export function partners(ctx) {
  const message = h('div');
  const list = h('div');
  const form = h(
    'form',
    { class: 'panel form-grid', 'aria-label': t('partners.new') },
    h('h2', {}, t('partners.new')),
    field({ name: 'name', label: t('partners.name'), required: true, maxlength: 200 }),
    field({ name: 'skus', label: t('partners.skus') }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('partners.create'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const skus = String(data.get('skus') || '').split(',').map((s) => s.trim()).filter(Boolean);
    const body = { name: String(data.get('name') || '').trim() };
    if (skus.length) body.skus = skus;
    replace(message);
    try {
      const made = await call('POST', '/v1/admin/partners', { body });
      form.reset();
      replace(message, secretBox(`${made.partner_id} · ${t('partners.secret')}`, made.secret));
      draw();
    } catch (error) {
      markFields(form, error);
      showProblem(message, error);
    }
  });

  async function rotate(partner) {
    try {
      const made = await call('POST', `/v1/admin/partners/${encodeURIComponent(partner.partner_id)}/secret`, { body: {} });
      replace(message, secretBox(t('partners.rotated', { id: partner.partner_id }), made.secret));
    } catch (error) {
      showProblem(message, error);
    }
  }

  function draw() {
    replace(
      list,
      pagedTable({
        caption: t('partners.title'),
        signal: ctx.signal,
        load: (cursor) => call('GET', `/v1/admin/partners${query({ cursor })}`, { signal: ctx.signal }),
        columns: [
          { label: t('partners.id'), cell: (p) => h('code', {}, p.partner_id) },
          { label: t('partners.name'), cell: (p) => p.name },
          { label: t('partners.skus.short'), cell: (p) => (p.skus ? p.skus.join(', ') : t('partners.all')) },
          { label: t('product.status'), cell: (p) => statusPill('status', p.status) },
          { label: t('orders.created'), cell: (p) => when(p.created_at) },
          { label: '', cell: (p) => h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('partners.rotate')} ${p.partner_id}`, onclick: () => rotate(p) }, t('partners.rotate')) },
        ],
      }),
    );
  }
  ctx.paint(t('partners.title'), h('h1', {}, t('partners.title')), message, form, list);
  draw();
}

// -- reports

export function reports(ctx) {
  const params = new URLSearchParams(location.search);
  const kind = params.get('kind') || '';
  const slot = h('div');
  const picker = field({
    name: 'kind',
    label: t('reports.kind'),
    value: kind,
    options: [['', t('orders.any')], ...['daily', 'weekly', 'monthly'].map((k) => [k, word('kind', k)])],
  });
  picker.querySelector('select').addEventListener('change', (event) => ctx.navigate(`/reports${query({ kind: event.target.value })}`));

  async function download(report, cell) {
    try {
      const found = await call('GET', `/v1/admin/reports/${encodeURIComponent(report.report_id)}`, { signal: ctx.signal });
      replace(cell, h('a', { href: found.download_url, rel: 'noreferrer', target: '_blank' }, t('reports.link', { id: found.report_id })));
    } catch (error) {
      replace(cell, problemView(error));
    }
  }
  replace(
    slot,
    pagedTable({
      caption: t('reports.title'),
      signal: ctx.signal,
      load: (cursor) => call('GET', `/v1/admin/reports${query({ kind, cursor })}`, { signal: ctx.signal }),
      columns: [
        { label: t('reports.kind'), cell: (r) => word('kind', r.kind) },
        { label: t('reports.period'), cell: (r) => r.period },
        { label: t('reports.size'), cell: (r) => bytes(r.size), class: 'num' },
        { label: t('reports.generated'), cell: (r) => when(r.generated_at) },
        {
          label: '',
          cell: (r) => {
            const cell = h('div');
            append(cell, h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('reports.download')} ${r.report_id}`, onclick: () => download(r, cell) }, t('reports.download')));
            return cell;
          },
        },
      ],
    }),
  );
  ctx.paint(t('reports.title'), h('h1', {}, t('reports.title')), h('div', { class: 'panel inline' }, picker), slot);
}
