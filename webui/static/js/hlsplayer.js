// hlsplayer.js: plays an HLS URL in a <video>, with hls.js over Media Source
// Extensions, or with the browser's own HLS where that is the better player
// (Safari, and browsers without MSE such as iPhone Safari). hls.js is
// vendored (webui/vendor/refresh-hlsjs.sh) and loaded only when needed.
//
//   const player = new HLSPlayer(video, { lowLatency: true });
//   player.onFatal = (why) => ...;   // the stream cannot go on: start over
//   await player.load(url);
//   player.latency();                // seconds behind live, NaN if unknown
//   player.unstick();                // a playhead standing still: move it on
//   player.destroy();

const HLSJS = '/vendor/hls/hls.min.js';
const MPEGURL = 'application/vnd.apple.mpegurl';

/** @type {Promise<any>|null} */
let loading = null;

/**
 * Loads the vendored hls.js once and returns its Hls class.
 * @returns {Promise<any>}
 */
export function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  loading ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = HLSJS;
    s.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js did not load')));
    s.onerror = () => {
      loading = null;
      s.remove();
      reject(new Error('The video player could not be loaded. Check your connection and reload the page.'));
    };
    document.head.append(s);
  });
  return loading;
}

/**
 * Whether the browser's own HLS should play: it can, and it is Safari (whose
 * native player does LL-HLS) or it has no Media Source Extensions for hls.js.
 * @param {HTMLVideoElement} video
 * @returns {boolean}
 */
export function prefersNative(video) {
  if (!video.canPlayType(MPEGURL)) return false;
  const mse = 'MediaSource' in window || 'ManagedMediaSource' in window;
  return !mse || /^((?!chrome|chromium|android|crios|fxios|edg).)*safari/i.test(navigator.userAgent);
}

/** An HLS player bound to one video element. */
export class HLSPlayer {
  /**
   * @param {HTMLVideoElement} video
   * @param {{lowLatency?: boolean}} [opts]  lowLatency: LL-HLS parts and a
   *   playhead near the live edge (live streams); off for recordings
   */
  constructor(video, { lowLatency = true } = {}) {
    this.video = video;
    this.lowLatency = lowLatency;
    /** @type {any} the hls.js instance, null with native HLS */
    this.hls = null;
    this.native = false;
    this.recovered = false;
    /** Called once when playback cannot go on (the stream ended or failed). @type {(why: string) => void} */
    this.onFatal = () => {};
    this.onVideoError = () => this.fail('the video could not be decoded');
    this.onNativeEnded = () => this.fail('ended');
  }

  /**
   * Starts loading url. Resolves once the source is attached; playback
   * starts when enough is buffered (play() is the caller's).
   * @param {string} url
   */
  async load(url) {
    this.destroy();
    this.dead = false;
    if (prefersNative(this.video)) {
      this.native = true;
      this.video.addEventListener('error', this.onVideoError);
      this.video.addEventListener('ended', this.onNativeEnded);
      this.video.src = url;
      return;
    }
    const Hls = await loadHls();
    if (!Hls.isSupported()) throw new Error('This browser cannot play the broadcast. Try a current Chrome, Edge, Firefox or Safari.');
    const hls = new Hls({
      lowLatencyMode: this.lowLatency,
      // Live: start and stay near the edge; recordings start at the start.
      // A viewer who fell behind (a slow start, a stall) catches up by
      // playing slightly faster instead of staying late.
      ...(this.lowLatency ? { liveDurationInfinity: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.5 } : { startPosition: 0 }),
    });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (/** @type {string} */ _, /** @type {any} */ data) => {
      if (!data.fatal || hls !== this.hls) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.recovered) {
        this.recovered = true;
        hls.recoverMediaError();
        return;
      }
      this.fail(`${data.type}: ${data.details}`);
    });
    this.video.addEventListener('ended', this.onNativeEnded);
    hls.loadSource(url);
    hls.attachMedia(this.video);
  }

  /** @param {string} why */
  fail(why) {
    if (this.dead) return;
    this.dead = true;
    this.onFatal(why);
  }

  /**
   * How far the picture is behind live, in seconds: from the playlist's
   * PROGRAM-DATE-TIME when the clocks agree, else from the live edge.
   * @returns {number} NaN when unknown
   */
  latency() {
    const v = this.video;
    if (this.hls) {
      const date = this.hls.playingDate;
      const byClock = date ? (Date.now() - date.getTime()) / 1000 : NaN;
      if (byClock > 0 && byClock < 60) return byClock;
      const edge = this.hls.latency;
      return Number.isFinite(edge) && edge > 0 ? edge : NaN;
    }
    if (this.native && v.currentTime > 0) {
      const start = v.getStartDate?.().getTime();
      if (Number.isFinite(start)) {
        const byClock = (Date.now() - start) / 1000 - v.currentTime;
        if (byClock > 0 && byClock < 60) return byClock;
      }
      if (v.seekable.length) return Math.max(0, v.seekable.end(v.seekable.length - 1) - v.currentTime);
    }
    return NaN;
  }

  /** Moves the playhead back to the live edge (after a pause, or a stall). */
  goLive() {
    const v = this.video;
    if (this.hls && Number.isFinite(this.hls.liveSyncPosition)) {
      v.currentTime = this.hls.liveSyncPosition;
    } else if (v.seekable.length) {
      v.currentTime = Math.max(0, v.seekable.end(v.seekable.length - 1) - 1);
    }
    v.play().catch(() => {});
  }

  /**
   * Moves on a playhead that stands still though media is buffered ahead of
   * it: into the next buffered range when it waits at a hole (a failover's
   * outage leaves one, and a player catching up faster than real time can
   * stop at its edge instead of jumping it), or a step forward when the
   * decoder stopped inside a range. Returns false when nothing is buffered
   * ahead (the player waits for the network; only a new load helps).
   * @returns {boolean}
   */
  unstick() {
    const v = this.video;
    const t = v.currentTime;
    for (let i = 0; i < v.buffered.length; i++) {
      const start = v.buffered.start(i);
      const end = v.buffered.end(i);
      if (start > t) {
        v.currentTime = start + 0.05;
      } else if (end > t + 0.5) {
        v.currentTime = t + 0.1;
      } else {
        continue;
      }
      v.playbackRate = 1;
      v.play().catch(() => {});
      return true;
    }
    return false;
  }

  /** Stops and releases the video element. */
  destroy() {
    this.dead = true;
    this.video.removeEventListener('error', this.onVideoError);
    this.video.removeEventListener('ended', this.onNativeEnded);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.native) {
      this.native = false;
      this.video.removeAttribute('src');
      this.video.load();
    }
    this.recovered = false;
  }
}
