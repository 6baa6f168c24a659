// The shop's API (CONTRACT §1): its address from /config.json, errors as problem+json codes.

export class ApiError extends Error {
  constructor(status, problem, requestId) {
    super(problem.code);
    this.status = status;
    this.code = problem.code;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.reason = typeof problem.reason === 'string' ? problem.reason : null; // COUPON_INVALID's
    this.requestId = requestId || null;
  }
}

let base = null;

// config.json: {"api_url": "https://..."}; empty or missing means the API is on this page's origin.
function apiBase() {
  if (base === null) {
    base = fetch('/config.json', { cache: 'no-cache', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : {}))
      .then((config) => {
        const url = typeof config?.api_url === 'string' ? config.api_url.trim().replace(/\/+$/, '') : '';
        return /^https?:\/\/[^/]+/.test(url) ? url : '';
      })
      .catch(() => '');
  }
  return base;
}

export async function call(method, path, { body, token, idempotencyKey, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let response;
  try {
    response = await fetch((await apiBase()) + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new ApiError(0, { code: 'NETWORK' });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem =
      data && typeof data.code === 'string'
        ? data
        : { code: response.status >= 500 ? 'INTERNAL_ERROR' : 'NOT_FOUND' };
    throw new ApiError(response.status, problem, response.headers.get('X-Request-Id'));
  }
  return data;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
