// Kayisu storefront: a small single-page shop over the public API (CONTRACT §1, §2).
// Routes: /  /products/{sku}  /checkout/{sku}?quantity=n  /orders  /orders/{order_id}[#token=...]
import { ApiError, call, newKey } from './api.js';
import { append, h, replace } from './dom.js';
import { day, has, initLang, methodName, money, otherLang, setLang, t, when } from './i18n.js';
import { discountLines, offers, priceProblem, priceSummary } from './pricing.js';
import { qrCode } from './qr.js';
import * as saved from './saved.js';

const FINAL = new Set(['delivered', 'expired', 'refunded']);
const RETURN_KEY = 'kayisu.returnTo'; // the order to show when the payment page sends the shopper back
const RETURN_WINDOW_MS = 2 * 60 * 60 * 1000;

const main = document.getElementById('main');
const live = document.getElementById('announce');
let view = new AbortController();
// What the shopper typed, kept across re-renders (a language switch redraws the page).
const form = { email: '', method: '', quantity: {}, coupon: '', key: '', keyFor: '' };

// -- navigation

function navigate(path, { replace: replaceEntry = false } = {}) {
  history[replaceEntry ? 'replaceState' : 'pushState'](null, '', path);
  window.scrollTo(0, 0);
  render(true);
}

document.addEventListener('click', (event) => {
  const link = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', () => render(true));
// Back from a payment page may restore this page from the back/forward cache: draw it anew.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) render();
});

const ROUTES = [
  [/^\/$/, home],
  [/^\/products\/([^/]+)$/, product],
  [/^\/checkout\/([^/]+)$/, checkout],
  [/^\/orders\/?$/, myOrders],
  [/^\/orders\/([^/]+)$/, order],
];

function render(moveFocus = false) {
  view.abort();
  view = new AbortController();
  const ctx = { signal: view.signal };
  if (moveFocus) main.focus({ preventScroll: true });
  for (const [pattern, show] of ROUTES) {
    const match = pattern.exec(location.pathname);
    if (!match) continue;
    let args;
    try {
      args = match.slice(1).map(decodeURIComponent);
    } catch {
      break;
    }
    show(ctx, ...args);
    return;
  }
  notFound();
}

function paint(title, ...nodes) {
  document.title = title ? `${title} · ${t('site.name')}` : t('site.name');
  replace(main, ...nodes);
}

function announce(text) {
  live.textContent = '';
  window.setTimeout(() => {
    live.textContent = text;
  }, 30);
}

function link(href, text, attrs = {}) {
  return h('a', { href, 'data-link': true, ...attrs }, text);
}

function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('loading'));
}

function isAbort(error) {
  return error?.name === 'AbortError';
}

function words(error) {
  const code = error instanceof ApiError ? error.code : 'NETWORK';
  return has(`error.${code}`) ? t(`error.${code}`) : t('error.default');
}

function errorBox(error, retry) {
  const box = h('div', { class: 'alert', role: 'alert' }, h('p', {}, words(error)));
  if (error instanceof ApiError && error.status >= 500 && error.requestId) {
    append(box, h('p', { class: 'muted small' }, t('error.reference', { id: error.requestId })));
  }
  if (retry) append(box, h('button', { type: 'button', class: 'button secondary', onclick: retry }, t('retry')));
  return box;
}

function applyChrome() {
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const button = document.getElementById('lang');
  button.textContent = t('lang.other');
  button.lang = otherLang();
}

// -- pages

async function home(ctx) {
  const title = t('home.title');
  const head = [h('h1', {}, title), h('p', { class: 'lead' }, t('home.intro'))];
  paint(title, head, loading());
  try {
    const { items } = await call('GET', '/v1/products', { signal: ctx.signal });
    const list = items.length
      ? h('ul', { class: 'products' }, items.map(productCard))
      : h('p', { class: 'muted' }, t('home.empty'));
    paint(title, head, list, recentOrders());
  } catch (error) {
    if (!isAbort(error)) paint(title, head, errorBox(error, () => render()));
  }
}

function stockBadge(p) {
  return h(
    'span',
    { class: `stock stock-${p.stock_status}` },
    has(`stock.${p.stock_status}`) ? t(`stock.${p.stock_status}`, { n: p.available }) : '',
  );
}

function productCard(p) {
  return h(
    'li',
    { class: 'product' },
    h(
      'h2',
      {},
      link(`/products/${encodeURIComponent(p.sku)}`, p.name),
      p.components ? h('span', { class: 'badge' }, t('product.bundle.badge')) : null,
    ),
    p.description ? h('p', { class: 'description' }, p.description) : null,
    h('p', { class: 'meta' }, h('span', { class: 'price' }, money(p.price, p.currency)), ' ', stockBadge(p)),
  );
}

function recentOrders() {
  const entries = saved.all().slice(0, 3);
  if (!entries.length) return null;
  return h(
    'section',
    { class: 'recent', 'aria-labelledby': 'recent-title' },
    h('h2', { id: 'recent-title' }, t('orders.title')),
    orderList(entries, false),
    h('p', {}, link('/orders', t('orders.all'))),
  );
}

// A bundle lists what it holds, by name where the catalog still shows the component.
async function bundleParts(p, signal) {
  let names = {};
  try {
    const listed = await call('GET', '/v1/products', { signal });
    names = Object.fromEntries((listed.items || []).map((item) => [item.sku, item.name]));
  } catch (error) {
    if (isAbort(error)) throw error;
  }
  const list = h('ul', { class: 'bundle-parts' });
  p.components.forEach((c) => append(list, h('li', {}, `${c.quantity} × ${names[c.sku] || c.sku}`)));
  return h('div', { class: 'bundle' }, h('p', { class: 'muted' }, t('product.bundle')), list);
}

function maxQuantity(p) {
  return Math.max(0, Math.min(Number(p.max_per_order) || 0, Number(p.available) || 0));
}

async function product(ctx, sku) {
  const back = h('p', { class: 'back' }, link('/', t('back.products')));
  paint(t('loading'), back, loading());
  let p;
  try {
    p = await call('GET', `/v1/products/${encodeURIComponent(sku)}`, { signal: ctx.signal });
  } catch (error) {
    if (!isAbort(error)) paint(t('error.default'), back, errorBox(error, () => render()));
    return;
  }
  const max = maxQuantity(p);
  let offered = null;
  let holds = null;
  try {
    offered = await offers(p, ctx.signal);
    holds = p.components ? await bundleParts(p, ctx.signal) : null;
  } catch (error) {
    if (isAbort(error)) return;
    throw error;
  }
  const details = [
    h('h1', {}, p.name),
    p.description ? h('p', { class: 'description' }, p.description) : null,
    holds,
    h(
      'p',
      { class: 'meta' },
      h('span', { class: 'muted' }, `${t('product.price')} `),
      h('span', { class: 'price' }, money(p.price, p.currency)),
      ' ',
      stockBadge(p),
    ),
    offered,
  ];
  if (max < 1) {
    paint(p.name, back, details, h('p', { class: 'alert', role: 'status' }, t('product.soldout')));
    return;
  }
  const error = h('p', { id: 'quantity-error', class: 'field-error', hidden: true });
  const input = h('input', {
    id: 'quantity',
    name: 'quantity',
    type: 'number',
    inputmode: 'numeric',
    min: 1,
    max,
    step: 1,
    required: true,
    value: Math.min(form.quantity[sku] || 1, max),
    'aria-describedby': 'quantity-hint quantity-error',
  });
  const submit = (event) => {
    event.preventDefault();
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      error.textContent = t('field.quantity', { max });
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    form.quantity[sku] = n;
    navigate(`/checkout/${encodeURIComponent(sku)}?quantity=${n}`);
  };
  const buy = h(
    'form',
    { class: 'stack', novalidate: true, onsubmit: submit },
    h('label', { for: 'quantity' }, t('product.quantity')),
    input,
    h('p', { id: 'quantity-hint', class: 'hint' }, t('product.limit', { max: p.max_per_order })),
    error,
    h('button', { type: 'submit', class: 'button' }, t('product.buy')),
  );
  paint(p.name, back, details, buy);
}

async function checkout(ctx, sku) {
  const title = t('checkout.title');
  const back = h('p', { class: 'back' }, link(`/products/${encodeURIComponent(sku)}`, t('back.product')));
  paint(title, back, h('h1', {}, title), loading());
  let p;
  try {
    p = await call('GET', `/v1/products/${encodeURIComponent(sku)}`, { signal: ctx.signal });
  } catch (error) {
    if (!isAbort(error)) paint(title, back, h('h1', {}, title), errorBox(error, () => render()));
    return;
  }
  const asked = Number(new URLSearchParams(location.search).get('quantity'));
  const quantity = Number.isInteger(asked) && asked >= 1 && asked <= p.max_per_order ? asked : 1;
  const methods = Array.isArray(p.payment_methods) ? p.payment_methods : [];
  if (!methods.includes(form.method)) form.method = methods[0] || '';

  // The price comes from a quote: wholesale prices, promotions and a coupon, as the order will be.
  const price = priceSummary({ product: p, quantity, signal: ctx.signal, initialCoupon: form.coupon });
  const summary = h(
    'section',
    { class: 'summary', 'aria-labelledby': 'summary-title' },
    h('h2', { id: 'summary-title' }, t('checkout.summary')),
    h('p', {}, t('checkout.line', { name: p.name, n: quantity })),
    price.element,
  );
  if (!methods.length) {
    paint(title, back, h('h1', {}, title), summary, h('p', { class: 'alert', role: 'alert' }, t('checkout.nomethod')));
    return;
  }

  const formError = h('div', { id: 'checkout-error', class: 'form-error', tabindex: -1 });
  const emailError = h('p', { id: 'email-error', class: 'field-error', hidden: true });
  const methodError = h('p', { id: 'method-error', class: 'field-error', hidden: true });
  const email = h('input', {
    id: 'email',
    name: 'email',
    type: 'email',
    autocomplete: 'email',
    inputmode: 'email',
    required: true,
    value: form.email,
    'aria-describedby': 'email-hint email-error',
    oninput: () => {
      form.email = email.value;
    },
  });
  const radios = methods.map((method) =>
    h(
      'label',
      { class: 'choice' },
      h('input', {
        type: 'radio',
        name: 'payment_method',
        value: method,
        checked: method === form.method,
        onchange: () => {
          form.method = method;
        },
      }),
      ' ',
      methodName(method),
    ),
  );
  const button = h('button', { type: 'submit', class: 'button' }, t('checkout.submit'));
  const progress = h('p', { class: 'muted', role: 'status' });

  const fieldError = (field, text) => {
    const el = field === 'email' ? emailError : methodError;
    el.textContent = text;
    el.hidden = false;
    if (field === 'email') email.setAttribute('aria-invalid', 'true');
  };
  const clearErrors = () => {
    replace(formError);
    for (const el of [emailError, methodError]) el.hidden = true;
    email.removeAttribute('aria-invalid');
  };

  const submit = async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors();
    const body = { sku, quantity, email: email.value.trim(), payment_method: form.method };
    form.coupon = price.coupon();
    if (form.coupon) body.coupon = form.coupon;
    if (!/^[^\s@]+@[^\s@]+$/.test(body.email)) {
      fieldError('email', t('field.email'));
      email.focus();
      return;
    }
    if (!methods.includes(body.payment_method)) {
      fieldError('payment_method', t('field.payment_method'));
      return;
    }
    // One key per distinct order: a retry after a lost answer gets the same order back.
    const signature = JSON.stringify(body);
    if (form.keyFor !== signature) {
      form.key = newKey();
      form.keyFor = signature;
    }
    button.disabled = true;
    progress.textContent = t('checkout.submitting');
    let placed;
    try {
      placed = await call('POST', '/v1/orders', { body, idempotencyKey: form.key });
    } catch (error) {
      button.disabled = false;
      progress.textContent = '';
      showCheckoutError(error, { formError, fieldError, email, sku, max: p.max_per_order });
      return;
    }
    form.key = '';
    form.keyFor = '';
    saved.put({
      order_id: placed.order_id,
      access_token: placed.access_token,
      sku: placed.sku,
      created_at: placed.created_at,
      status: placed.status,
    });
    if (ctx.signal.aborted) return; // the shopper went elsewhere; the order is under "My orders"
    progress.textContent = t('checkout.redirecting');
    goPay(placed);
  };

  paint(
    title,
    back,
    h('h1', {}, title),
    summary,
    h(
      'form',
      { class: 'stack', novalidate: true, onsubmit: submit, 'aria-describedby': 'checkout-error' },
      formError,
      h('label', { for: 'email' }, t('checkout.email')),
      email,
      h('p', { id: 'email-hint', class: 'hint' }, t('checkout.email.hint')),
      emailError,
      h(
        'fieldset',
        { 'aria-describedby': 'method-error' },
        h('legend', {}, t('checkout.method')),
        radios,
        methodError,
      ),
      button,
      progress,
    ),
  );
}

function showCheckoutError(error, { formError, fieldError, email, sku, max }) {
  const box = errorBox(error);
  if (error instanceof ApiError && error.code === 'VALIDATION_ERROR') {
    for (const item of error.errors) {
      const field = String(item?.field || '');
      if (field === 'email') fieldError('email', t('field.email'));
      else if (field === 'payment_method') fieldError('payment_method', t('field.payment_method'));
      else if (field === 'quantity') append(box, h('p', {}, t('field.quantity', { max })));
      else append(box, h('p', {}, t('field.other', { field })));
    }
  }
  const words = priceProblem(error);
  if (words) append(box, h('p', {}, words));
  if (error instanceof ApiError && error.code === 'OUT_OF_STOCK') {
    append(box, h('p', {}, link(`/products/${encodeURIComponent(sku)}`, t('back.product'))));
  }
  if (error instanceof ApiError && error.code === 'RATE_LIMITED') {
    append(box, h('p', {}, link('/orders', t('orders.all'))));
  }
  replace(formError, box);
  if (error instanceof ApiError && error.code === 'VALIDATION_ERROR' && !email.hasAttribute('aria-invalid')) {
    formError.focus();
  } else if (email.hasAttribute('aria-invalid')) {
    email.focus();
  } else {
    formError.focus();
  }
}

function isWebUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:';
  } catch {
    return false;
  }
}

function rememberReturn(orderId) {
  try {
    sessionStorage.setItem(RETURN_KEY, JSON.stringify({ order_id: orderId, at: Date.now() }));
  } catch {
    // the order is still under "My orders"
  }
}

// The pay step: redirect providers (sandbox, Alipay, Stripe) get the whole tab; a QR code
// (WeChat Pay's code_url) is shown on the order page.
function goPay(placed) {
  const orderPath = `/orders/${encodeURIComponent(placed.order_id)}`;
  const payment = placed.payment || {};
  if (!payment.qr_code && isWebUrl(payment.pay_url)) {
    rememberReturn(placed.order_id);
    history.replaceState(null, '', orderPath); // Back from the payment page lands on the order
    location.assign(payment.pay_url);
    return;
  }
  navigate(orderPath, { replace: true });
}

function takeReturn() {
  try {
    const raw = sessionStorage.getItem(RETURN_KEY);
    sessionStorage.removeItem(RETURN_KEY);
    const back = raw ? JSON.parse(raw) : null;
    if (back && typeof back.order_id === 'string' && Date.now() - back.at < RETURN_WINDOW_MS) {
      return back.order_id;
    }
  } catch {
    // nothing to return to
  }
  return null;
}

function order(ctx, orderId) {
  try {
    const back = JSON.parse(sessionStorage.getItem(RETURN_KEY) || 'null');
    if (back?.order_id === orderId) sessionStorage.removeItem(RETURN_KEY);
  } catch {
    // ignore
  }
  // The delivery mail's link carries the token in the fragment, which never reaches a server.
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  let entry = saved.get(orderId);
  let fallback = null; // a token this device had before the link's, should the link's be wrong
  if (fromLink) {
    if (entry?.access_token && entry.access_token !== fromLink) fallback = entry.access_token;
    entry = saved.put({ order_id: orderId, access_token: fromLink, created_at: entry?.created_at || '' });
    history.replaceState(null, '', location.pathname + location.search);
  }
  const title = t('order.title');
  const head = [
    h('h1', {}, title),
    h('p', { class: 'order-id' }, `${t('order.id')} `, h('code', {}, orderId)),
  ];
  if (!entry?.access_token) {
    paint(title, head, h('p', { class: 'alert', role: 'alert' }, t('order.notoken')));
    return;
  }
  const status = h('div', { class: 'order-status', role: 'status', 'aria-live': 'polite' }, loading());
  const body = h('div', { class: 'order-body' });
  const note = h('p', { class: 'muted small', 'aria-live': 'polite' });
  paint(title, head, status, note, body);

  let delay = 1000;
  let timer = 0;
  let last = null;
  let productName = null;
  ctx.signal.addEventListener('abort', () => window.clearTimeout(timer));

  const schedule = (ms) => {
    timer = window.setTimeout(tick, ms);
  };
  const tick = async () => {
    if (ctx.signal.aborted) return;
    if (document.hidden) {
      document.addEventListener('visibilitychange', () => !ctx.signal.aborted && tick(), { once: true });
      return;
    }
    let o;
    try {
      o = await call('GET', `/v1/orders/${encodeURIComponent(orderId)}`, {
        token: entry.access_token,
        signal: ctx.signal,
      });
    } catch (error) {
      if (isAbort(error)) return;
      if (error instanceof ApiError && error.status === 404 && fallback) {
        entry = saved.put({ order_id: orderId, access_token: fallback });
        fallback = null;
        tick();
        return;
      }
      if (error instanceof ApiError && error.status > 0 && error.status < 500) {
        replace(status, errorBox(error));
        replace(
          body,
          h('button', { type: 'button', class: 'button secondary', onclick: () => forget(orderId) }, t('order.remove')),
        );
        return;
      }
      note.textContent = t('order.retrying');
      delay = Math.min(delay * 2, 15000);
      schedule(delay);
      return;
    }
    note.textContent = '';
    saved.update(orderId, { status: o.status, sku: o.sku, created_at: o.created_at });
    if (o.status !== last) {
      last = o.status;
      delay = 1000;
      replace(status, h('p', { class: `badge status-${o.status}` }, t(`status.${o.status}`)));
      replace(body, orderBody(o, productName));
      if (productName === null) {
        productName = '';
        nameOf(o.sku, ctx.signal).then((name) => {
          productName = name;
          const cell = body.querySelector('[data-product]');
          if (name && cell) cell.textContent = name;
        });
      }
    }
    if (FINAL.has(o.status)) return;
    delay = o.status === 'paid' ? 1000 : Math.min(delay * 1.5, 5000);
    schedule(delay);
  };
  tick();
}

async function nameOf(sku, signal) {
  try {
    return (await call('GET', `/v1/products/${encodeURIComponent(sku)}`, { signal })).name;
  } catch {
    return '';
  }
}

function forget(orderId) {
  saved.remove(orderId);
  navigate('/orders');
}

function orderBody(o, productName) {
  const facts = h(
    'dl',
    { class: 'facts' },
    h('dt', {}, t('order.product')),
    h('dd', { 'data-product': true }, productName || o.sku),
    h('dt', {}, t('order.quantity')),
    h('dd', {}, String(o.quantity)),
    ...discountLines(o),
    h('dt', {}, t('order.amount')),
    h('dd', {}, money(o.amount, o.currency)),
    h('dt', {}, t('order.created')),
    h('dd', {}, when(o.created_at)),
    h('dt', {}, t('order.email')),
    h('dd', {}, o.email),
  );
  const parts = [];
  if (o.status === 'pending_payment') parts.push(payStep(o));
  if (o.status === 'paid') parts.push(h('p', { class: 'working' }, t('order.paid.text')));
  if (o.status === 'delivered') parts.push(cards(o));
  if (o.status === 'expired') {
    parts.push(
      h('p', { class: 'alert' }, t('order.expired.text')),
      h('p', {}, link(`/products/${encodeURIComponent(o.sku)}`, t('order.buy.again'), { class: 'button' })),
    );
  }
  if (o.status === 'refunded') {
    parts.push(h('p', { class: 'alert' }, t('order.refunded.text', { time: when(o.refunded_at || o.created_at) })));
  }
  return [parts, facts];
}

function payStep(o) {
  const payment = o.payment || {};
  const section = h(
    'section',
    { class: 'pay' },
    h('p', {}, t('order.pending.text', { time: when(o.expires_at) })),
  );
  if (payment.qr_code) {
    append(
      section,
      h('p', {}, t('order.scan', { method: methodName(payment.method) })),
      h('div', { class: 'qr-box' }, qrCode(payment.qr_code, t('order.scan.label'))),
    );
  } else if (isWebUrl(payment.pay_url)) {
    append(
      section,
      h(
        'p',
        {},
        h(
          'a',
          {
            class: 'button',
            href: payment.pay_url,
            rel: 'noreferrer noopener',
            onclick: () => rememberReturn(o.order_id),
          },
          t('order.pay'),
        ),
      ),
    );
  }
  return section;
}

function cards(o) {
  const list = h('ol', { class: 'cards' });
  (o.cards || []).forEach((card, i) => {
    const n = i + 1;
    const code = h('code', { class: 'card-code', id: `code-${n}` }, card.code);
    const button = h(
      'button',
      { type: 'button', class: 'button secondary copy', 'aria-label': t('order.copy.label', { n }) },
      t('order.copy'),
    );
    button.addEventListener('click', () => copy(card.code, code, button));
    append(
      list,
      h(
        'li',
        { class: 'card' },
        h('p', { class: 'card-title' }, card.sku ? t('order.code.of', { n, sku: card.sku }) : t('order.code', { n })),
        h('div', { class: 'code-row' }, code, button),
        card.serial ? h('p', { class: 'small' }, `${t('order.serial')} `, h('code', {}, card.serial)) : null,
        card.expires_at ? h('p', { class: 'small' }, `${t('order.valid')} ${day(card.expires_at)}`) : null,
        h('div', { class: 'qr-box' }, qrCode(card.code, t('order.qr', { n }))),
      ),
    );
  });
  return [h('p', {}, t('order.delivered.text')), list];
}

async function copy(text, codeElement, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange();
    range.selectNodeContents(codeElement);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    announce(t('order.copy.failed'));
    return;
  }
  button.textContent = t('order.copied');
  announce(t('order.copied'));
  window.setTimeout(() => {
    button.textContent = t('order.copy');
  }, 2000);
}

function orderList(entries, withRemove) {
  return h(
    'ul',
    { class: 'orders' },
    entries.map((e) => {
      const about = `about-${e.order_id}`;
      const status = has(`status.${e.status}`) ? t(`status.${e.status}`) : t('orders.unknown');
      return h(
        'li',
        { class: 'saved-order' },
        link(`/orders/${encodeURIComponent(e.order_id)}`, e.sku || e.order_id, { 'aria-describedby': about }),
        h('span', { class: `badge status-${e.status || 'unknown'}` }, status),
        h(
          'span',
          { class: 'muted small order-ref', id: about },
          e.created_at ? `${when(e.created_at)} · ` : '',
          e.order_id,
        ),
        withRemove
          ? h(
              'button',
              {
                type: 'button',
                class: 'link-button',
                'aria-describedby': about,
                onclick: () => forget(e.order_id),
              },
              t('order.remove'),
            )
          : null,
      );
    }),
  );
}

function myOrders() {
  const title = t('orders.title');
  const entries = saved.all();
  paint(
    title,
    h('p', { class: 'back' }, link('/', t('back.products'))),
    h('h1', {}, title),
    h('p', { class: 'lead' }, t('orders.intro')),
    entries.length ? orderList(entries, true) : h('p', { class: 'muted' }, t('orders.empty')),
  );
}

function notFound() {
  const title = t('notfound.title');
  paint(title, h('h1', {}, title), h('p', {}, t('notfound.text')), h('p', {}, link('/', t('back.products'))));
}

// -- start

initLang();
applyChrome();
document.getElementById('lang').addEventListener('click', () => {
  setLang(otherLang());
  applyChrome();
  render();
  announce(t('lang.other') === 'English' ? '已切换到中文' : 'Switched to English');
});
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
if (location.pathname === '/') {
  const back = takeReturn();
  if (back) history.replaceState(null, '', `/orders/${encodeURIComponent(back)}`);
}
render();
