// Outgoing webhooks (CONTRACT §13): endpoints, their secret shown once, rotation, enable/disable,
// and each endpoint's delivery log with manual retry. Routes: /console/webhooks, /console/webhooks/{id}.
import { call, query } from './api.js';
import { h, replace } from './dom.js';
import { number, t, when, word } from './i18n.js';
import { copyButton, dl, field, markFields, notice, pagedTable, pill, problemView, showProblem } from './ui.js';

const BASE = '/console';
const EVENTS = [
  'order.paid',
  'order.delivered',
  'order.refunded',
  'stock.low',
  'redemption.created',
  'ticket.created',
  'ticket.updated',
  'commission.settled',
];
const NOT_YET = new Set(['ticket.created', 'ticket.updated', 'commission.settled']);

function api(id, rest = '') {
  return `/v1/admin/webhooks/${encodeURIComponent(id)}${rest}`;
}

function secretBox(label, secret) {
  return h('div', { class: 'secret', role: 'status' }, h('p', {}, label), h('p', {}, h('code', { class: 'secret-value' }, secret), ' ', copyButton(secret)));
}

function eventBoxes() {
  return h(
    'fieldset',
    { class: 'field events' },
    h('legend', {}, t('webhooks.events')),
    EVENTS.map((e) =>
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'checkbox', name: 'events', value: e, checked: !NOT_YET.has(e) }),
        ` ${e}`,
        NOT_YET.has(e) ? h('span', { class: 'hint' }, ` (${t('webhooks.notyet')})`) : null,
      ),
    ),
  );
}

export function webhooks(ctx) {
  const message = h('div');
  const list = h('div');
  const form = h(
    'form',
    { class: 'panel form-grid', 'aria-label': t('webhooks.new') },
    h('h2', {}, t('webhooks.new')),
    field({ name: 'url', label: t('webhooks.url'), type: 'url', required: true, maxlength: 2048, hint: t('webhooks.url.hint') }),
    field({ name: 'description', label: t('webhooks.description'), maxlength: 500 }),
    eventBoxes(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('webhooks.create'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { url: String(data.get('url') || '').trim(), events: data.getAll('events').map(String) };
    const description = String(data.get('description') || '').trim();
    if (description) body.description = description;
    replace(message);
    try {
      const made = await call('POST', '/v1/admin/webhooks', { body });
      form.reset();
      replace(message, secretBox(`${made.webhook_id} · ${t('webhooks.secret')}`, made.secret));
      draw();
    } catch (error) {
      markFields(form, error);
      showProblem(message, error);
    }
  });

  async function act(doing, done) {
    try {
      const result = await doing();
      if (done) replace(message, done(result));
      draw();
    } catch (error) {
      showProblem(message, error);
    }
  }

  const rotate = (w) =>
    act(
      () => call('POST', api(w.webhook_id, '/secret'), { body: {} }),
      (made) => secretBox(t('webhooks.rotated', { id: w.webhook_id }), made.secret),
    );
  const toggle = (w) =>
    act(
      () => call('PUT', api(w.webhook_id), { body: { status: w.status === 'enabled' ? 'disabled' : 'enabled' } }),
      (seen) => notice(t(seen.status === 'enabled' ? 'webhooks.enabled' : 'webhooks.disabled', { id: w.webhook_id })),
    );
  const remove = (w) => {
    if (!window.confirm(t('webhooks.confirmdelete', { url: w.url }))) return;
    act(
      () => call('DELETE', api(w.webhook_id)),
      () => notice(t('webhooks.deleted', { id: w.webhook_id })),
    );
  };

  function draw() {
    replace(
      list,
      pagedTable({
        caption: t('webhooks.title'),
        signal: ctx.signal,
        load: (cursor) => call('GET', `/v1/admin/webhooks${query({ cursor })}`, { signal: ctx.signal }),
        rowClass: (w) => (w.failing_since ? 'row-warn' : null),
        columns: [
          { label: t('webhooks.id'), cell: (w) => h('a', { href: `${BASE}/webhooks/${encodeURIComponent(w.webhook_id)}`, 'data-link': true }, h('code', {}, w.webhook_id)) },
          { label: t('webhooks.url'), cell: (w) => h('span', { class: 'url' }, w.url) },
          { label: t('webhooks.description'), cell: (w) => w.description || '' },
          { label: t('webhooks.events'), cell: (w) => w.events.join(', ') },
          {
            label: t('product.status'),
            cell: (w) => [
              pill(word('status', w.status), `pill-${w.status}`),
              w.failing_since ? h('p', { class: 'hint' }, t('webhooks.failing', { since: when(w.failing_since) })) : null,
            ],
          },
          {
            label: '',
            cell: (w) =>
              h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('webhooks.rotate')} ${w.webhook_id}`, onclick: () => rotate(w) }, t('webhooks.rotate')),
                h(
                  'button',
                  { type: 'button', class: 'secondary', 'aria-label': `${t(w.status === 'enabled' ? 'webhooks.disable' : 'webhooks.enable')} ${w.webhook_id}`, onclick: () => toggle(w) },
                  t(w.status === 'enabled' ? 'webhooks.disable' : 'webhooks.enable'),
                ),
                h('button', { type: 'button', class: 'danger', 'aria-label': `${t('webhooks.delete')} ${w.webhook_id}`, onclick: () => remove(w) }, t('webhooks.delete')),
              ),
          },
        ],
      }),
    );
  }
  ctx.paint(t('webhooks.title'), h('h1', {}, t('webhooks.title')), h('p', { class: 'lead' }, t('webhooks.intro')), message, form, list);
  draw();
}

export async function webhookPage(ctx, webhookId) {
  const message = h('div');
  const facts = h('div');
  const log = h('div');
  ctx.paint(
    webhookId,
    h('p', {}, h('a', { href: `${BASE}/webhooks`, 'data-link': true }, `← ${t('webhooks.title')}`)),
    h('h1', {}, t('webhooks.deliveries', { id: webhookId })),
    message,
    facts,
    log,
  );
  try {
    const w = await call('GET', api(webhookId), { signal: ctx.signal });
    replace(
      facts,
      dl([
        [t('webhooks.url'), w.url],
        [t('webhooks.description'), w.description],
        [t('webhooks.events'), w.events.join(', ')],
        [t('product.status'), word('status', w.status)],
        [t('webhooks.failing.short'), w.failing_since ? when(w.failing_since) : null],
        [t('webhooks.grace'), w.previous_secret_valid_until ? when(w.previous_secret_valid_until) : null],
      ]),
    );
  } catch (error) {
    replace(facts, problemView(error));
    return;
  }

  async function retry(d) {
    try {
      await call('POST', api(webhookId, `/deliveries/${encodeURIComponent(d.delivery_id)}/retry`), { body: {} });
      replace(message, notice(t('webhooks.retried', { id: d.event_id })));
      draw();
    } catch (error) {
      showProblem(message, error);
    }
  }

  function draw() {
    replace(
      log,
      pagedTable({
        caption: t('webhooks.deliveries', { id: webhookId }),
        signal: ctx.signal,
        load: (cursor) => call('GET', api(webhookId, `/deliveries${query({ cursor })}`), { signal: ctx.signal }),
        columns: [
          { label: t('webhooks.event'), cell: (d) => [h('code', {}, d.type), h('p', { class: 'hint' }, d.event_id)] },
          { label: t('orders.created'), cell: (d) => when(d.created_at) },
          { label: t('product.status'), cell: (d) => pill(word('delivery', d.status), `pill-${d.status}`) },
          { label: t('webhooks.attempts'), cell: (d) => number(d.attempts), class: 'num' },
          { label: t('webhooks.code'), cell: (d) => (d.last_status_code === null ? '—' : String(d.last_status_code)), class: 'num' },
          { label: t('webhooks.latency'), cell: (d) => (d.last_latency_ms === null ? '' : `${number(d.last_latency_ms)} ms`), class: 'num' },
          { label: t('webhooks.excerpt'), cell: (d) => h('span', { class: 'excerpt' }, d.last_response_excerpt || '') },
          { label: t('webhooks.next'), cell: (d) => when(d.next_attempt_at) },
          {
            label: '',
            cell: (d) => h('button', { type: 'button', class: 'secondary', 'aria-label': `${t('webhooks.retry')} ${d.delivery_id}`, onclick: () => retry(d) }, t('webhooks.retry')),
          },
        ],
      }),
    );
  }
  draw();
}
