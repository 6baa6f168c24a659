// Pieces every page uses: problems as words, tables that page with next_cursor, form fields.
import { ApiError } from './api.js';
import { append, h, replace } from './dom.js';
import { t } from './i18n.js';

// A problem shown as its title and detail (never a blank): 403 says the group may not do it.
export function problemView(error) {
  if (error?.name === 'AbortError') return null;
  const box = h('div', { class: 'problem', role: 'alert' });
  if (!(error instanceof ApiError)) {
    return append(box, h('p', {}, t('error.generic', { status: '?' })));
  }
  if (error.status === 0) return append(box, h('p', {}, t('error.network')));
  if (error.status === 403) append(box, h('p', { class: 'problem-lead' }, t('error.forbidden')));
  append(
    box,
    h('p', { class: 'problem-title' }, error.title || t('error.generic', { status: error.status })),
    error.detail ? h('p', { class: 'problem-detail' }, error.detail) : null,
    error.errors.length
      ? h(
          'ul',
          { class: 'problem-fields' },
          error.errors.map((e) => h('li', {}, t('field.other', { field: e.field ?? '', message: e.message ?? '' }))),
        )
      : null,
    error.code ? h('p', { class: 'problem-code' }, error.code) : null,
    error.requestId && error.status >= 500 ? h('p', { class: 'problem-ref' }, t('error.reference', { id: error.requestId })) : null,
  );
  return box;
}

export function showProblem(slot, error) {
  const view = problemView(error);
  if (view) replace(slot, view);
}

export function notice(text, kind = 'ok') {
  return h('p', { class: `notice notice-${kind}`, role: 'status' }, text);
}

export function busy() {
  return h('p', { class: 'loading', role: 'status' }, t('loading'));
}

// A table of `columns` ([{label, cell(item) → text or Node, class?}]) whose rows come from
// `load(cursor)` ({items, next_cursor}); "Load more" appends the next page until there is none.
export function pagedTable({ columns, load, caption, rowClass, signal }) {
  const body = h('tbody');
  const slot = h('div', { class: 'table-foot' });
  const table = h(
    'table',
    { class: 'grid' },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    body,
  );
  const wrap = h('div', { class: 'table-wrap' }, table, slot);
  let count = 0;

  async function page(cursor) {
    replace(slot, busy());
    let data;
    try {
      data = await load(cursor);
    } catch (error) {
      if (error?.name === 'AbortError') return;
      showProblem(slot, error);
      return;
    }
    if (signal?.aborted) return;
    const items = Array.isArray(data?.items) ? data.items : [];
    for (const item of items) {
      body.append(
        h(
          'tr',
          { class: rowClass ? rowClass(item) : null },
          columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(item))),
        ),
      );
    }
    count += items.length;
    replace(slot);
    if (!count) append(slot, h('p', { class: 'empty' }, t('none')));
    if (data?.next_cursor) {
      append(slot, h('button', { type: 'button', class: 'secondary', onclick: () => page(data.next_cursor) }, t('more')));
    }
  }
  page(null);
  return wrap;
}

let fieldCounter = 0;

// A labelled input: {name, label, type, value, required, options: [[value, text]], hint, ...attrs}.
export function field({ name, label, type = 'text', value, options, hint, ...attrs }) {
  const id = `f-${name}-${(fieldCounter += 1)}`;
  let input;
  if (options) {
    input = h('select', { id, name, ...attrs }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, rows: 3, ...attrs });
    input.value = value ?? '';
  } else {
    input = h('input', { id, name, type, ...attrs });
    if (value !== undefined && value !== null) input.value = String(value);
  }
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null, error);
}

// Puts each VALIDATION_ERROR message under its input; true when one was placed.
export function markFields(form, error) {
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  let placed = false;
  for (const problem of error?.errors || []) {
    const input = form.querySelector(`[name="${CSS.escape(String(problem.field ?? ''))}"]`);
    if (!input) continue;
    const slot = document.getElementById(`${input.id}-error`);
    slot.textContent = String(problem.message ?? '');
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', slot.id);
    placed = true;
  }
  return placed;
}

export function copyButton(text) {
  const button = h('button', { type: 'button', class: 'secondary' }, t('copy'));
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = t('copied');
    } catch {
      // no clipboard here: the text stays selectable
    }
  });
  return button;
}

export function pill(text, kind = '') {
  return h('span', { class: `pill ${kind}` }, text);
}

export function dl(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}
