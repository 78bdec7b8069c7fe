// Firefox ESR (Debian's), driven by puppeteer-core over WebDriver BiDi, with
// its fake camera and microphone. Scenarios:
//   whip-whep  a page of its own (RTCPeerConnection + fetch, nothing of
//              Lectern's client code) publishes over WHIP and watches the
//              room over WHEP: {room, publishToken, viewToken, audio, video};
//              either token may be left out, and audio or video set to false.
//   room-page  two people join a conference room through the join page with
//              the room's PIN and each watches the other's camera: {room, pin}
//   watch-page a viewer opens /watch/{room} with a token: {room, token}
// Job: {"firefox": path, "origin": "http://127.0.0.1:port", "scenarios": [...]}.
import puppeteer from 'puppeteer-core';
import { job, runAll, poll, watchPlayback, log } from './common.mjs';

const j = job();
const browser = await puppeteer.launch({
  browser: 'firefox',
  protocol: 'webDriverBiDi',
  executablePath: j.firefox,
  headless: true,
  extraPrefsFirefox: {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'media.autoplay.default': 0,
    'media.autoplay.blocking_policy': 0,
    // Loopback candidates: the server and Firefox share this machine.
    'media.peerconnection.ice.loopback': true,
  },
});
log('firefox', await browser.version());
try {
  await runAll(j.scenarios, async (sc) => {
    const pages = [];
    const contexts = [];
    // own: a browser context of its own (another person's browser: its own
    // cookies, so its own guest identity).
    const newPage = async (own = false) => {
      let page;
      if (own) {
        const context = await browser.createBrowserContext();
        contexts.push(context);
        page = await context.newPage();
      } else {
        page = await browser.newPage();
      }
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(String(e).slice(0, 300)));
      pages.push(page);
      return page;
    };
    try {
      if (sc.kind === 'whip-whep') return await whipWhep(await newPage(), sc);
      if (sc.kind === 'room-page') return await roomPage(newPage, sc);
      if (sc.kind === 'watch-page') return await watchPage(await newPage(), sc);
      throw new Error('unknown scenario kind ' + sc.kind);
    } finally {
      for (const p of pages) await p.close().catch(() => {});
      for (const c of contexts) await c.close().catch(() => {});
    }
  });
} finally {
  await browser.close();
}

async function whipWhep(page, sc) {
  await page.goto(j.origin + '/healthz');
  const result = await page.evaluate(startWebRTC, { audio: true, video: true, ...sc });
  // Wait for video frames where the answer took a video codec, else for
  // audio packets; stop early when the connection failed.
  const video = (ex) => ex.answered.some((c) => /^(H264|VP8|VP9|AV1)$/i.test(c));
  if (result.whep && result.whep.status === 201) {
    // Frames decoded by the WHEP viewer, from its own statistics and its
    // video element.
    const enough = video(result.whep) ? (r) => r.framesDecoded >= 75 && r.currentTime > 1 : (r) => r.audioPackets >= 100;
    result.received = await poll(page, () => window.received(), null, (r) => r.state === 'failed' || enough(r), 40000);
  }
  if (result.whip && result.whip.status === 201) {
    const enough = video(result.whip) ? (s) => s.framesEncoded >= 75 : (s) => s.audioPackets >= 100;
    result.sent = await poll(page, () => window.sent(), null,
      (s) => s.state === 'failed' || (s.state === 'connected' && enough(s)), 20000);
  }
  await page.evaluate(() => window.hangUp());
  return result;
}

// startWebRTC runs in the page: WHIP first (when asked), then WHEP.
async function startWebRTC({ room, publishToken, viewToken, audio, video }) {
  const codecs = (sdp) => [...new Set([...sdp.matchAll(/a=rtpmap:\d+ ([^/\r\n]+)/g)].map((m) => m[1]))];
  const gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 5000);
  });
  // exchange: one offer with every candidate, the answer from the POST (RFC 9725 section 4.2).
  const exchange = async (pc, url, token) => {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offer = pc.localDescription.sdp;
    const res = await fetch(url, {
      method: 'POST', body: offer,
      headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
    });
    const body = await res.text();
    const out = { status: res.status, offered: codecs(offer) };
    if (res.status !== 201) {
      try { out.code = JSON.parse(body).code; out.message = JSON.parse(body).message; } catch { out.body = body.slice(0, 300); }
      return out;
    }
    out.location = res.headers.get('Location');
    out.warning = res.headers.get('Lectern-Warning') || '';
    out.answered = codecs(body);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    return out;
  };
  const result = {};
  const pcs = [];
  window.hangUp = () => pcs.forEach((pc) => pc.close());
  if (publishToken) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: video && { width: 640, height: 360 }, audio });
    const pc = new RTCPeerConnection();
    pcs.push(pc);
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    result.whip = await exchange(pc, '/whip/' + room, publishToken);
    window.sent = async () => {
      const r = { state: pc.connectionState, framesEncoded: 0, codec: '', audioPackets: 0 };
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          r.framesEncoded = s.framesEncoded || 0;
          r.codec = stats.get(s.codecId)?.mimeType || r.codec;
        }
        if (s.type === 'outbound-rtp' && s.kind === 'audio') r.audioPackets = s.packetsSent || 0;
      });
      return r;
    };
  }
  if (viewToken) {
    const pc = new RTCPeerConnection();
    pcs.push(pc);
    if (video) pc.addTransceiver('video', { direction: 'recvonly' });
    if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.addEventListener('track', (e) => stream.addTrack(e.track));
    const el = document.createElement('video');
    el.muted = true;
    el.autoplay = true;
    el.srcObject = stream;
    document.body.append(el);
    result.whep = await exchange(pc, '/whep/' + room, viewToken);
    window.received = async () => {
      const r = { state: pc.connectionState, framesDecoded: 0, codec: '', audioPackets: 0 };
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          r.framesDecoded = s.framesDecoded || 0;
          r.codec = stats.get(s.codecId)?.mimeType || r.codec;
        }
        if (s.type === 'inbound-rtp' && s.kind === 'audio') r.audioPackets = s.packetsReceived || 0;
      });
      r.currentTime = el.currentTime;
      r.width = el.videoWidth;
      r.height = el.videoHeight;
      return r;
    };
  }
  return result;
}

async function roomPage(newPage, { room, pin }) {
  const people = [];
  for (const who of ['Ada', 'Bob']) {
    // Two people, two browsers: one browser is one guest per room and PIN
    // (its device cookie), and a second tab of it would replace the first.
    const page = await newPage(who === 'Bob');
    await page.goto(`${j.origin}/?room=${room}`);
    await page.waitForSelector('#pin');
    await page.type('#pin', pin);
    await page.type('#name', who);
    await page.click('#join-submit');
    await page.waitForFunction(() => /Join the meeting/.test(document.querySelector('#enter')?.textContent || ''), { timeout: 30000 });
    await page.click('#enter');
    await page.waitForFunction((r) => location.pathname === '/room/' + r && !!document.querySelector('.tile-self'), { timeout: 30000 }, room);
    people.push(page);
  }
  const result = {};
  for (const [i, page] of people.entries()) {
    const who = i === 0 ? 'Ada' : 'Bob';
    // A background tab presents (almost) no frames: watch from the front.
    await page.bringToFront();
    result[who] = await watchPlayback(page, '.tile:not(.tile-self)[data-source=camera] video', 3, 40, 45000);
    result[who].errors = page.errors;
  }
  return result;
}

async function watchPage(page, { room, token }) {
  await page.goto(`${j.origin}/watch/${room}#token=${token}`);
  const played = await watchPlayback(page, '#video', 3, 60, 45000);
  const state = await page.evaluate(() => {
    const s = document.querySelector('#player-state');
    return s ? { state: s.dataset.state, lastError: s.dataset.lastError || '', text: s.textContent.trim() } : null;
  });
  return { ...played, player: state, errors: page.errors };
}
