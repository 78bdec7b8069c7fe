// callui.js: the parts of the studio and meeting-room pages that look the
// same: the microphone, camera and screen buttons, the problem notice, the
// "turn on sound" note, the screen that says why the call ended, and the
// chat panel (chat.js, mounted when the server has it).

import { byId, h } from '/js/dom.js';
import { icon } from '/js/icons.js';

/**
 * Wires the call's control buttons (#mic, #camera, #screen, #leave) to a call.
 * @param {import('/js/call.js').Call} call
 */
export function bindControls(call) {
  const mic = byId('mic'), cam = byId('camera'), screen = byId('screen');
  mic.addEventListener('click', () => call.toggle('microphone'));
  cam.addEventListener('click', () => call.toggle('camera'));
  screen.addEventListener('click', () => (call.local.screen ? call.stopScreen() : call.shareScreen()));
  byId('leave').addEventListener('click', () => {
    call.leave();
    location.assign('/');
  });
  // Closing the tab tells the room at once instead of after a timeout.
  addEventListener('pagehide', () => { if (!call.ended) call.leave(); });
  const draw = () => {
    // Only what the room's media policy takes (no camera in an audio-only room).
    mic.hidden = !call.may('microphone');
    cam.hidden = !call.may('camera');
    screen.hidden = !call.may('screen');
    const micOff = call.isOff('microphone'), camOff = call.isOff('camera'), sharing = !!call.local.screen;
    setButton(mic, micOff ? 'micOff' : 'mic', micOff ? 'Unmute' : 'Mute', micOff ? 'Turn your microphone on' : 'Turn your microphone off', micOff, call.busy.has('microphone'));
    setButton(cam, camOff ? 'cameraOff' : 'camera', camOff ? 'Start video' : 'Stop video', camOff ? 'Turn your camera on' : 'Turn your camera off', camOff, call.busy.has('camera'));
    setButton(screen, 'screen', sharing ? 'Stop sharing' : 'Share screen', sharing ? 'Stop sharing your screen' : 'Share your screen', sharing, call.busy.has('screen'));
    screen.classList.toggle('active', sharing);
  };
  call.on('local', draw);
  call.on('change', draw);
  draw();
}

/**
 * @param {HTMLElement} btn @param {string} iconName @param {string} label
 * @param {string} title @param {boolean} off @param {boolean} busy
 */
function setButton(btn, iconName, label, title, off, busy) {
  btn.replaceChildren(icon(/** @type {any} */ (iconName)), h('span', { class: 'control-label', text: label }));
  btn.title = title;
  btn.setAttribute('aria-label', title);
  btn.classList.toggle('off', off && btn.id !== 'screen');
  /** @type {HTMLButtonElement} */ (btn).disabled = busy;
}

/**
 * Shows the call's problems (camera blocked, a refused request) in #problem.
 * @param {import('/js/call.js').Call} call
 */
export function bindProblems(call) {
  const box = byId('problem'), text = byId('problem-text'), retry = byId('problem-retry');
  call.on('problem', (p) => {
    const { message, retry: canRetry } = typeof p === 'string' ? { message: p, retry: false } : p;
    text.textContent = message;
    retry.hidden = !canRetry;
    box.hidden = !message;
  });
  retry.addEventListener('click', () => call.retryDevices());
  byId('problem-close').addEventListener('click', () => { box.hidden = true; });
}

/**
 * Shows the note with a button when the browser holds back sound until a click.
 * @param {import('/js/tiles.js').Stage} stage
 */
export function bindSound(stage) {
  const note = byId('sound-note');
  stage.onSoundBlocked = () => { note.hidden = false; };
  byId('sound-on').addEventListener('click', () => {
    stage.resumeSound();
    note.hidden = true;
  });
}

/**
 * Replaces the page with why the call ended.
 * @param {import('/js/call.js').Call} call
 */
export function bindFatal(call) {
  call.on('fatal', ({ title, message, final }) => {
    byId('fatal-title').textContent = title;
    byId('fatal-message').textContent = message;
    byId('rejoin').hidden = final;
    byId('fatal').hidden = false;
    byId('main').inert = true;
    byId('fatal-title').focus();
  });
  byId('rejoin').addEventListener('click', () => location.reload());
}

/**
 * Mounts the shared chat widget (chat.js) in the page's chat panel, if this
 * server has it.
 * @param {HTMLElement} panel  the .chat-panel section
 * @param {import('/js/call.js').Call} call
 */
export async function mountChatPanel(panel, call) {
  const status = panel.querySelector('.chat-status');
  const perms = call.join.permissions;
  if (!perms.receive) {
    if (status) status.textContent = 'You cannot read the chat in this room.';
    return;
  }
  let mod;
  try {
    mod = await import('/js/chat.js');
  } catch {
    if (status) status.textContent = 'Chat is not available on this server.';
    return;
  }
  status?.remove();
  try {
    mod.mountChat(panel.querySelector('.chat-mount') ?? panel, { room: call.roomId, token: call.join.token, permissions: perms, mode: call.join.room.mode });
  } catch (err) {
    panel.append(h('p', { class: 'notice notice-error', text: `The chat could not start: ${err?.message || err}` }));
  }
}
