// session.js: what a join leaves for the pages that follow it. The join page
// stores the server's join answer (token, identity, permissions, room) in
// sessionStorage, one entry per room, so the token lives only as long as the
// tab; the studio, room and watch pages read it back with loadJoin(room).
// Device choices (not secret) are kept in localStorage across visits.

/** @param {string} room */
const joinKey = (room) => `lectern.join.${room}`;
const DEVICES_KEY = 'lectern.devices';
const NAME_KEY = 'lectern.name';

/**
 * @typedef {object} Permissions
 * @property {boolean} publish
 * @property {boolean} subscribe
 * @property {boolean} list
 * @property {boolean} send
 * @property {boolean} receive
 * @property {boolean} moderate
 *
 * @typedef {object} Join  the answer of POST /api/v1/rooms/{room}/join
 * @property {string} token
 * @property {string} expires_at
 * @property {string} identity
 * @property {string} name
 * @property {Permissions} permissions
 * @property {string} tier
 * @property {{id: string, name: string, mode: string, tier: string, media?: import('/js/lectern.js').MediaPolicy}} room
 * @property {RTCIceServer[]} [ice_servers]  STUN/TURN for this identity; the server always
 *   sends it ([] without TURN), a join made from a link's token has none (the welcome's apply)
 */

/** @param {Join} join */
export function saveJoin(join) {
  try {
    sessionStorage.setItem(joinKey(join.room.id), JSON.stringify(join));
  } catch {
    // Storage full or disabled: the next page asks for the PIN again.
  }
}

/**
 * Returns the stored join for room, or null when there is none or its token
 * has expired.
 * @param {string} room
 * @returns {Join|null}
 */
export function loadJoin(room) {
  let join = null;
  try {
    join = JSON.parse(sessionStorage.getItem(joinKey(room)) || 'null');
  } catch {
    return null;
  }
  if (!join || typeof join.token !== 'string' || !join.room) return null;
  if (Date.parse(join.expires_at) <= Date.now()) {
    clearJoin(room);
    return null;
  }
  return join;
}

/** @param {string} room */
export function clearJoin(room) {
  try { sessionStorage.removeItem(joinKey(room)); } catch { /* nothing stored */ }
}

/**
 * The page a join leads to: webinar speakers to the studio, webinar viewers
 * to the watch page, everyone in a conference to the room.
 * @param {Join} join
 * @returns {string} a path
 */
export function destination(join) {
  const id = encodeURIComponent(join.room.id);
  if (join.room.mode !== 'webinar') return `/room/${id}`;
  return join.permissions.publish ? `/studio/${id}` : `/watch/${id}`;
}

/**
 * @typedef {object} DeviceChoice
 * @property {string} camera      deviceId, '' for the default
 * @property {string} microphone  deviceId, '' for the default
 * @property {boolean} cameraOn
 * @property {boolean} microphoneOn
 */

/** @returns {DeviceChoice} */
export function loadDevices() {
  const fallback = { camera: '', microphone: '', cameraOn: true, microphoneOn: true };
  try {
    return { ...fallback, ...JSON.parse(localStorage.getItem(DEVICES_KEY) || '{}') };
  } catch {
    return fallback;
  }
}

/** @param {DeviceChoice} choice */
export function saveDevices(choice) {
  try { localStorage.setItem(DEVICES_KEY, JSON.stringify(choice)); } catch { /* not kept */ }
}

/** @returns {string} the display name last used on this browser */
export function loadName() {
  try { return localStorage.getItem(NAME_KEY) || ''; } catch { return ''; }
}

/** @param {string} name */
export function saveName(name) {
  try { localStorage.setItem(NAME_KEY, name); } catch { /* not kept */ }
}
