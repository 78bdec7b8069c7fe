// Chromium (Debian's, driven by playwright-core) plays a room's LL-HLS with
// the players from npm, in low-latency mode, each on a page of its own that
// has nothing of Lectern's client code:
//   {"chromium": "/usr/bin/chromium", "origin": "http://127.0.0.1:port",
//    "seconds": 8, "scenarios": [{"name": "hlsjs", "player": "hlsjs", "url": "..."}, ...]}
// For each it reports the player's version, what the video element played,
// the live latency the player measured and every error event the player sent.
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { job, runAll, watchPlayback, log } from './common.mjs';

const require = createRequire(import.meta.url);
const players = {
  hlsjs: require.resolve('hls.js/dist/hls.min.js'),
  shaka: require.resolve('shaka-player/dist/shaka-player.compiled.js'),
};

const j = job();
const browser = await chromium.launch({
  executablePath: j.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
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
    await page.evaluate(start, { player: sc.player, url: sc.url });
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

// start runs in the page: a muted video element and the player on it.
async function start({ player, url }) {
  document.body.innerHTML = '<video id="v" muted autoplay playsinline></video>';
  const v = document.getElementById('v');
  window.playerErrors = [];
  if (player === 'hlsjs') {
    const hls = new window.Hls({ lowLatencyMode: true });
    hls.on(window.Hls.Events.ERROR, (_, d) => window.playerErrors.push({
      fatal: d.fatal, type: d.type, details: d.details,
      url: (d.frag && d.frag.url) || (d.context && d.context.url) || '',
      code: d.response ? d.response.code : undefined,
    }));
    hls.loadSource(url);
    hls.attachMedia(v);
    window.playerVersion = window.Hls.version;
    window.latency = () => hls.latency;
  } else {
    window.shaka.polyfill.installAll();
    const p = new window.shaka.Player();
    await p.attach(v);
    p.configure({ streaming: { lowLatencyMode: true } });
    p.addEventListener('error', (e) => window.playerErrors.push({
      severity: e.detail.severity, category: e.detail.category, code: e.detail.code,
      data: JSON.stringify(e.detail.data).slice(0, 300),
    }));
    window.playerVersion = window.shaka.Player.version;
    window.latency = () => p.getStats().liveLatency;
    await p.load(url);
  }
  v.play().catch(() => {});
}
