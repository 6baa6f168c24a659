// The checkout's price (CONTRACT §8): the quote's steps (wholesale price, full reduction, flash
// sale, coupon) before paying, and a coupon field. POST /v1/quotes prices it exactly as the order.
import { ApiError, call } from './api.js';
import { h, replace } from './dom.js';
import { addMessages, money, t, when } from './i18n.js';

addMessages({
  'zh-CN': {
    'price.subtotal': '原价',
    'price.tier': '批发价',
    'price.flash_sale': '秒杀价',
    'price.full_reduction': '满减',
    'price.coupon': '优惠券',
    'price.updating': '正在计算价格…',
    'coupon.label': '优惠券码（可选）',
    'coupon.apply': '使用',
    'coupon.remove': '不用优惠券',
    'coupon.applied': '已使用优惠券 {code}。',
    'coupon.unknown': '没有这个优惠券码。',
    'coupon.disabled': '这个优惠券已停用。',
    'coupon.not_started': '这个优惠券还未到使用时间。',
    'coupon.expired': '这个优惠券已过期。',
    'coupon.min_spend': '订单金额未达到这个优惠券的最低消费。',
    'coupon.sku_scope': '这个优惠券不适用于该商品。',
    'coupon.used_up': '这个优惠券已被领完。',
    'coupon.per_buyer_limit': '你已用完这个优惠券的次数。',
    'flash.sold_out': '秒杀已抢光，活动结束后恢复原价购买。',
    'offers.title': '优惠',
    'offers.tier': '{n} 件起每件 {price}',
    'offers.flash_sale': '秒杀价 {price}，至 {until}',
    'offers.full_reduction': '满 {spend} 减 {off}',
    'order.discounts': '优惠',
  },
  en: {
    'price.subtotal': 'List price',
    'price.tier': 'Wholesale price',
    'price.flash_sale': 'Flash sale',
    'price.full_reduction': 'Spend-and-save',
    'price.coupon': 'Coupon',
    'price.updating': 'Working out the price…',
    'coupon.label': 'Coupon code (optional)',
    'coupon.apply': 'Apply',
    'coupon.remove': 'No coupon',
    'coupon.applied': 'Coupon {code} applied.',
    'coupon.unknown': 'There is no such coupon code.',
    'coupon.disabled': 'This coupon has been switched off.',
    'coupon.not_started': 'This coupon cannot be used yet.',
    'coupon.expired': 'This coupon has expired.',
    'coupon.min_spend': 'This order does not reach the coupon’s minimum spend.',
    'coupon.sku_scope': 'This coupon is not for this product.',
    'coupon.used_up': 'This coupon has been used up.',
    'coupon.per_buyer_limit': 'You have used this coupon as often as it allows.',
    'flash.sold_out': 'The flash sale is sold out; the product is back at its price when the sale ends.',
    'offers.title': 'Offers',
    'offers.tier': '{price} each from {n}',
    'offers.flash_sale': 'Flash sale: {price} until {until}',
    'offers.full_reduction': '{off} off when you spend {spend}',
    'order.discounts': 'Discounts',
  },
});

// Words for a COUPON_INVALID or FLASH_SALE_SOLD_OUT problem; null for any other error.
export function priceProblem(error) {
  if (!(error instanceof ApiError)) return null;
  if (error.code === 'COUPON_INVALID') return t(`coupon.${error.reason || 'unknown'}`);
  if (error.code === 'FLASH_SALE_SOLD_OUT') return t('flash.sold_out');
  return null;
}

function breakdown(quote) {
  const total = h('p', { class: 'total' }, `${t('checkout.total')} `, h('strong', {}, money(quote.amount, quote.currency)));
  if (!quote.discounts.length) return total;
  const rows = [[t('price.subtotal'), money(quote.subtotal, quote.currency)]];
  for (const d of quote.discounts) rows.push([t(`price.${d.kind}`), `−${money(d.amount, quote.currency)}`]);
  return h('div', {}, h('dl', { class: 'price-steps' }, rows.flatMap(([label, value]) => [h('dt', {}, label), h('dd', {}, value)])), total);
}

// The summary's price and coupon field: {element, coupon()} (the coupon applied, if any).
export function priceSummary({ product, quantity, signal, initialCoupon = '' }) {
  let applied = '';
  const steps = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('price.updating')));
  const message = h('p', { class: 'field-error', id: 'coupon-error', hidden: true });
  const input = h('input', { id: 'coupon', name: 'coupon', autocomplete: 'off', maxlength: 64, value: initialCoupon, 'aria-describedby': 'coupon-error' });
  const apply = h('button', { type: 'button', class: 'button secondary' }, t('coupon.apply'));

  // `keepMessage`: the price that applies again after a refused coupon, whose words stay shown.
  async function price(code, keepMessage = false) {
    const body = { sku: product.sku, quantity };
    if (code) body.coupon = code;
    try {
      const quote = await call('POST', '/v1/quotes', { body, signal });
      applied = code;
      replace(steps, breakdown(quote));
      if (keepMessage) return true;
      message.hidden = !code;
      message.className = code ? 'hint' : 'field-error';
      message.textContent = code ? t('coupon.applied', { code }) : '';
      input.removeAttribute('aria-invalid');
      return true;
    } catch (error) {
      if (error?.name === 'AbortError') return false;
      const words = priceProblem(error);
      if (code && error instanceof ApiError && error.code === 'COUPON_INVALID') {
        message.className = 'field-error';
        message.textContent = words;
        message.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        return false;
      }
      replace(steps, h('p', { class: 'alert', role: 'alert' }, words || t('error.default')));
      return false;
    }
  }

  apply.addEventListener('click', async () => {
    const code = input.value.trim();
    if (!(await price(code)) && code) await price(applied, true); // the price that applies, the refusal still said
  });
  price(initialCoupon.trim());
  const element = h(
    'div',
    { class: 'price' },
    steps,
    h('div', { class: 'coupon-field' }, h('label', { for: 'coupon' }, t('coupon.label')), h('div', { class: 'row' }, input, apply), message),
  );
  return { element, coupon: () => applied };
}

// What the product page offers: its wholesale prices and the promotions running for it.
export async function offers(product, signal) {
  let running = [];
  try {
    running = (await call('GET', '/v1/promotions', { signal })).items || [];
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    running = []; // the offers are a nicety: the checkout's quote prices the order either way
  }
  const lines = (product.price_tiers || []).map((tier) => t('offers.tier', { n: tier.min_quantity, price: money(tier.price, product.currency) }));
  for (const p of running) {
    if (p.skus && !p.skus.includes(product.sku)) continue;
    if (p.kind === 'flash_sale') lines.push(t('offers.flash_sale', { price: money(p.price, product.currency), until: when(p.ends_at) }));
    if (p.kind === 'full_reduction') {
      for (const tier of p.tiers || []) lines.push(t('offers.full_reduction', { spend: money(tier.min_spend, product.currency), off: money(tier.off, product.currency) }));
    }
  }
  if (!lines.length) return null;
  return h('section', { class: 'offers', 'aria-labelledby': 'offers-title' }, h('h2', { id: 'offers-title' }, t('offers.title')), h('ul', {}, lines.map((line) => h('li', {}, line))));
}

// An order's discounts for its page (empty when it had none).
export function discountLines(order) {
  if (!Array.isArray(order.discounts) || !order.discounts.length) return [];
  const text = order.discounts.map((d) => `${t(`price.${d.kind}`)} −${money(d.amount, order.currency)}`).join('; ');
  return [h('dt', {}, t('order.discounts')), h('dd', {}, text)];
}
