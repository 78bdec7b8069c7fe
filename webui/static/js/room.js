// room.js: the meeting room (/room/{room}). Everyone publishes camera and
// microphone (simulcast, so each viewer can choose the quality of each tile)
// and may share a screen, which takes the spotlight; whoever speaks gets a
// ring. Without a join for this room the browser goes to the join page.

import { Call } from '/js/call.js';
import { joinOrRedirect, roomFromPath } from '/js/call-join.js';
import { bindControls, bindFatal, bindProblems, bindSound, mountChatPanel } from '/js/callui.js';
import { byId } from '/js/dom.js';
import { Stage } from '/js/tiles.js';

async function init() {
  const join = await joinOrRedirect(roomFromPath());
  if (!join) return;
  const call = new Call(join);
  call.simulcast = true;
  document.title = `${join.room.name} · Lectern`;
  byId('room-title').textContent = join.room.name;

  const stage = new Stage(byId('tiles'), call, { tileControls: true });
  bindControls(call);
  bindProblems(call);
  bindSound(stage);
  bindFatal(call);
  const people = byId('people');
  call.on('change', () => {
    const n = call.participants.size;
    people.textContent = `${n} ${n === 1 ? 'person' : 'people'}`;
  });

  const toggle = byId('chat-toggle');
  toggle.addEventListener('click', () => {
    const open = document.body.classList.toggle('chat-open');
    toggle.setAttribute('aria-expanded', String(open));
    if (open) byId('chat-title').scrollIntoView({ block: 'nearest' });
  });

  if (!(await call.start())) return;
  mountChatPanel(document.querySelector('.chat-panel'), call);
  stage.render();
  stage.startSpeakerWatch();
  await call.publishDevices();
}

init();
