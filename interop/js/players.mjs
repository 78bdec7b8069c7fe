// The HLS players from npm that the Chromium drivers put on a page of their
// own (chromium.mjs, failover.mjs), and how they start.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// players are the scripts to add to the page, by player name.
export const players = {
  hlsjs: require.resolve('hls.js/dist/hls.min.js'),
  shaka: require.resolve('shaka-player/dist/shaka-player.compiled.js'),
};

// chromiumArgs run Debian's Chromium headless as root, with autoplay.
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

// startPlayer runs in a page: a muted video element #v and the player on it,
// in low-latency mode; window.playerErrors collects the player's error events.
export async function startPlayer({ player, url }) {
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
