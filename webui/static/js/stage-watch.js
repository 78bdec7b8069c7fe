// stage-watch.js: the stage on the watch page (docs/protocol.md "The stage").
// A viewer raises a hand; when a moderator invites them, a dialog checks the
// camera and microphone; on accept the page leaves HLS for the live room over
// WebRTC (the presenters' tiles, one's own camera and microphone) without a
// reload, and goes back to HLS at the live edge when the turn ends.
//
// document.body.dataset.stage says where the viewer is: audience, raised,
// invited, joining or on-stage.

import { Call } from '/js/call.js';
import { DevicePicker } from '/js/devices.js';
import { byId, h, toast } from '/js/dom.js';
import { openStage } from '/js/stage-socket.js';
import { Stage as Tiles } from '/js/tiles.js';

/**
 * @typedef {object} HLSControl  what the watch page does when the viewer
 *   goes on stage and comes back
 * @property {() => void} stop   stops HLS playback
 * @property {() => void} start  plays HLS again, at the live edge
 */

/** Viewer-facing reasons for the end of a turn or an invitation. */
const ENDED = {
  invitation_expired: 'The invitation to the stage expired.',
  invitation_withdrawn: 'The host withdrew the invitation to the stage.',
  hand_dismissed: 'The host lowered your hand.',
};

/**
 * Binds the hand button (#hand) and the stage view (#stage-view).
 * @param {string} room
 * @param {import('/js/session.js').Join} join  the viewer's join
 * @param {HLSControl} hls
 */
export function bindStageWatch(room, join, hls) {
  const button = byId('hand');
  const view = byId('stage-view');
  /** @type {import('/js/stage-socket.js').StageSocket|null} */ let sock = null;
  /** @type {Call|null} */ let call = null;
  /** @type {Tiles|null} */ let tiles = null;
  /** @type {{dialog: HTMLDialogElement, picker: DevicePicker, timer: number}|null} */ let invite = null;
  /** Timings of the last turn, for support and tests (ms, performance.now()). */
  const timings = /** @type {Record<string, number>} */ ({});
  /** @type {any} */ (window).lecternStage = { timings };

  /** @param {'audience'|'raised'|'invited'|'joining'|'on-stage'} s */
  const set = (s) => {
    document.body.dataset.stage = s;
    button.hidden = s === 'on-stage' || s === 'joining';
    button.setAttribute('aria-pressed', String(s === 'raised' || s === 'invited'));
    button.textContent = s === 'raised' ? 'Lower hand' : s === 'invited' ? 'Invited…' : 'Raise hand';
    button.toggleAttribute('disabled', s === 'invited');
  };

  /** @type {Promise<import('/js/stage-socket.js').StageSocket>|null} */ let opening = null;
  /** The stage socket, opened on first use (once, however many clicks ask). */
  const socket = () => {
    if (sock) return Promise.resolve(sock);
    opening ??= openStage(room, join.token).then((s) => {
      sock = s;
      s.on('event', onEvent);
      s.on('close', () => {
        if (sock === s) sock = null;
        closeInvitation();
        if (call) backToAudience('The connection to the stage was lost.');
        else set('audience');
      });
      return s;
    }).finally(() => { opening = null; });
    return opening;
  };

  button.addEventListener('click', async () => {
    const raising = document.body.dataset.stage !== 'raised';
    try {
      const s = await socket();
      await s.request(raising ? 'hand_raise' : 'hand_lower');
      set(raising ? 'raised' : 'audience');
    } catch (err) {
      toast(`Could not ${raising ? 'raise' : 'lower'} your hand: ${err.reason || err.message}`, 'error');
    }
  });
  byId('stage-leave').addEventListener('click', () => {
    backToAudience('');
    sock?.request('stage_leave').catch(() => {});
  });

  /** @param {any} ev */
  function onEvent(ev) {
    switch (ev.event) {
      case 'invited': showInvitation(ev.invitation); break;
      case 'hand_dismissed': case 'invitation_expired': case 'invitation_withdrawn':
        closeInvitation();
        set('audience');
        toast(ENDED[/** @type {keyof typeof ENDED} */ (ev.event)]);
        break;
      case 'guest_left': backToAudience(ev.reason === 'the guest left the stage' ? '' : 'The host brought you back to the audience.'); break;
      default:
    }
  }

  /** @param {{expires_at: string}} inv */
  function showInvitation(inv) {
    closeInvitation();
    set('invited');
    const left = h('p', { class: 'muted stage-invite-left', 'aria-live': 'off' });
    const els = {
      video: /** @type {HTMLVideoElement} */ (h('video', { muted: true, playsinline: true, autoplay: true, hidden: true })),
      previewMsg: h('div', { class: 'preview-msg', 'aria-live': 'polite' }),
      camera: /** @type {HTMLSelectElement} */ (h('select', { id: 'stage-camera-select' })),
      microphone: /** @type {HTMLSelectElement} */ (h('select', { id: 'stage-microphone-select' })),
      cameraOn: /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'stage-camera-on', checked: true })),
      microphoneOn: /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'stage-microphone-on', checked: true })),
      meter: h('div', { class: 'meter', role: 'presentation', title: 'Microphone level' }, h('span')),
      problem: h('p', { role: 'alert' }),
    };
    els.video.muted = true;
    const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'stage-invite', 'aria-labelledby': 'stage-invite-title' },
      h('h2', { id: 'stage-invite-title', text: 'You are invited on stage' }),
      h('p', { text: 'The host invites you to speak live with your camera and microphone. Check them, then join: everyone watching will see and hear you.' }),
      h('div', { class: 'preview' }, els.video, els.previewMsg),
      h('div', { class: 'field' }, h('label', { for: 'stage-camera-select', text: 'Camera' }), els.camera),
      h('label', { class: 'check' }, els.cameraOn, h('span', { text: 'Camera on' })),
      h('div', { class: 'field' }, h('label', { for: 'stage-microphone-select', text: 'Microphone' }), els.microphone),
      h('label', { class: 'check' }, els.microphoneOn, h('span', { text: 'Microphone on' })),
      els.meter, els.problem, left,
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn', 'data-action': 'decline', text: 'Not now', onclick: decline }),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'accept', text: 'Join the stage', onclick: accept }))));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); decline(); });
    document.body.append(dialog);
    const picker = new DevicePicker(els);
    const until = Date.parse(/** @type {any} */ (inv).expires_at);
    const tick = () => { left.textContent = `This invitation expires in ${Math.max(0, Math.round((until - Date.now()) / 1000))} s.`; };
    tick();
    invite = { dialog, picker, timer: window.setInterval(tick, 1000) };
    dialog.showModal();
    picker.start();
  }

  function closeInvitation() {
    if (!invite) return;
    clearInterval(invite.timer);
    invite.picker.stop();
    invite.dialog.close();
    invite.dialog.remove();
    invite = null;
  }

  async function decline() {
    closeInvitation();
    set('audience');
    await sock?.request('stage_decline').catch(() => {});
  }

  async function accept() {
    // The picker saved the choices; the call opens the devices again.
    closeInvitation();
    set('joining');
    timings.accepted = performance.now();
    try {
      const r = await (await socket()).request('stage_accept');
      await goOnStage(r.stage);
    } catch (err) {
      backToAudience(`Could not join the stage: ${err.reason || err.message}`);
    }
  }

  /** @param {{token: string, permissions: any, tier: string, ice_servers: RTCIceServer[]}} stage */
  async function goOnStage(stage) {
    call = new Call({ ...join, token: stage.token, permissions: stage.permissions, tier: stage.tier, ice_servers: stage.ice_servers }, { borrowed: true });
    const c = call;
    tiles = new Tiles(byId('stage-tiles'), c);
    c.on('track', (/** @type {any} */ r) => { if (r.track.kind === 'audio') timings.firstAudio ??= performance.now(); });
    c.on('fatal', (/** @type {any} */ f) => {
      if (call !== c) return;
      // Removed, or the connection lost: the turn is over, the server hears so.
      backToAudience(`${f.title}: back to the audience.`);
      sock?.request('stage_leave').catch(() => {});
    });
    if (!(await c.start()) || call !== c) return;
    timings.connected = performance.now();
    hls.stop();
    view.hidden = false;
    tiles.render();
    tiles.startSpeakerWatch();
    set('on-stage');
    byId('stage-leave').focus();
    await c.publishDevices();
  }

  /** @param {string} why  said in a toast, '' for nothing */
  function backToAudience(why) {
    const wasOn = !!call;
    if (call) {
      call.leave();
      call = null;
    }
    if (tiles) {
      for (const el of tiles.media.values()) el.srcObject = null;
      tiles.audio.remove();
      tiles = null;
    }
    byId('stage-tiles').replaceChildren();
    view.hidden = true;
    set('audience');
    if (wasOn) {
      timings.left = performance.now();
      hls.start();
    }
    if (why) toast(why);
  }

  set('audience');
}
