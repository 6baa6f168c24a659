// The admin API (CONTRACT §4) with the signed-in user's token; problems as ApiError with the
// problem's title and detail. A 401 ends the session: the app sends the user to sign in.
import { fresh, signOut } from './auth.js';
import { config } from './config.js';

export class ApiError extends Error {
  constructor(status, problem, requestId) {
    super(problem.code || String(status));
    this.status = status;
    this.code = problem.code || '';
    this.title = typeof problem.title === 'string' ? problem.title : '';
    this.detail = typeof problem.detail === 'string' ? problem.detail : '';
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.requestId = requestId || null;
  }
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export async function call(method, path, { body, signal } = {}) {
  const session = await fresh();
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch((await config()).apiUrl + path, {
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
  if (response.status === 401) {
    // API Gateway answers a bad or expired token itself ({"message": "Unauthorized"}).
    signOut();
    window.dispatchEvent(new CustomEvent('kayisu:expired'));
  }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : {};
    throw new ApiError(response.status, problem, response.headers.get('X-Request-Id'));
  }
  return data;
}

// A presigned S3 PUT with real progress (fetch cannot report upload progress).
export function upload(url, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
      } else {
        reject(new ApiError(xhr.status, { code: 'UPLOAD_FAILED' }));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { code: 'NETWORK' })));
    xhr.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}
