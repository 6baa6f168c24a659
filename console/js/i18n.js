// Words of the console in Simplified Chinese and English, money and time for people.
// The language choice is shared with the shop (same origin, same key).

const STORE_KEY = 'kayisu.lang';
export const LANGS = ['zh-CN', 'en'];

const MESSAGES = {
  'zh-CN': {
    'site.name': 'Kayisu 卡易速 后台',
    'site.console': '后台',
    'skip': '跳到正文',
    'lang.other': 'English',
    'signout': '退出登录',
    'loading': '加载中…',
    'more': '加载更多',
    'none': '没有记录。',
    'save': '保存',
    'cancel': '取消',
    'close': '关闭',
    'copy': '复制',
    'copied': '已复制',
    'yes': '是',
    'no': '否',
    'nav.dashboard': '概览',
    'nav.products': '商品',
    'nav.batches': '卡密导入',
    'nav.stock': '库存',
    'nav.orders': '订单',
    'nav.partners': '核销伙伴',
    'nav.reports': '财务报表',
    'group.operators': '运营',
    'group.finance': '财务',
    'signin.title': '登录后台',
    'signin.intro': '使用运营或财务账号登录。',
    'signin.email': '邮箱',
    'signin.password': '密码',
    'signin.submit': '登录',
    'signin.busy': '正在登录…',
    'signin.bad': '邮箱或密码不正确。',
    'signin.failed': '登录失败：{why}',
    'signin.config': '后台配置不完整（config.json 缺少用户池客户端或 Cognito 地址）。',
    'signin.expired': '登录已过期，请重新登录。',
    'signin.signedout': '已退出登录。',
    'signin.nogroup': '此账号不属于运营或财务组，无法使用后台。',
    'error.network': '无法连接服务器，请检查网络后重试。',
    'error.forbidden': '你的账号组无权进行此操作。',
    'error.generic': '出错了（{status}）。',
    'error.reference': '参考编号：{id}',
    'field.other': '“{field}”一项有误：{message}',
    'dash.title': '概览',
    'dash.from': '开始日期',
    'dash.to': '结束日期',
    'dash.show': '查看',
    'dash.missing': '此 API 尚未提供概览数据（GET /v1/admin/dashboard 返回 404）。其他页面可正常使用。',
    'dash.totals': '收入',
    'dash.paid': '收款',
    'dash.refunded': '退款',
    'dash.net': '净额',
    'dash.orders': '订单状态',
    'dash.series': '每日收入与订单',
    'dash.today': '今日每小时',
    'dash.amount': '金额',
    'dash.count': '订单数',
    'dash.top': '热销商品',
    'dash.units': '件数',
    'dash.methods': '支付方式',
    'dash.channels': '渠道',
    'dash.buyers': '买家',
    'dash.buyers.total': '买家数',
    'dash.buyers.repeat': '回头客',
    'dash.buyers.rate': '复购率',
    'dash.funnel': '转化',
    'dash.funnel.created': '下单',
    'dash.funnel.paid': '付款',
    'dash.funnel.delivered': '发卡',
    'dash.profit': '毛利',
    'dash.cost': '成本',
    'dash.gross': '毛利',
    'dash.margin': '毛利率',
    'dash.lowstock': '库存不足',
    'dash.tickets': '售后工单',
    'dash.tickets.open': '未处理',
    'dash.tickets.overdue': '已超时',
    'dash.nodata': '此期间没有数据。',
    'products.title': '商品',
    'products.new': '新建商品',
    'products.edit': '编辑',
    'products.editing': '编辑 {sku}',
    'products.deactivate': '下架',
    'products.activate': '上架',
    'products.created': '已创建商品 {sku}。',
    'products.saved': '已保存 {sku}。',
    'products.later': '价格阶梯、组合和商品形式将在这里出现。',
    'product.sku': 'SKU',
    'product.name': '名称',
    'product.description': '描述',
    'product.price': '单价（最小货币单位，如分）',
    'product.price.short': '单价',
    'product.currency': '币种',
    'product.cost': '成本（最小货币单位，选填，仅运营可见）',
    'product.max_per_order': '每单上限',
    'product.alert_threshold': '库存预警线',
    'product.status': '状态',
    'product.available': '可售',
    'status.active': '在售',
    'status.inactive': '已下架',
    'status.disabled': '已停用',
    'batches.title': '卡密导入',
    'batches.intro': '上传 .txt（每行一个卡密）、.csv 或 .xlsx 文件。文件直接上传到加密存储，导入后即删除。',
    'batches.sku': '商品',
    'batches.drop': '把文件拖到这里，或点击选择文件',
    'batches.file': '文件',
    'batches.upload': '上传并导入',
    'batches.uploading': '正在上传 {name}…',
    'batches.processing': '已上传，正在导入…',
    'batches.progress': '上传进度',
    'batches.report': '导入报告',
    'batches.id': '批次号',
    'batches.status': '状态',
    'batches.rows': '行数',
    'batches.imported': '已导入',
    'batches.duplicates': '重复',
    'batches.rejected': '被拒',
    'batches.voided': '已作废',
    'batches.rejects': '下载被拒行报告',
    'batches.error': '错误',
    'batches.lookup': '查看批次',
    'batches.lookup.id': '批次号',
    'batches.void': '作废此批次未售卡密',
    'batches.void.confirm': '再次点击确认作废（不可撤销）',
    'batches.voided.done': '已作废 {n} 张，{held} 张已预留未作废。',
    'batches.nofile': '请选择一个文件。',
    'batches.badtype': '只接受 .txt、.csv 或 .xlsx 文件。',
    'batches.uploadfailed': '上传失败（{status}）。',
    'batch.pending': '等待上传',
    'batch.processing': '导入中',
    'batch.completed': '已完成',
    'batch.failed': '失败',
    'stock.title': '库存',
    'stock.imported': '导入',
    'stock.available': '可售',
    'stock.reserved': '预留',
    'stock.sold': '已售',
    'stock.redeemed': '已核销',
    'stock.void': '作废',
    'stock.threshold': '预警线',
    'stock.low': '库存低',
    'orders.title': '订单',
    'orders.status': '状态',
    'orders.any': '全部',
    'orders.from': '从',
    'orders.to': '到',
    'orders.search': '订单号或邮箱',
    'orders.find': '查找',
    'orders.id': '订单号',
    'orders.created': '下单时间',
    'orders.sku': '商品',
    'orders.quantity': '数量',
    'orders.amount': '金额',
    'orders.email': '邮箱',
    'orders.method': '支付方式',
    'order.title': '订单 {id}',
    'order.back': '← 全部订单',
    'order.paid_at': '付款时间',
    'order.delivered_at': '发卡时间',
    'order.refunded_at': '退款时间',
    'order.transaction': '支付流水号',
    'order.refund_reason': '退款原因',
    'order.review_reason': '待审核原因',
    'order.late': '过期后付款',
    'order.history': '历史',
    'order.at': '时间',
    'order.from': '原状态',
    'order.to': '新状态',
    'order.reason': '原因',
    'order.actor': '操作者',
    'order.cards': '卡密（已遮盖）',
    'order.code': '卡密',
    'order.batch': '批次',
    'order.card_status': '状态',
    'order.refund': '退款',
    'order.refund.reason': '退款原因',
    'order.refund.confirm': '确认退款',
    'order.refund.done': '已退款。',
    'order.check': '向支付渠道查询付款',
    'order.check.result': '渠道答复：{status}。{applied}',
    'order.check.applied': '已按付款处理（{applied}）。',
    'order.check.nothing': '未做任何更改。',
    'ostatus.pending_payment': '待支付',
    'ostatus.paid': '已付款',
    'ostatus.delivered': '已发卡',
    'ostatus.expired': '已过期',
    'ostatus.refunded': '已退款',
    'partners.title': '核销伙伴',
    'partners.new': '新建伙伴',
    'partners.name': '名称',
    'partners.skus': '可核销的 SKU（逗号分隔，留空为全部）',
    'partners.skus.short': 'SKU 范围',
    'partners.all': '全部',
    'partners.id': '伙伴号',
    'partners.create': '创建',
    'partners.secret': '密钥（只显示这一次，请立即妥善保存）',
    'partners.rotate': '更换密钥',
    'partners.rotated': '{id} 的新密钥（旧密钥 24 小时内仍有效）：',
    'reports.title': '财务报表',
    'reports.kind': '类型',
    'reports.period': '期间',
    'reports.size': '大小',
    'reports.generated': '生成时间',
    'reports.download': '获取下载链接',
    'reports.link': '下载 {id}.csv（15 分钟内有效）',
    'kind.daily': '日报',
    'kind.weekly': '周报',
    'kind.monthly': '月报',
    'notfound.title': '找不到此页面',
    'method.sandbox': '沙盒',
    'method.wechatpay': '微信支付',
    'method.alipay': '支付宝',
    'method.stripe': '银行卡（Stripe）',
    'channel.web': '网店',
    'channel.embed': '嵌入',
    'channel.link': '链接',
  },
  en: {
    'site.name': 'Kayisu Console',
    'site.console': 'Console',
    'skip': 'Skip to content',
    'lang.other': '中文',
    'signout': 'Sign out',
    'loading': 'Loading…',
    'more': 'Load more',
    'none': 'Nothing here.',
    'save': 'Save',
    'cancel': 'Cancel',
    'close': 'Close',
    'copy': 'Copy',
    'copied': 'Copied',
    'yes': 'Yes',
    'no': 'No',
    'nav.dashboard': 'Dashboard',
    'nav.products': 'Products',
    'nav.batches': 'Batches',
    'nav.stock': 'Stock',
    'nav.orders': 'Orders',
    'nav.partners': 'Partners',
    'nav.reports': 'Reports',
    'group.operators': 'operator',
    'group.finance': 'finance',
    'signin.title': 'Sign in to the console',
    'signin.intro': 'Use your operator or finance account.',
    'signin.email': 'Email',
    'signin.password': 'Password',
    'signin.submit': 'Sign in',
    'signin.busy': 'Signing in…',
    'signin.bad': 'Wrong email or password.',
    'signin.failed': 'Signing in failed: {why}',
    'signin.config': 'The console is not configured (config.json has no user pool client or Cognito endpoint).',
    'signin.expired': 'Your session has expired. Please sign in again.',
    'signin.signedout': 'You are signed out.',
    'signin.nogroup': 'This account is in neither the operators nor the finance group.',
    'error.network': 'The server cannot be reached. Check the connection and try again.',
    'error.forbidden': 'Your group may not do this.',
    'error.generic': 'Something went wrong ({status}).',
    'error.reference': 'Reference: {id}',
    'field.other': '{field}: {message}',
    'dash.title': 'Dashboard',
    'dash.from': 'From',
    'dash.to': 'To',
    'dash.show': 'Show',
    'dash.missing':
      'This API does not offer the dashboard data yet (GET /v1/admin/dashboard answered 404). The other pages work.',
    'dash.totals': 'Revenue',
    'dash.paid': 'Paid',
    'dash.refunded': 'Refunded',
    'dash.net': 'Net',
    'dash.orders': 'Orders by status',
    'dash.series': 'Revenue and orders per day',
    'dash.today': 'Today per hour',
    'dash.amount': 'Amount',
    'dash.count': 'Orders',
    'dash.top': 'Top products',
    'dash.units': 'Units',
    'dash.methods': 'Payment methods',
    'dash.channels': 'Channels',
    'dash.buyers': 'Buyers',
    'dash.buyers.total': 'Buyers',
    'dash.buyers.repeat': 'Repeat buyers',
    'dash.buyers.rate': 'Repeat rate',
    'dash.funnel': 'Funnel',
    'dash.funnel.created': 'Created',
    'dash.funnel.paid': 'Paid',
    'dash.funnel.delivered': 'Delivered',
    'dash.profit': 'Gross profit',
    'dash.cost': 'Cost',
    'dash.gross': 'Gross profit',
    'dash.margin': 'Margin',
    'dash.lowstock': 'Low stock',
    'dash.tickets': 'Tickets',
    'dash.tickets.open': 'Open',
    'dash.tickets.overdue': 'Overdue',
    'dash.nodata': 'No data for this period.',
    'products.title': 'Products',
    'products.new': 'New product',
    'products.edit': 'Edit',
    'products.editing': 'Edit {sku}',
    'products.deactivate': 'Deactivate',
    'products.activate': 'Activate',
    'products.created': 'Product {sku} created.',
    'products.saved': '{sku} saved.',
    'products.later': 'Price tiers, bundles and product forms will appear here.',
    'product.sku': 'SKU',
    'product.name': 'Name',
    'product.description': 'Description',
    'product.price': 'Price (minor units, e.g. fen or cents)',
    'product.price.short': 'Price',
    'product.currency': 'Currency',
    'product.cost': 'Cost (minor units, optional; operators only)',
    'product.max_per_order': 'Max per order',
    'product.alert_threshold': 'Alert threshold',
    'product.status': 'Status',
    'product.available': 'Available',
    'status.active': 'Active',
    'status.inactive': 'Inactive',
    'status.disabled': 'Disabled',
    'batches.title': 'Batches',
    'batches.intro':
      'Upload a .txt (one code per line), .csv or .xlsx file. It goes straight to encrypted storage and is deleted once imported.',
    'batches.sku': 'Product',
    'batches.drop': 'Drop a file here, or click to choose one',
    'batches.file': 'File',
    'batches.upload': 'Upload and import',
    'batches.uploading': 'Uploading {name}…',
    'batches.processing': 'Uploaded; importing…',
    'batches.progress': 'Upload progress',
    'batches.report': 'Import report',
    'batches.id': 'Batch',
    'batches.status': 'Status',
    'batches.rows': 'Rows',
    'batches.imported': 'Imported',
    'batches.duplicates': 'Duplicates',
    'batches.rejected': 'Rejected',
    'batches.voided': 'Voided',
    'batches.rejects': 'Download the rejected rows',
    'batches.error': 'Error',
    'batches.lookup': 'Look up a batch',
    'batches.lookup.id': 'Batch id',
    'batches.void': "Void this batch's unsold cards",
    'batches.void.confirm': 'Click again to void them (this cannot be undone)',
    'batches.voided.done': '{n} cards voided; {held} reserved ones were held back.',
    'batches.nofile': 'Choose a file.',
    'batches.badtype': 'Only .txt, .csv or .xlsx files.',
    'batches.uploadfailed': 'The upload failed ({status}).',
    'batch.pending': 'Waiting for the file',
    'batch.processing': 'Importing',
    'batch.completed': 'Completed',
    'batch.failed': 'Failed',
    'stock.title': 'Stock',
    'stock.imported': 'Imported',
    'stock.available': 'Available',
    'stock.reserved': 'Reserved',
    'stock.sold': 'Sold',
    'stock.redeemed': 'Redeemed',
    'stock.void': 'Void',
    'stock.threshold': 'Alert at',
    'stock.low': 'Low',
    'orders.title': 'Orders',
    'orders.status': 'Status',
    'orders.any': 'Any',
    'orders.from': 'From',
    'orders.to': 'To',
    'orders.search': 'Order id or email',
    'orders.find': 'Find',
    'orders.id': 'Order',
    'orders.created': 'Created',
    'orders.sku': 'Product',
    'orders.quantity': 'Qty',
    'orders.amount': 'Amount',
    'orders.email': 'Email',
    'orders.method': 'Payment',
    'order.title': 'Order {id}',
    'order.back': '← All orders',
    'order.paid_at': 'Paid',
    'order.delivered_at': 'Delivered',
    'order.refunded_at': 'Refunded',
    'order.transaction': 'Provider transaction',
    'order.refund_reason': 'Refund reason',
    'order.review_reason': 'Held for review',
    'order.late': 'Paid after it expired',
    'order.history': 'History',
    'order.at': 'At',
    'order.from': 'From',
    'order.to': 'To',
    'order.reason': 'Reason',
    'order.actor': 'By',
    'order.cards': 'Cards (codes masked)',
    'order.code': 'Code',
    'order.batch': 'Batch',
    'order.card_status': 'Status',
    'order.refund': 'Refund',
    'order.refund.reason': 'Reason for the refund',
    'order.refund.confirm': 'Refund this order',
    'order.refund.done': 'Refunded.',
    'order.check': 'Ask the provider about the payment',
    'order.check.result': 'The provider says: {status}. {applied}',
    'order.check.applied': 'Applied as a payment ({applied}).',
    'order.check.nothing': 'Nothing changed.',
    'ostatus.pending_payment': 'Waiting for payment',
    'ostatus.paid': 'Paid',
    'ostatus.delivered': 'Delivered',
    'ostatus.expired': 'Expired',
    'ostatus.refunded': 'Refunded',
    'partners.title': 'Partners',
    'partners.new': 'New partner',
    'partners.name': 'Name',
    'partners.skus': 'SKUs it may redeem (comma-separated; empty for all)',
    'partners.skus.short': 'SKUs',
    'partners.all': 'All',
    'partners.id': 'Partner',
    'partners.create': 'Create',
    'partners.secret': 'Secret (shown this once: store it safely now)',
    'partners.rotate': 'Rotate secret',
    'partners.rotated': 'New secret of {id} (the old one keeps working for 24 hours):',
    'reports.title': 'Finance reports',
    'reports.kind': 'Kind',
    'reports.period': 'Period',
    'reports.size': 'Size',
    'reports.generated': 'Generated',
    'reports.download': 'Get the download link',
    'reports.link': 'Download {id}.csv (valid 15 minutes)',
    'kind.daily': 'Daily',
    'kind.weekly': 'Weekly',
    'kind.monthly': 'Monthly',
    'notfound.title': 'No such page',
    'method.sandbox': 'Sandbox',
    'method.wechatpay': 'WeChat Pay',
    'method.alipay': 'Alipay',
    'method.stripe': 'Card (Stripe)',
    'channel.web': 'Shop',
    'channel.embed': 'Embed',
    'channel.link': 'Link',
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

export function has(key) {
  return key in MESSAGES[current];
}

export function t(key, params = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

// `key` if it has words, else the raw value (a status this console does not know yet).
export function word(prefix, value) {
  return has(`${prefix}.${value}`) ? t(`${prefix}.${value}`) : String(value ?? '');
}

export function digits(currency) {
  return MINOR_UNITS[currency] ?? 2;
}

export function money(amount, currency) {
  if (amount === null || amount === undefined) return '';
  if (!currency) return number(amount);
  const places = digits(currency);
  const value = Number(amount) / 10 ** places;
  try {
    return new Intl.NumberFormat(current, {
      style: 'currency',
      currency,
      minimumFractionDigits: places,
      maximumFractionDigits: places,
    }).format(value);
  } catch {
    return `${value.toFixed(places)} ${currency}`;
  }
}

export function number(value) {
  return new Intl.NumberFormat(current).format(Number(value));
}

export function percent(value) {
  // Rates may come as a fraction (0.25) or a percentage (25): below or at 1 is a fraction.
  const n = Number(value);
  const fraction = n <= 1 ? n : n / 100;
  return new Intl.NumberFormat(current, { style: 'percent', maximumFractionDigits: 1 }).format(fraction);
}

export function when(timestamp) {
  if (!timestamp) return '';
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return String(timestamp);
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function bytes(size) {
  const n = Number(size);
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
