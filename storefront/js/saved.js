// "My orders on this device": order ids and their access tokens, in this browser only.
// Entries: {order_id, access_token, sku, created_at, status}. Newest first.

const KEY = 'kayisu.orders.v1';
const MAX = 50;

function read() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(list) ? list.filter((e) => e && typeof e.order_id === 'string') : [];
  } catch {
    return [];
  }
}

function write(list) {
  try {
    localStorage.setItem(KEY, JSON.stringify(list.slice(0, MAX)));
  } catch {
    // storage full or disabled: the order page still works while it is open
  }
}

export function all() {
  return read().sort((a, b) => String(b.created_at || '').localeCompare(String(a.created_at || '')));
}

export function get(orderId) {
  return read().find((e) => e.order_id === orderId) || null;
}

export function put(entry) {
  const list = read();
  const index = list.findIndex((e) => e.order_id === entry.order_id);
  // A field left out or empty (a repeat answer without a new token) keeps what was saved.
  const known = Object.entries(entry).filter(([, value]) => value !== undefined && value !== null && value !== '');
  const merged = { ...(index >= 0 ? list[index] : {}), ...Object.fromEntries(known) };
  if (index >= 0) list.splice(index, 1);
  list.unshift(merged);
  write(list);
  return merged;
}

export function update(orderId, fields) {
  const list = read();
  const entry = list.find((e) => e.order_id === orderId);
  if (!entry) return;
  Object.assign(entry, fields);
  write(list);
}

export function remove(orderId) {
  write(read().filter((e) => e.order_id !== orderId));
}
