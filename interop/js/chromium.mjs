// Chromium (Debian's, driven by playwright-core) plays a room's LL-HLS with
// the players from npm, in low-latency mode, each on a page of its own that
// has nothing of Lectern's client code:
//   {"chromium": "/usr/bin/chromium", "origin": "http://127.0.0.1:port",
//    "seconds": 8, "scenarios": [{"name": "hlsjs", "player": "hlsjs", "url": "..."}, ...]}
// For each it reports the player's version, what the video element played,
// the live latency the player measured and every error event the player sent.
import { chromium } from 'playwright-core';
import { job, runAll, watchPlayback, log } from './common.mjs';
import { chromiumArgs, players, startPlayer } from './players.mjs';

const j = job();
const browser = await chromium.launch({
  executablePath: j.chromium,
  args: chromiumArgs,
});
log('chromium', browser.version());
try {
  await runAll(j.scenarios, async (sc) => {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300)); });
    // Any page of the server's origin: the playlist is then same-origin.
    await page.goto(j.origin + '/healthz');
    await page.addScriptTag({ path: players[sc.player] });
    await page.evaluate(startPlayer, { player: sc.player, url: sc.url });
    const played = await watchPlayback(page, '#v', j.seconds, j.seconds * 20, 60000);
    const info = await page.evaluate(() => ({
      version: window.playerVersion, latency: window.latency(),
      errorCount: window.playerErrors.length, fatalCount: window.playerErrors.filter((e) => e.fatal).length,
      errors: window.playerErrors.slice(0, 5),
    }));
    await page.close();
    return { ...info, ...played, consoleErrors };
  });
} finally {
  await browser.close();
}
