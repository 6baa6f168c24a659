// The console's marketing pages (营销, CONTRACT §8): coupons and promotions, with their use.
import { call, query } from './api.js';
import { addMessages, number, t, when, word } from './i18n.js';
import { h, replace } from './dom.js';
import { field, markFields, notice, pagedTable, pill, showProblem } from './ui.js';

addMessages({
  'zh-CN': {
    'nav.coupons': '优惠券',
    'nav.promotions': '促销活动',
    'coupons.title': '优惠券',
    'coupons.new': '新建优惠券',
    'coupons.code': '券码（留空自动生成）',
    'coupons.code.short': '券码',
    'coupons.kind': '类型',
    'coupons.kind.fixed': '满额立减（分）',
    'coupons.kind.percent': '折扣（%）',
    'coupons.value': '面值（分，或 1-100 的百分比）',
    'coupons.value.short': '面值',
    'coupons.min_spend': '最低消费（分）',
    'coupons.max_uses': '总次数上限',
    'coupons.max_uses_per_email': '每位买家次数上限',
    'coupons.count': '生成数量（大于 1 时生成一次性券码）',
    'coupons.starts_at': '开始时间',
    'coupons.ends_at': '结束时间',
    'coupons.used': '已使用',
    'coupons.held': '占用中',
    'coupons.create': '创建',
    'coupons.created': '已创建 {n} 张优惠券。',
    'coupons.disable': '停用',
    'coupons.disabled': '{code} 已停用。',
    'promotions.title': '促销活动',
    'promotions.new': '新建活动',
    'promotions.kind': '活动类型',
    'promotions.kind.full_reduction': '满减',
    'promotions.kind.flash_sale': '秒杀',
    'promotions.kind.group_buy': '拼团',
    'promotions.name': '名称',
    'promotions.skus': 'SKU（逗号分隔；满减留空为全店）',
    'promotions.tiers': '满减档位（满:减，分，逗号分隔，如 10000:1500, 20000:4000）',
    'promotions.price': '秒杀价（分）',
    'promotions.quantity': '秒杀总量',
    'promotions.max_per_email': '每位买家限购',
    'promotions.window': '时间',
    'promotions.terms': '规则',
    'promotions.sold': '已售 {sold} / {quantity}',
    'promotions.create': '创建',
    'promotions.created': '活动 {id} 已创建。',
    'promotions.disable': '停用',
    'promotions.disabled': '活动 {id} 已停用。',
    'promotions.off': '满 {spend} 减 {off}',
    'orders.subtotal': '原价',
    'orders.discounts': '优惠',
    'discount.tier': '批发价',
    'discount.flash_sale': '秒杀',
    'discount.full_reduction': '满减',
    'discount.coupon': '优惠券',
  },
  en: {
    'nav.coupons': 'Coupons',
    'nav.promotions': 'Promotions',
    'coupons.title': 'Coupons',
    'coupons.new': 'New coupon',
    'coupons.code': 'Code (empty: generated)',
    'coupons.code.short': 'Code',
    'coupons.kind': 'Kind',
    'coupons.kind.fixed': 'Amount off (minor units)',
    'coupons.kind.percent': 'Percent off',
    'coupons.value': 'Value (minor units, or 1-100 percent)',
    'coupons.value.short': 'Value',
    'coupons.min_spend': 'Minimum spend (minor units)',
    'coupons.max_uses': 'Uses in all',
    'coupons.max_uses_per_email': 'Uses per buyer',
    'coupons.count': 'How many (more than 1: single-use codes)',
    'coupons.starts_at': 'Starts',
    'coupons.ends_at': 'Ends',
    'coupons.used': 'Used',
    'coupons.held': 'Held',
    'coupons.create': 'Create',
    'coupons.created': '{n} coupon(s) created.',
    'coupons.disable': 'Disable',
    'coupons.disabled': '{code} disabled.',
    'promotions.title': 'Promotions',
    'promotions.new': 'New promotion',
    'promotions.kind': 'Kind',
    'promotions.kind.full_reduction': 'Full reduction',
    'promotions.kind.flash_sale': 'Flash sale',
    'promotions.kind.group_buy': 'Group buy',
    'promotions.name': 'Name',
    'promotions.skus': 'SKUs (comma-separated; empty for the whole shop, full reductions only)',
    'promotions.tiers': 'Tiers (spend:off in minor units, comma-separated, e.g. 10000:1500, 20000:4000)',
    'promotions.price': 'Sale price (minor units)',
    'promotions.quantity': 'Units in the sale',
    'promotions.max_per_email': 'Units per buyer',
    'promotions.window': 'When',
    'promotions.terms': 'Terms',
    'promotions.sold': '{sold} of {quantity} sold',
    'promotions.create': 'Create',
    'promotions.created': 'Promotion {id} created.',
    'promotions.disable': 'Disable',
    'promotions.disabled': 'Promotion {id} disabled.',
    'promotions.off': '{off} off from {spend}',
    'orders.subtotal': 'List price',
    'orders.discounts': 'Discounts',
    'discount.tier': 'Wholesale price',
    'discount.flash_sale': 'Flash sale',
    'discount.full_reduction': 'Full reduction',
    'discount.coupon': 'Coupon',
  },
});

// A datetime-local input's value as RFC 3339 UTC (the console's times are the browser's own).
function instant(value) {
  return value ? new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
}

function integer(data, name) {
  const raw = String(data.get(name) ?? '').trim();
  return raw === '' ? undefined : Number(raw);
}

function list(text) {
  const items = String(text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

function pairs(text, left, right) {
  return (list(text) || []).map((part) => {
    const [a, b] = part.split(':').map((n) => Number(n.trim()));
    return { [left]: a, [right]: b };
  });
}

function compact(body) {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

function disableButton(label, onClick) {
  return h('button', { type: 'button', class: 'secondary', 'aria-label': label, onclick: onClick }, t('coupons.disable'));
}

// -- coupons

export function coupons(ctx) {
  const message = h('div');
  const table = h('div');
  const form = h(
    'form',
    { class: 'panel form-grid', 'aria-label': t('coupons.new') },
    h('h2', {}, t('coupons.new')),
    field({ name: 'code', label: t('coupons.code'), maxlength: 32, pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]{2,31}' }),
    field({ name: 'kind', label: t('coupons.kind'), value: 'fixed', options: [['fixed', t('coupons.kind.fixed')], ['percent', t('coupons.kind.percent')]] }),
    field({ name: 'value', label: t('coupons.value'), type: 'number', required: true, min: 1, step: 1 }),
    field({ name: 'min_spend', label: t('coupons.min_spend'), type: 'number', min: 0, step: 1 }),
    field({ name: 'max_uses', label: t('coupons.max_uses'), type: 'number', min: 1, step: 1 }),
    field({ name: 'max_uses_per_email', label: t('coupons.max_uses_per_email'), type: 'number', min: 1, step: 1 }),
    field({ name: 'count', label: t('coupons.count'), type: 'number', min: 1, max: 500, step: 1, value: 1 }),
    field({ name: 'starts_at', label: t('coupons.starts_at'), type: 'datetime-local' }),
    field({ name: 'ends_at', label: t('coupons.ends_at'), type: 'datetime-local' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('coupons.create'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const count = integer(data, 'count') ?? 1;
    const body = compact({
      code: String(data.get('code') || '').trim() || undefined,
      kind: String(data.get('kind')),
      value: integer(data, 'value'),
      min_spend: integer(data, 'min_spend'),
      max_uses: integer(data, 'max_uses'),
      max_uses_per_email: integer(data, 'max_uses_per_email'),
      count: count > 1 ? count : undefined,
      starts_at: instant(data.get('starts_at')),
      ends_at: instant(data.get('ends_at')),
    });
    replace(message);
    try {
      const made = await call('POST', '/v1/admin/coupons', { body });
      const n = Array.isArray(made.items) ? made.items.length : 1;
      form.reset();
      replace(message, notice(t('coupons.created', { n })));
      ctx.announce(t('coupons.created', { n }));
      draw();
    } catch (error) {
      markFields(form, error);
      showProblem(message, error);
    }
  });

  async function disable(coupon) {
    try {
      await call('PUT', `/v1/admin/coupons/${encodeURIComponent(coupon.coupon_id)}`, { body: { status: 'disabled' } });
      replace(message, notice(t('coupons.disabled', { code: coupon.code })));
      draw();
    } catch (error) {
      showProblem(message, error);
    }
  }

  function draw() {
    replace(
      table,
      pagedTable({
        caption: t('coupons.title'),
        signal: ctx.signal,
        load: (cursor) => call('GET', `/v1/admin/coupons${query({ cursor })}`, { signal: ctx.signal }),
        columns: [
          { label: t('coupons.code.short'), cell: (c) => h('code', {}, c.code) },
          { label: t('coupons.kind'), cell: (c) => word('coupons.kind', c.kind) },
          { label: t('coupons.value.short'), cell: (c) => (c.kind === 'percent' ? `${c.value}%` : number(c.value)), class: 'num' },
          { label: t('coupons.min_spend'), cell: (c) => (c.min_spend ? number(c.min_spend) : ''), class: 'num' },
          { label: t('coupons.used'), cell: (c) => `${number(c.used)}${c.max_uses ? ` / ${number(c.max_uses)}` : ''}`, class: 'num' },
          { label: t('coupons.held'), cell: (c) => number(c.held), class: 'num' },
          { label: t('promotions.window'), cell: (c) => [c.starts_at ? when(c.starts_at) : '', c.ends_at ? ` – ${when(c.ends_at)}` : ''].join('') },
          { label: t('product.status'), cell: (c) => pill(word('status', c.status), `pill-${c.status}`) },
          { label: '', cell: (c) => (c.status === 'active' ? disableButton(`${t('coupons.disable')} ${c.code}`, () => disable(c)) : '') },
        ],
      }),
    );
  }
  ctx.paint(t('coupons.title'), h('h1', {}, t('coupons.title')), message, form, table);
  draw();
}

// -- promotions

function terms(p) {
  if (p.kind === 'flash_sale') {
    const sold = p.sold === null || p.sold === undefined ? '' : ` · ${t('promotions.sold', { sold: p.sold, quantity: p.quantity })}`;
    return `${number(p.price)} × ${number(p.quantity)}${sold}`;
  }
  return (p.tiers || []).map((tier) => t('promotions.off', { spend: number(tier.min_spend), off: number(tier.off) })).join('; ');
}

export function promotions(ctx) {
  const message = h('div');
  const table = h('div');
  const form = h(
    'form',
    { class: 'panel form-grid', 'aria-label': t('promotions.new') },
    h('h2', {}, t('promotions.new')),
    field({
      name: 'kind',
      label: t('promotions.kind'),
      value: 'full_reduction',
      options: [['full_reduction', t('promotions.kind.full_reduction')], ['flash_sale', t('promotions.kind.flash_sale')]],
    }),
    field({ name: 'name', label: t('promotions.name'), maxlength: 200 }),
    field({ name: 'skus', label: t('promotions.skus') }),
    field({ name: 'starts_at', label: t('coupons.starts_at'), type: 'datetime-local', required: true }),
    field({ name: 'ends_at', label: t('coupons.ends_at'), type: 'datetime-local', required: true }),
    field({ name: 'tiers', label: t('promotions.tiers') }),
    field({ name: 'price', label: t('promotions.price'), type: 'number', min: 0, step: 1 }),
    field({ name: 'quantity', label: t('promotions.quantity'), type: 'number', min: 1, step: 1 }),
    field({ name: 'max_per_email', label: t('promotions.max_per_email'), type: 'number', min: 1, step: 1 }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('promotions.create'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const kind = String(data.get('kind'));
    const body = compact({
      kind,
      name: String(data.get('name') || '').trim() || undefined,
      skus: list(data.get('skus')),
      starts_at: instant(data.get('starts_at')),
      ends_at: instant(data.get('ends_at')),
      tiers: kind === 'full_reduction' ? pairs(data.get('tiers'), 'min_spend', 'off') : undefined,
      price: kind === 'flash_sale' ? integer(data, 'price') : undefined,
      quantity: kind === 'flash_sale' ? integer(data, 'quantity') : undefined,
      max_per_email: kind === 'flash_sale' ? integer(data, 'max_per_email') : undefined,
    });
    replace(message);
    try {
      const made = await call('POST', '/v1/admin/promotions', { body });
      form.reset();
      replace(message, notice(t('promotions.created', { id: made.promotion_id })));
      ctx.announce(t('promotions.created', { id: made.promotion_id }));
      draw();
    } catch (error) {
      markFields(form, error);
      showProblem(message, error);
    }
  });

  async function disable(p) {
    try {
      await call('PUT', `/v1/admin/promotions/${encodeURIComponent(p.promotion_id)}`, { body: { status: 'disabled' } });
      replace(message, notice(t('promotions.disabled', { id: p.promotion_id })));
      draw();
    } catch (error) {
      showProblem(message, error);
    }
  }

  // A flash sale's `sold` comes with its own read (the list leaves it out).
  async function withSold(page) {
    const items = await Promise.all(
      (page.items || []).map((p) => (p.kind === 'flash_sale' ? call('GET', `/v1/admin/promotions/${encodeURIComponent(p.promotion_id)}`, { signal: ctx.signal }) : p)),
    );
    return { ...page, items };
  }

  function draw() {
    replace(
      table,
      pagedTable({
        caption: t('promotions.title'),
        signal: ctx.signal,
        load: async (cursor) => withSold(await call('GET', `/v1/admin/promotions${query({ cursor })}`, { signal: ctx.signal })),
        columns: [
          { label: t('promotions.name'), cell: (p) => p.name || h('code', {}, p.promotion_id) },
          { label: t('promotions.kind'), cell: (p) => word('promotions.kind', p.kind) },
          { label: 'SKU', cell: (p) => (p.skus ? p.skus.join(', ') : t('partners.all')) },
          { label: t('promotions.terms'), cell: (p) => terms(p) },
          { label: t('promotions.window'), cell: (p) => `${when(p.starts_at)} – ${when(p.ends_at)}` },
          { label: t('product.status'), cell: (p) => pill(word('status', p.status), `pill-${p.status}`) },
          { label: '', cell: (p) => (p.status === 'active' ? disableButton(`${t('promotions.disable')} ${p.promotion_id}`, () => disable(p)) : '') },
        ],
      }),
    );
  }
  ctx.paint(t('promotions.title'), h('h1', {}, t('promotions.title')), message, form, table);
  draw();
}
