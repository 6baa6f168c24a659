// Words of the shop in Simplified Chinese and English, money and time for people.

const STORE_KEY = 'kayisu.lang';
export const LANGS = ['zh-CN', 'en'];

const MESSAGES = {
  'zh-CN': {
    'site.name': 'Kayisu 卡易速',
    'skip': '跳到正文',
    'nav.orders': '我的订单',
    'lang.other': 'English',
    'loading': '加载中…',
    'retry': '重试',
    'noscript': '本商店需要启用 JavaScript。',
    'back.products': '← 全部商品',
    'back.product': '← 返回商品',
    'home.title': '选购卡券',
    'home.intro': '付款后数秒内，卡密就显示在订单页上。',
    'home.empty': '暂时没有可购买的商品。',
    'stock.in_stock': '有货',
    'stock.low': '仅剩 {n} 件',
    'stock.out_of_stock': '已售罄',
    'product.price': '单价',
    'product.bundle': '套餐包含：',
    'product.bundle.badge': '套餐',
    'order.code.of': '卡密 {n} · {sku}',
    'product.quantity': '数量',
    'product.limit': '每单可买 1–{max} 件',
    'product.buy': '购买',
    'product.soldout': '此商品已售罄，请稍后再来。',
    'checkout.title': '结账',
    'checkout.summary': '订单内容',
    'checkout.line': '{name} × {n}',
    'checkout.total': '合计',
    'checkout.email': '邮箱',
    'checkout.email.hint': '我们会把订单链接发到这个邮箱。',
    'checkout.method': '支付方式',
    'checkout.submit': '提交订单并支付',
    'checkout.submitting': '正在下单…',
    'checkout.redirecting': '正在前往支付页面…',
    'checkout.nomethod': '目前没有可用的支付方式，请稍后再试。',
    'method.sandbox': '沙盒支付（测试，不扣款）',
    'method.wechatpay': '微信支付',
    'method.alipay': '支付宝',
    'method.stripe': '银行卡（Stripe）',
    'field.email': '请输入有效的邮箱地址，例如 name@example.com。',
    'field.quantity': '数量须在 1 到 {max} 之间。',
    'field.payment_method': '请选择一种支付方式。',
    'field.other': '“{field}”一项有误。',
    'order.title': '订单',
    'order.id': '订单号',
    'order.product': '商品',
    'order.quantity': '数量',
    'order.amount': '金额',
    'order.created': '下单时间',
    'order.email': '邮箱',
    'status.pending_payment': '待支付',
    'status.paid': '已付款，正在发卡…',
    'status.delivered': '已发卡',
    'status.expired': '已过期',
    'status.refunded': '已退款',
    'order.pending.text': '请在 {time} 前完成支付，逾期订单自动取消。',
    'order.pay': '去支付',
    'order.scan': '请用{method}扫描二维码支付',
    'order.scan.label': '支付二维码',
    'order.paid.text': '付款已到账。卡密通常在一秒内送达，本页会自动更新。',
    'order.delivered.text': '这是您的卡密，请妥善保管，勿泄露给他人。',
    'order.code': '卡密 {n}',
    'order.serial': '序列号',
    'order.valid': '有效期至',
    'order.copy': '复制',
    'order.copy.label': '复制卡密 {n}',
    'order.copied': '已复制',
    'order.copy.failed': '无法自动复制，请手动选择卡密。',
    'order.qr': '卡密 {n} 的二维码',
    'order.expired.text': '此订单在付款前已过期，没有扣款，库存已释放。',
    'order.buy.again': '重新购买',
    'order.refunded.text': '此订单已于 {time} 退款，原卡密已作废。',
    'order.notoken': '此设备上没有这个订单的访问凭证。请用邮件中的完整链接打开订单。',
    'order.retrying': '连接中断，正在重试…',
    'order.remove': '从此设备移除',
    'orders.title': '本设备上的订单',
    'orders.intro': '订单链接只保存在这个浏览器里，不会发送给他人。',
    'orders.empty': '此设备上还没有订单。',
    'orders.all': '查看全部订单',
    'orders.unknown': '未知',
    'notfound.title': '页面不存在',
    'notfound.text': '找不到这个页面。',
    'error.OUT_OF_STOCK': '库存不足，订单未创建，也没有扣款。请减少数量或稍后再试。',
    'error.UNKNOWN_SKU': '找不到此商品，它可能已经下架。',
    'error.RATE_LIMITED': '您未支付的订单太多了。请先支付，或等它们过期后再下单。',
    'error.VALIDATION_ERROR': '请检查标出的内容。',
    'error.UNKNOWN_ORDER': '找不到此订单，或链接不完整。请使用邮件中的完整链接。',
    'error.IDEMPOTENCY_KEY_REUSED': '订单内容在提交时发生了变化，请再提交一次。',
    'error.TRY_AGAIN': '现在购买的人很多，请再试一次。',
    'error.MALFORMED_JSON': '请求无法识别，请刷新页面后重试。',
    'error.NOT_FOUND': '找不到要访问的内容。',
    'error.NETWORK': '无法连接商店，请检查网络后重试。',
    'error.INTERNAL_ERROR': '商店出了点问题，请稍后再试。',
    'error.default': '出错了，请稍后再试。',
    'error.reference': '参考编号：{id}',
  },
  en: {
    'site.name': 'Kayisu 卡易速',
    'skip': 'Skip to content',
    'nav.orders': 'My orders',
    'lang.other': '中文',
    'loading': 'Loading…',
    'retry': 'Try again',
    'noscript': 'This shop needs JavaScript.',
    'back.products': '← All products',
    'back.product': '← Back to the product',
    'home.title': 'Cards and vouchers',
    'home.intro': 'Pay, and your codes appear on the order page within seconds.',
    'home.empty': 'Nothing for sale right now.',
    'stock.in_stock': 'In stock',
    'stock.low': 'Only {n} left',
    'stock.out_of_stock': 'Sold out',
    'product.price': 'Price',
    'product.bundle': 'This bundle includes:',
    'product.bundle.badge': 'Bundle',
    'order.code.of': 'Code {n} · {sku}',
    'product.quantity': 'Quantity',
    'product.limit': '1–{max} per order',
    'product.buy': 'Buy',
    'product.soldout': 'This product is sold out. Please check back later.',
    'checkout.title': 'Checkout',
    'checkout.summary': 'Your order',
    'checkout.line': '{name} × {n}',
    'checkout.total': 'Total',
    'checkout.email': 'Email',
    'checkout.email.hint': 'We send the link to your order to this address.',
    'checkout.method': 'Payment method',
    'checkout.submit': 'Place order and pay',
    'checkout.submitting': 'Placing your order…',
    'checkout.redirecting': 'Taking you to the payment page…',
    'checkout.nomethod': 'No payment method is available right now. Please try again later.',
    'method.sandbox': 'Sandbox (test, no money moves)',
    'method.wechatpay': 'WeChat Pay',
    'method.alipay': 'Alipay',
    'method.stripe': 'Card (Stripe)',
    'field.email': 'Enter a valid email address, such as name@example.com.',
    'field.quantity': 'Choose a quantity from 1 to {max}.',
    'field.payment_method': 'Choose a payment method.',
    'field.other': 'The field “{field}” is not valid.',
    'order.title': 'Order',
    'order.id': 'Order number',
    'order.product': 'Product',
    'order.quantity': 'Quantity',
    'order.amount': 'Amount',
    'order.created': 'Placed',
    'order.email': 'Email',
    'status.pending_payment': 'Waiting for payment',
    'status.paid': 'Paid, delivering your codes…',
    'status.delivered': 'Delivered',
    'status.expired': 'Expired',
    'status.refunded': 'Refunded',
    'order.pending.text': 'Please pay before {time}; after that the order is cancelled.',
    'order.pay': 'Pay now',
    'order.scan': 'Scan the QR code with {method} to pay',
    'order.scan.label': 'QR code to pay',
    'order.paid.text': 'We have your payment. Codes usually arrive within a second; this page updates by itself.',
    'order.delivered.text': 'Here are your codes. Keep them private.',
    'order.code': 'Code {n}',
    'order.serial': 'Serial',
    'order.valid': 'Valid until',
    'order.copy': 'Copy',
    'order.copy.label': 'Copy code {n}',
    'order.copied': 'Copied',
    'order.copy.failed': 'Could not copy; please select the code instead.',
    'order.qr': 'QR code of code {n}',
    'order.expired.text': 'This order expired before it was paid. Nothing was charged and the stock was released.',
    'order.buy.again': 'Buy again',
    'order.refunded.text': 'This order was refunded on {time}. Its codes no longer work.',
    'order.notoken': 'This device does not hold the key to this order. Open it with the full link from your email.',
    'order.retrying': 'Connection lost, retrying…',
    'order.remove': 'Remove from this device',
    'orders.title': 'My orders on this device',
    'orders.intro': 'Order links are kept in this browser only and never shared.',
    'orders.empty': 'No orders on this device yet.',
    'orders.all': 'All my orders',
    'orders.unknown': 'Unknown',
    'notfound.title': 'Page not found',
    'notfound.text': 'There is no such page.',
    'error.OUT_OF_STOCK': 'Not enough stock for this order. Nothing was reserved or charged; try a smaller quantity or come back later.',
    'error.UNKNOWN_SKU': 'This product does not exist or is no longer sold.',
    'error.RATE_LIMITED': 'You have too many unpaid orders. Pay for them or wait until they expire, then try again.',
    'error.VALIDATION_ERROR': 'Please check the marked fields.',
    'error.UNKNOWN_ORDER': "We can't find this order, or the link is incomplete. Use the full link from your email.",
    'error.IDEMPOTENCY_KEY_REUSED': 'Your order changed while it was being sent. Please submit it again.',
    'error.TRY_AGAIN': 'Many people are buying right now. Please try again.',
    'error.MALFORMED_JSON': 'The shop could not read the request. Reload the page and try again.',
    'error.NOT_FOUND': 'What you asked for was not found.',
    'error.NETWORK': "Can't reach the shop. Check your connection and try again.",
    'error.INTERNAL_ERROR': 'Something went wrong on our side. Please try again shortly.',
    'error.default': 'Something went wrong. Please try again.',
    'error.reference': 'Reference: {id}',
  },
};

// Digits after the decimal point per ISO 4217 currency (as the API's kayisu.money).
const MINOR_UNITS = { JPY: 0, KRW: 0 };

let current = 'zh-CN';

function pick(candidates) {
  for (const tag of candidates) {
    const lower = String(tag || '').toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

function stored() {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

export function initLang() {
  const saved = stored();
  current = LANGS.includes(saved) ? saved : pick(navigator.languages || [navigator.language]);
  document.documentElement.lang = current;
  return current;
}

export function getLang() {
  return current;
}

export function setLang(lang) {
  current = LANGS.includes(lang) ? lang : 'en';
  document.documentElement.lang = current;
  try {
    localStorage.setItem(STORE_KEY, current);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export function otherLang() {
  return current === 'en' ? 'zh-CN' : 'en';
}

// A module's own words (e.g. pricing.js), merged into the shop's: {lang: {key: text}}.
export function addMessages(more) {
  for (const [lang, words] of Object.entries(more)) Object.assign(MESSAGES[lang], words);
}

export function has(key) {
  return key in MESSAGES[current];
}

export function t(key, params = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function money(amount, currency) {
  const digits = MINOR_UNITS[currency] ?? 2;
  const value = Number(amount) / 10 ** digits;
  try {
    return new Intl.NumberFormat(current, {
      style: 'currency',
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

export function when(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function day(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeZone: 'UTC' }).format(date);
}

export function methodName(method) {
  return has(`method.${method}`) ? t(`method.${method}`) : method;
}
