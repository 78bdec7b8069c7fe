// Chromium (Debian's, driven by playwright-core) watches one broadcast with
// several players at once while the test kills the node that holds it:
//   {"chromium": "/usr/bin/chromium", "origin": "http://127.0.0.1:port",
//    "pages": [{"name": "hlsjs", "player": "hlsjs", "url": "..."},
//              {"name": "watch", "page": "http://.../watch/room#token=..."}]}
// A page with a player gets the npm player on a page of the origin; a page
// with "page" is opened as it is (Lectern's watch page, video #video). Every
// quarter second, until the driver is interrupted, it prints one line per
// page with what its video element has played:
//   SAMPLE <name> {"currentTime": ..., "totalVideoFrames": ..., "state": ..., "errors": [...]}
// The Go test timestamps the lines and decides.
import { chromium } from 'playwright-core';
import { job, log, playback, sleep } from './common.mjs';
import { chromiumArgs, players, startPlayer } from './players.mjs';

const j = job();
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopping = true; });

const browser = await chromium.launch({ executablePath: j.chromium, args: chromiumArgs, handleSIGINT: false, handleSIGTERM: false });
log('chromium', browser.version());
try {
  const open = await Promise.all(j.pages.map(async (p) => {
    const page = await browser.newPage();
    if (p.player) {
      // Any page of the server's origin: the playlist is then same-origin.
      await page.goto(j.origin + '/healthz');
      await page.addScriptTag({ path: players[p.player] });
      await page.evaluate(startPlayer, { player: p.player, url: p.url });
      return { name: p.name, page, selector: '#v' };
    }
    await page.goto(p.page);
    return { name: p.name, page, selector: '#video' };
  }));
  while (!stopping) {
    for (const o of open) {
      let s;
      try {
        s = { ...await o.page.evaluate(playback, o.selector), ...await o.page.evaluate(status) };
      } catch (err) {
        s = { found: false, error: String(err).slice(0, 300) };
      }
      process.stdout.write(`SAMPLE ${o.name} ${JSON.stringify(s)}\n`);
    }
    await sleep(250);
  }
} finally {
  await browser.close();
}

// status runs in a page: the watch page's state, why it last restarted its
// player and how often it moved a standing playhead on, the npm player's
// error events.
function status() {
  const box = document.querySelector('#player-state');
  const errors = window.playerErrors || [];
  return { state: box?.dataset.state, lastError: box?.dataset.lastError, unstuck: Number(box?.dataset.unstuck || 0), errorCount: errors.length, errors: errors.slice(-3) };
}
