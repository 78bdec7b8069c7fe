// watch.js: the viewer page (/watch/{room}). Plays the room's broadcast over
// LL-HLS (hls.js, or Safari's own player) with a live-latency readout, and
// shows the chat and questions when the viewer's token allows them.
//
// Viewers cannot read the broadcast status (it is for moderators), so the
// page asks the playlist itself: 404 broadcast_offline is "offline", 503
// broadcast_starting "starting"; it keeps asking and starts playing by itself
// when the broadcast goes live, and goes back to waiting when it ends.

import { path } from '/js/api.js';
import { joinOrRedirect, roomFromPath } from '/js/call-join.js';
import { mountChat } from '/js/chat.js';
import { byId, h } from '/js/dom.js';
import { HLSPlayer } from '/js/hlsplayer.js';
import { clearJoin } from '/js/session.js';
import { bindStageWatch } from '/js/stage-watch.js';

/** How often the page asks whether an offline broadcast went live, in ms. */
const OFFLINE_RETRY = 2000;
/** Behind live by more than this (seconds), the page offers to jump to live. */
const FAR_BEHIND = 6;
/**
 * A picture standing still this long (ms) makes the page ask whether the
 * broadcast ended; when it is still live, the page moves the playhead on,
 * and loads the player again when it stands still for another STALL_CHECK.
 */
const STALL_CHECK = 2500;
/** The least time (ms) between two loads the stall check makes. */
const RELOAD_GAP = 15000;

const video = /** @type {HTMLVideoElement} */ (byId('video'));
const stateBox = byId('player-state');
const badge = byId('live-badge');
const latencyOut = byId('latency');
const goLive = byId('go-live');
const unmute = byId('unmute');
const player = new HLSPlayer(video, { lowLatency: true });
let retryTimer = 0;
/** On stage, the page shows the live room instead of HLS (stage-watch.js). */
let staged = false;
let room = '';
/** @type {import('/js/session.js').Join} */
let join;

const STATES = {
  connecting: ['Connecting…', '', 'Offline'],
  offline: ['The stream is offline', 'The broadcast has not started yet, or it has ended. This page starts playing by itself when it goes live.', 'Offline'],
  ended: ['The broadcast has ended', 'Thank you for watching. If it starts again, this page plays it by itself.', 'Offline'],
  starting: ['The stream is starting', 'The broadcast is going live; the picture appears in a moment.', 'Starting'],
  buffering: ['Loading the picture…', '', 'Starting'],
  playing: ['', '', 'Live'],
  unreachable: ['Cannot reach the server', 'Check your connection. This page keeps trying.', 'Offline'],
  expired: ['Your access has ended', 'Your place in this room has expired. Join again with the PIN from your invitation.', 'Offline'],
  denied: ['You cannot watch this room', 'Your invitation does not include watching the broadcast.', 'Offline'],
  gone: ['This room no longer exists', 'The room was deleted, or the link is wrong.', 'Offline'],
  failed: ['The broadcast cannot be played here', '', 'Offline'],
};

/**
 * Shows a state over the player and in the badge.
 * @param {keyof typeof STATES} state
 * @param {string} [detail]  replaces the state's usual explanation
 */
function setState(state, detail) {
  const [title, usual, label] = STATES[state];
  stateBox.dataset.state = state;
  stateBox.hidden = state === 'playing';
  byId('player-state-title').textContent = title;
  byId('player-state-detail').textContent = detail ?? usual;
  byId('player-state-action').hidden = state !== 'expired' && state !== 'gone';
  badge.dataset.state = label.toLowerCase();
  badge.textContent = label;
  video.controls = state === 'playing';
  if (state !== 'playing') {
    latencyOut.textContent = label === 'Starting' ? 'Starting…' : 'Not playing';
    delete latencyOut.dataset.latency;
    goLive.hidden = true;
  }
}

/** The room's multivariant playlist URL with the viewer's token. */
function playlistURL() {
  return `${path`/hls/${room}/index.m3u8`}?token=${encodeURIComponent(join.token)}`;
}

/** @param {number} ms */
function retry(ms) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(probe, ms);
}

/**
 * Asks for the playlist: plays when it is there, else shows why and asks
 * again later.
 */
async function probe() {
  clearTimeout(retryTimer);
  if (staged) return;
  let res;
  try {
    res = await fetch(playlistURL(), { cache: 'no-store' });
  } catch {
    setState('unreachable');
    retry(5000);
    return;
  }
  if (staged) return;
  if (res.ok) {
    start();
    return;
  }
  const body = await res.json().catch(() => /** @type {any} */ (null));
  const code = body?.code || '';
  const after = (Number.parseInt(res.headers.get('Retry-After') || '', 10) || 1) * 1000;
  switch (true) {
    case res.status === 503:
      setState('starting');
      retry(Math.min(after, 3000));
      break;
    case code === 'room_not_found':
      setState('gone');
      break;
    case res.status === 404:
      if (stateBox.dataset.state !== 'ended') setState('offline');
      retry(OFFLINE_RETRY);
      break;
    case res.status === 401:
      clearJoin(room);
      setState('expired');
      break;
    case res.status === 403:
      setState('denied');
      break;
    default:
      setState('unreachable', `The server answered: ${body?.message || res.status}. This page keeps trying.`);
      retry(5000);
  }
}

/** Attaches the player to the live playlist. */
async function start() {
  setState('buffering');
  try {
    await player.load(playlistURL());
  } catch (err) {
    setState('failed', err.message);
    return;
  }
  autoplay();
}

/** Plays with sound if the browser lets the page, else muted with a button. */
async function autoplay() {
  try {
    await video.play();
  } catch (err) {
    if (err?.name !== 'NotAllowedError') return; // AbortError: a new load replaced this one
    video.muted = true;
    unmute.hidden = false;
    await video.play().catch(() => {});
  }
}

/** @param {string} why */
function onFatal(why) {
  stateBox.dataset.lastError = why; // for support and tests: why playback restarted
  player.destroy();
  unmute.hidden = true;
  setState(why === 'ended' ? 'ended' : 'connecting');
  retry(why === 'ended' ? OFFLINE_RETRY : 1000);
}

let lastProgress = 0;
let stuckSince = 0;
let checking = false;
/** Checks made in the current stall, and when the last reload was. */
let stallChecks = 0;
let reloadedAt = 0;

/**
 * While the picture stands still, asks whether the broadcast is still on:
 * a stream that ended may leave the player waiting for more instead of
 * ending. A broadcast that is live while the picture stands still (the
 * player stopped at the hole a failover left, say) gets its playhead moved
 * on, and a new load if that does not help.
 */
async function checkStalled() {
  const now = Date.now();
  if (video.paused || progress() !== lastProgress) {
    lastProgress = progress();
    stuckSince = now;
    stallChecks = 0;
    return;
  }
  if (now - stuckSince < STALL_CHECK || checking) return;
  checking = true;
  stuckSince = now;
  try {
    const res = await fetch(playlistURL(), { cache: 'no-store' });
    if (stateBox.dataset.state !== 'playing' || progress() !== lastProgress) return;
    if (res.status === 404) {
      onFatal('ended');
    } else if (res.ok) {
      unstall();
    }
  } catch {
    // Offline for a moment: hls.js retries, and so does this.
  } finally {
    checking = false;
  }
}

/**
 * A reading that grows while the picture moves: the frames the video
 * element has shown, or, for a broadcast without video, its playhead. Not
 * the playhead alone: a player can seek on and on while showing nothing
 * (hls.js did, past media it had not buffered, in a failover).
 * @returns {number}
 */
function progress() {
  const frames = video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
  return frames > 0 ? frames : video.currentTime;
}

/** Moves a live broadcast's standing picture on: the playhead first, then a new load. */
function unstall() {
  stallChecks++;
  if (stallChecks === 1 && player.unstick()) {
    // For support and tests: how often the playhead was moved on.
    stateBox.dataset.unstuck = String(Number(stateBox.dataset.unstuck || 0) + 1);
    return;
  }
  if (stallChecks < 2 || Date.now() - reloadedAt < RELOAD_GAP) return;
  reloadedAt = Date.now();
  stallChecks = 0;
  stateBox.dataset.lastError = 'stalled';
  start();
}

/** Updates the latency readout while playing. */
function tick() {
  if (stateBox.dataset.state !== 'playing') return;
  checkStalled();
  const s = player.latency();
  if (video.paused) {
    latencyOut.textContent = 'Paused';
  } else if (Number.isFinite(s)) {
    latencyOut.textContent = `${s.toFixed(1)} s behind live`;
    latencyOut.dataset.latency = s.toFixed(2);
  } else {
    latencyOut.textContent = 'Live';
  }
  goLive.hidden = !(video.paused || s > FAR_BEHIND);
}

async function init() {
  room = roomFromPath();
  // The join page's join, or a token in the link (#token=...); without
  // either, the join page with the room filled in.
  const stored = await joinOrRedirect(room);
  if (!stored) return;
  join = stored;
  document.title = `${join.room.name} · Watch · Lectern`;
  byId('room-name').textContent = join.room.name;
  byId('player-state-action').setAttribute('href', `/?room=${encodeURIComponent(room)}`);
  byId('watch-about').replaceChildren('You are watching as ', h('strong', {}, h('bdi', { text: join.name })), '.');
  byId('leave').addEventListener('click', () => {
    clearJoin(room);
    location.assign(`/?room=${encodeURIComponent(room)}`);
  });
  unmute.addEventListener('click', () => {
    video.muted = false;
    unmute.hidden = true;
    video.play().catch(() => {});
  });
  goLive.addEventListener('click', () => player.goLive());
  video.addEventListener('playing', () => setState('playing'));
  video.addEventListener('volumechange', () => { if (!video.muted) unmute.hidden = true; });
  player.onFatal = onFatal;
  setInterval(tick, 500);

  const perms = join.permissions;
  if (perms.receive) {
    byId('chat-panel').hidden = false;
    document.body.classList.add('with-chat');
    mountChat(byId('chat'), { room, token: join.token, permissions: perms, mode: join.room.mode });
  }
  if (!perms.subscribe) {
    setState('denied');
    return;
  }
  setState('connecting');
  probe();
  if (join.room.mode === 'webinar' && !perms.publish) {
    bindStageWatch(room, join, {
      stop: () => {
        staged = true;
        clearTimeout(retryTimer);
        player.destroy();
        setState('connecting');
        badge.dataset.state = 'live';
        badge.textContent = 'On stage';
      },
      start: () => { staged = false; setState('connecting'); probe(); },
    });
  }
}

init();
