// call-join.js: how the studio and the meeting room find the visitor's join
// for their room: kept by the join page after a PIN (session.js), or carried
// by the page's link as an access token. Without either, the visitor goes to
// the join page with the room filled in.

import { path, request } from '/js/api.js';
import { loadJoin, saveJoin } from '/js/session.js';

/**
 * Reads the room ID from a page path such as /studio/weekly.
 * @returns {string}
 */
export function roomFromPath() {
  const seg = location.pathname.split('/').filter(Boolean)[1] || '';
  try { return decodeURIComponent(seg); } catch { return ''; }
}

/**
 * The join for this page's room, or null after sending the browser to the
 * join page (no token, or it expired).
 * @param {string} room
 */
export async function joinOrRedirect(room) {
  const join = room ? (await joinFromLink(room)) ?? loadJoin(room) : null;
  const app = new URLSearchParams(location.search).get('app');
  if (!join) location.replace(`/?room=${encodeURIComponent(room)}${app ? `&app=${encodeURIComponent(app)}` : ''}`);
  return join;
}

/**
 * Takes an access token from the page's link (#token=..., as an integrator
 * or the admin console hands a host one with moderate) and keeps it as this
 * tab's join for the room, like a PIN join. The fragment never reaches the
 * server's logs and is removed from the address bar. The token's claims only
 * shape the page; the server checks the token on every request.
 * @param {string} room
 * @returns {Promise<import('/js/session.js').Join|null>}
 */
async function joinFromLink(room) {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token) return null;
  history.replaceState(null, '', location.pathname + location.search);
  let claims;
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
  const grant = claims?.rooms?.[room];
  if (!grant) return null;
  let info;
  try {
    info = await request('GET', path`/rooms/${room}`, { credential: token });
  } catch {
    return null; // the join page explains what is wrong with the room
  }
  const perms = new Set(String(grant.p ?? '').split(','));
  const names = ['publish', 'subscribe', 'list', 'send', 'receive', 'moderate'];
  const join = {
    token, expires_at: new Date(claims.exp * 1000).toISOString(), identity: claims.sub, name: claims.name || claims.sub,
    permissions: /** @type {import('/js/session.js').Permissions} */ (Object.fromEntries(names.map((n) => [n, perms.has(n)]))), tier: grant.t || info.tier,
    room: { id: info.id, name: info.name, mode: info.mode, tier: info.tier },
  };
  saveJoin(join);
  return join;
}
