// Kayisu operator console: a single-page app under /console/ over the admin API (CONTRACT §4, §14).
// Routes: /console/ (dashboard)  /console/products  /console/batches  /console/stock
//         /console/orders  /console/orders/{id}  /console/coupons  /console/promotions
//         /console/partners  /console/webhooks  /console/webhooks/{id}  /console/reports
//         /console/signin
import { SignInError, current, expired, fresh, isFinance, isOperator, signIn, signOut } from './auth.js';
import { dashboard } from './dashboard.js';
import { h, replace } from './dom.js';
import { initLang, otherLang, setLang, t } from './i18n.js';
import { coupons, promotions } from './marketing.js';
import { batches, orderPage, orders, partners, products, reports, stock } from './pages.js';
import { notice } from './ui.js';
import { webhookPage, webhooks } from './webhooks.js';

const BASE = '/console';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const live = document.getElementById('announce');
const userSlot = document.getElementById('user');
const signOutButton = document.getElementById('signout');
let view = new AbortController();
let signInMessage = null; // why the sign-in page is shown: {key, kind}

// Pages and who sees them in the menu (the API decides what each group may really do).
const PAGES = [
  { path: '/', key: 'nav.dashboard', show: dashboard, groups: ['operators', 'finance'] },
  { path: '/products', key: 'nav.products', show: products, groups: ['operators'] },
  { path: '/batches', key: 'nav.batches', show: batches, groups: ['operators'] },
  { path: '/stock', key: 'nav.stock', show: stock, groups: ['operators'] },
  { path: '/orders', key: 'nav.orders', show: orders, groups: ['operators', 'finance'] },
  { path: '/coupons', key: 'nav.coupons', show: coupons, groups: ['operators'] },
  { path: '/promotions', key: 'nav.promotions', show: promotions, groups: ['operators'] },
  { path: '/partners', key: 'nav.partners', show: partners, groups: ['operators'] },
  { path: '/webhooks', key: 'nav.webhooks', show: webhooks, groups: ['operators'] },
  { path: '/reports', key: 'nav.reports', show: reports, groups: ['operators', 'finance'] },
];

export function navigate(path, { replace: replaceEntry = false } = {}) {
  history[replaceEntry ? 'replaceState' : 'pushState'](null, '', BASE + path);
  window.scrollTo(0, 0);
  render(true);
}

document.addEventListener('click', (event) => {
  const link = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href').slice(BASE.length) || '/');
});
window.addEventListener('popstate', () => render(true));
window.addEventListener('kayisu:expired', () => {
  // Signing in again returns to the page that met the 401.
  signInMessage = { key: 'signin.expired', kind: 'warn' };
  const here = path() === '/signin' ? history.state?.next || '/' : path() + location.search;
  history.replaceState({ next: here }, '', `${BASE}/signin`);
  render(true);
});

function paint(title, ...nodes) {
  document.title = `${title} · ${t('site.name')}`;
  replace(main, ...nodes);
}

function announce(text) {
  live.textContent = '';
  window.setTimeout(() => {
    live.textContent = text;
  }, 30);
}

function path() {
  const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return rest.replace(/\/+$/, '') || '/';
}

function drawShell(session) {
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const lang = document.getElementById('lang');
  lang.textContent = t('lang.other');
  lang.lang = otherLang();
  signOutButton.hidden = !session;
  if (!session) {
    replace(nav);
    replace(userSlot);
    return;
  }
  const here = path();
  replace(
    nav,
    PAGES.filter((p) => p.groups.some((g) => session.groups.includes(g))).map((p) => {
      const active = here === p.path || (p.path !== '/' && here.startsWith(`${p.path}/`));
      return h('a', { href: BASE + (p.path === '/' ? '/' : p.path), 'data-link': true, 'aria-current': active ? 'page' : null }, t(p.key));
    }),
  );
  const group = isOperator(session) ? t('group.operators') : isFinance(session) ? t('group.finance') : '';
  replace(userSlot, session.email, group ? h('span', { class: 'group' }, ` (${group})`) : null);
}

function render(moveFocus = false) {
  view.abort();
  view = new AbortController();
  let session = current();
  if (session && expired(session)) {
    if (session.refresh) {
      // Renewed, the page draws as if nothing happened; refused, it is the sign-in page.
      fresh().then((renewed) => {
        if (!renewed) signInMessage = { key: 'signin.expired', kind: 'warn' };
        render(moveFocus);
      });
      return;
    }
    signOut();
    session = null;
    signInMessage = { key: 'signin.expired', kind: 'warn' };
  }
  const here = path();
  if (!session && here !== '/signin') {
    history.replaceState({ next: here + location.search }, '', `${BASE}/signin`);
  }
  drawShell(session);
  if (moveFocus) main.focus({ preventScroll: true });
  if (!session) {
    signInPage(history.state?.next || '/');
    return;
  }
  if (here === '/signin') {
    navigate('/', { replace: true });
    return;
  }
  const ctx = { signal: view.signal, session, paint, navigate, announce };
  const detail = /^\/orders\/([^/]+)$/.exec(here);
  if (detail) {
    orderPage(ctx, decodeURIComponent(detail[1]));
    return;
  }
  const hook = /^\/webhooks\/([^/]+)$/.exec(here);
  if (hook) {
    webhookPage(ctx, decodeURIComponent(hook[1]));
    return;
  }
  const page = PAGES.find((p) => p.path === here);
  if (page) {
    page.show(ctx);
    return;
  }
  paint(t('notfound.title'), h('h1', {}, t('notfound.title')), h('p', {}, h('a', { href: `${BASE}/`, 'data-link': true }, t('nav.dashboard'))));
}

function signInPage(next) {
  const email = h('input', { id: 'signin-email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const slot = h('div', { class: 'signin-message' });
  if (signInMessage) slot.append(notice(t(signInMessage.key), signInMessage.kind));
  const submit = h('button', { type: 'submit' }, t('signin.submit'));
  const form = h(
    'form',
    { class: 'signin', novalidate: false },
    h('div', { class: 'field' }, h('label', { for: email.id }, t('signin.email')), email),
    h('div', { class: 'field' }, h('label', { for: password.id }, t('signin.password')), password),
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = t('signin.busy');
    replace(slot);
    try {
      const session = await signIn(email.value.trim(), password.value);
      if (!isOperator(session) && !isFinance(session)) {
        signOut();
        throw new SignInError('nogroup');
      }
      signInMessage = null;
      navigate(next === '/signin' ? '/' : next, { replace: true });
    } catch (error) {
      const kind = error instanceof SignInError ? error.kind : 'other';
      const text =
        kind === 'bad'
          ? t('signin.bad')
          : kind === 'config'
            ? t('signin.config')
            : kind === 'network'
              ? t('error.network')
              : kind === 'nogroup'
                ? t('signin.nogroup')
                : t('signin.failed', { why: error?.detail || error?.message || '' });
      replace(slot, h('p', { class: 'problem', role: 'alert' }, text));
      submit.disabled = false;
      submit.textContent = t('signin.submit');
      password.value = '';
      password.focus();
    }
  });
  paint(t('signin.title'), h('section', { class: 'signin-page' }, h('h1', {}, t('signin.title')), h('p', {}, t('signin.intro')), slot, form));
}

signOutButton.addEventListener('click', () => {
  signOut();
  signInMessage = { key: 'signin.signedout', kind: 'ok' };
  history.replaceState({ next: '/' }, '', `${BASE}/signin`);
  render(true);
});

document.getElementById('lang').addEventListener('click', () => {
  setLang(otherLang());
  announce(t('lang.other') === 'English' ? '中文' : 'English');
  render();
});

initLang();
render();
