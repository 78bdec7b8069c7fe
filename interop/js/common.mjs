// Helpers shared by the browser drivers. Each driver takes one JSON job as
// its argument, runs its scenarios one after another (a failure in one does
// not stop the others) and prints one line per scenario:
//   RESULT <name> <JSON>
// with what the browser measured; the Go test decides pass or fail.

export function job() {
  return JSON.parse(process.argv[2]);
}

export function report(name, result) {
  process.stdout.write(`RESULT ${name} ${JSON.stringify(result)}\n`);
}

export function log(...args) {
  process.stderr.write(args.join(' ') + '\n');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// poll evaluates fn in the page every half second until done(value) holds or
// ms pass; it returns the last value, whichever way it ended.
export async function poll(page, fn, arg, done, ms) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (done(last) || Date.now() > deadline) return last;
    await sleep(500);
  }
}

// runAll runs every scenario of the job with run(scenario) and reports each.
export async function runAll(scenarios, run) {
  for (const sc of scenarios) {
    let result;
    try {
      result = await run(sc);
    } catch (err) {
      result = { error: String(err && err.stack ? err.stack : err) };
    }
    report(sc.name, result);
  }
}

// playback is evaluated in a page: what a video element has played. Frames
// are getVideoPlaybackQuality's totalVideoFrames or, where a browser does not
// count them (Firefox for a MediaStream from WebRTC), the frames presented as
// requestVideoFrameCallback saw them, counted from the first call on.
export function playback(selector) {
  const v = document.querySelector(selector);
  if (!v) return { found: false };
  if (v.presentedFrames === undefined && v.requestVideoFrameCallback) {
    v.presentedFrames = 0;
    const count = () => { v.presentedFrames++; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
  }
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
  return {
    found: true,
    currentTime: v.currentTime,
    totalVideoFrames: Math.max(q.totalVideoFrames || 0, v.presentedFrames || 0),
    droppedVideoFrames: q.droppedVideoFrames || 0,
    presentedFrames: v.presentedFrames || 0,
    mozPaintedFrames: v.mozPaintedFrames,
    width: v.videoWidth,
    height: v.videoHeight,
    paused: v.paused,
    readyState: v.readyState,
    buffered: Array.from({ length: v.buffered.length }, (_, i) => `${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`).join(' '),
  };
}

// watchPlayback polls playback(selector) until the element played seconds of
// media and frames frames since it first had some, or ms pass. It returns the
// first and last readings.
export async function watchPlayback(page, selector, seconds, frames, ms) {
  let first = null;
  const last = await poll(page, playback, selector, (p) => {
    if (!p.found || p.currentTime <= 0) return false;
    if (!first || p.currentTime < first.currentTime) first = p;
    return p.currentTime - first.currentTime >= seconds && p.totalVideoFrames - first.totalVideoFrames >= frames;
  }, ms);
  return { first, last };
}
