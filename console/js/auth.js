// Signing in against the Cognito user pool (USER_PASSWORD_AUTH, the same call locally and on
// AWS), and the session: the ID token and the refresh token in sessionStorage (this tab only,
// gone when it closes). An ID token lives an hour (template.yaml); before it runs out the
// session is renewed with the refresh token (REFRESH_TOKEN_AUTH), so that a dashboard left open
// keeps working, and only a refused renewal sends the user to sign in again.
import { config } from './config.js';

const KEY = 'kayisu.console.session';
const SKEW_MS = 30_000; // treat a token as expired a little early rather than fail mid-call

export class SignInError extends Error {
  constructor(kind, detail = '') {
    super(kind);
    this.kind = kind; // 'bad' | 'config' | 'network' | 'challenge' | 'other'
    this.detail = detail;
  }
}

function decode(token) {
  const part = String(token).split('.')[1] || '';
  const text = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function groupsOf(claims) {
  const raw = claims['cognito:groups'];
  if (Array.isArray(raw)) return raw.map(String);
  if (typeof raw === 'string') return raw.replace(/^\[|\]$/g, '').split(/[\s,]+/).filter(Boolean);
  return [];
}

export function current() {
  let saved;
  try {
    saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.token !== 'string') return null;
  return saved;
}

export function expired(session) {
  return !session || Number(session.expires_at) * 1000 - SKEW_MS <= Date.now();
}

export function signOut() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing was stored
  }
}

async function initiateAuth(flow, parameters) {
  const { clientId, cognitoEndpoint } = await config();
  if (!clientId || !cognitoEndpoint) throw new SignInError('config');
  let response;
  try {
    response = await fetch(`${cognitoEndpoint}/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth',
      },
      body: JSON.stringify({ AuthFlow: flow, ClientId: clientId, AuthParameters: parameters }),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new SignInError('network');
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  if (!response.ok) {
    const type = String(data.__type || response.headers.get('x-amzn-errortype') || '').split('#').pop().split(':')[0];
    if (type === 'NotAuthorizedException' || type === 'UserNotFoundException') throw new SignInError('bad');
    throw new SignInError('other', data.message || type || String(response.status));
  }
  return data;
}

function keep(result, email, refresh) {
  const token = result?.IdToken;
  if (!token) return null;
  const claims = decode(token);
  const session = {
    token,
    refresh: result.RefreshToken || refresh || '', // a renewal answers without a new one
    email: String(claims.email || email),
    groups: groupsOf(claims),
    expires_at: Number(claims.exp) || Date.now() / 1000 + Number(result.ExpiresIn || 3600),
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export async function signIn(email, password) {
  const data = await initiateAuth('USER_PASSWORD_AUTH', { USERNAME: email, PASSWORD: password });
  const session = keep(data.AuthenticationResult, email, '');
  if (!session) throw new SignInError('challenge', data.ChallengeName || '');
  return session;
}

let renewing = null; // one renewal at a time, whoever asks (the page's calls run together)

// The session with a token that is still good: as it is, renewed, or null (signed out) when
// there is none or the renewal was refused or failed.
export async function fresh() {
  const session = current();
  if (!session || !expired(session)) return session;
  if (!session.refresh) {
    signOut();
    return null;
  }
  if (!renewing) {
    renewing = initiateAuth('REFRESH_TOKEN_AUTH', { REFRESH_TOKEN: session.refresh })
      .then((data) => keep(data.AuthenticationResult, session.email, session.refresh))
      .catch(() => null)
      .then((renewed) => {
        if (!renewed) signOut();
        return renewed;
      })
      .finally(() => {
        renewing = null;
      });
  }
  return renewing;
}

// What the page offers; the API checks the group on every call whatever the page shows.
export function isOperator(session) {
  return Boolean(session?.groups.includes('operators'));
}

export function isFinance(session) {
  return Boolean(session?.groups.includes('finance'));
}
