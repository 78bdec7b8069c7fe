// api.js: a small client for Lectern's REST API (docs/api.md). JSON in and
// out, a Bearer credential (the admin key or an access token), and errors as
// APIError values that carry the server's stable code and its message.
//
//   import { client, path } from '/js/api.js';
//   const api = client(adminKey);
//   const { rooms } = await api.get('/rooms');
//   await api.patch(path`/rooms/${id}`, { name: 'Weekly' });

/** The API's base path. */
export const BASE = '/api/v1';

/**
 * An error answered by the API, or a failure to reach it.
 * `code` is the server's stable code (docs/api.md, "Errors"), or `network`
 * when the request never got an answer, or `http_<status>` when the answer
 * was not the API's JSON.
 */
export class APIError extends Error {
  /**
   * @param {number} status  HTTP status, 0 for a network failure
   * @param {string} code
   * @param {string} message  the server's sentence for people
   * @param {number} [retryAfter]  seconds, from Retry-After, 0 if absent
   */
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /**
   * The request field the message is about, or ''. Validation messages start
   * with the field's name: "name: must be 1 to 100 characters".
   * @returns {string}
   */
  get field() {
    const m = /^([a-z_]+)(?:, [a-z_]+)*: /.exec(this.message);
    return m ? m[1] : '';
  }

  /**
   * The message without its field prefix, as a sentence:
   * "name: must be 1 to 100 characters" gives "Must be 1 to 100 characters."
   * @returns {string}
   */
  get detail() {
    let s = this.field ? this.message.slice(this.message.indexOf(': ') + 2) : this.message;
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }
}

/**
 * Builds an API path, encoding each interpolated value as one path segment:
 * path`/rooms/${id}/members/${identity}`.
 * @param {TemplateStringsArray} strings
 * @param {...(string|number)} values
 * @returns {string}
 */
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

/**
 * Sends one request to the API and returns its decoded JSON body (null for
 * 204). Rejects with an APIError for any status outside 2xx.
 * @param {string} method
 * @param {string} apiPath  a path under /api/v1, such as "/rooms"
 * @param {{body?: unknown, credential?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export async function request(method, apiPath, { body, credential, signal } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (credential) headers.Authorization = `Bearer ${credential}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(BASE + apiPath, {
      method, headers, signal, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new APIError(0, 'network', 'Cannot reach the Lectern server. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const isJSON = (res.headers.get('Content-Type') || '').startsWith('application/json');
  const data = isJSON ? await res.json().catch(() => /** @type {any} */ (null)) : null;
  if (res.ok) return data;
  const retryAfter = Number.parseInt(res.headers.get('Retry-After') || '0', 10) || 0;
  if (data && typeof data.code === 'string') {
    throw new APIError(res.status, data.code, String(data.message || data.code), retryAfter);
  }
  throw new APIError(res.status, `http_${res.status}`, `The server answered ${res.status} ${res.statusText}.`.replace(' .', '.'), retryAfter);
}

/**
 * Sends a GET that asks for CSV and returns the body as a Blob. Rejects with
 * an APIError as request does.
 * @param {string} apiPath
 * @param {{credential?: string}} [options]
 * @returns {Promise<Blob>}
 */
export async function requestCSV(apiPath, { credential } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'text/csv' };
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let res;
  try {
    res = await fetch(BASE + apiPath, { headers, cache: 'no-store' });
  } catch {
    throw new APIError(0, 'network', 'Cannot reach the Lectern server. Check your connection and try again.');
  }
  if (res.ok) return res.blob();
  const data = await res.json().catch(() => /** @type {any} */ (null));
  if (data && typeof data.code === 'string') throw new APIError(res.status, data.code, String(data.message || data.code));
  throw new APIError(res.status, `http_${res.status}`, `The server answered ${res.status} ${res.statusText}.`.replace(' .', '.'));
}

/**
 * @typedef {object} Client  request helpers bound to one credential
 * @property {(p: string) => Promise<any>} get
 * @property {(p: string, body?: unknown) => Promise<any>} post
 * @property {(p: string, body: unknown) => Promise<any>} patch
 * @property {(p: string) => Promise<any>} del
 * @property {(p: string) => Promise<Blob>} csv  GET asking for text/csv
 */

/**
 * Returns request helpers that send credential as the Bearer token.
 * @param {string} [credential]  the admin key or an access token
 * @returns {Client}
 */
export function client(credential) {
  return {
    get: (p) => request('GET', p, { credential }),
    post: (p, body) => request('POST', p, { credential, body }),
    patch: (p, body) => request('PATCH', p, { credential, body }),
    del: (p) => request('DELETE', p, { credential }),
    csv: (p) => requestCSV(p, { credential }),
  };
}
