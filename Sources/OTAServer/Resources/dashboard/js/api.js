// The admin API client. The token lives in this tab's sessionStorage only and travels in the
// Authorization header; it never appears in a URL.

const TOKEN_KEY = 'ota.dashboard.token';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) { sessionStorage.setItem(TOKEN_KEY, value); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorizedHandler = null;
/** Called once when the server refuses the token (401): the session is over. */
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export async function api(path, { method = 'GET', body, token = session.token, quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  } catch (error) {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = (data && data.error && data.error.message) || `The server answered ${response.status}.`;
    const error = new ApiError(response.status, (data && data.error && data.error.code) || 'http', message);
    if (response.status === 401 && !quiet401 && unauthorizedHandler) unauthorizedHandler(error);
    throw error;
  }
  return data;
}

/** '?a=1&b=x' from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? '?' + text : '';
}

export const ROLES = ['viewer', 'publisher', 'operator', 'admin'];

/**
 * What the token may do. There is no "who am I" endpoint, so this asks harmless questions:
 * reading the audit log needs admin, listing enrollment tokens needs operator, and asking
 * which of zero digests are missing needs publisher. None of them changes anything.
 */
export async function probeRole(token) {
  // Throws ApiError(401) for a token the server does not know.
  await api('/api/v1/fleet/summary?silent_after_s=3600', { token, quiet401: true });
  const allowed = async (path, options = {}) => {
    try {
      await api(path, { ...options, token, quiet401: true });
      return true;
    } catch (error) {
      if (error.status === 403) return false;
      throw error;
    }
  };
  const [admin, operator, publisher] = await Promise.all([
    allowed('/api/v1/audit?limit=1'),
    allowed('/api/v1/enrollment-tokens'),
    allowed('/api/v1/content/missing', { method: 'POST', body: { digests: [] } }),
  ]);
  if (admin) return 'admin';
  if (operator) return 'operator';
  if (publisher) return 'publisher';
  return 'viewer';
}

export function capabilities(role) {
  const rank = ROLES.indexOf(role);
  return {
    role,
    controlDeployments: role === 'operator' || role === 'admin',
    publish: role === 'publisher' || role === 'admin',
    read: rank >= 0,
  };
}
