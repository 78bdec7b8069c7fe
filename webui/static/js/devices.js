// devices.js: camera and microphone choice with a live preview and a level
// meter, for the join page and the pages that publish. It explains what went
// wrong when the browser refuses (blocked, missing, busy, insecure page).

import { loadDevices, saveDevices } from '/js/session.js';

/**
 * @typedef {object} PickerElements
 * @property {HTMLVideoElement} video        the preview (muted)
 * @property {HTMLElement} previewMsg        text over the preview when there is no picture
 * @property {HTMLSelectElement} camera
 * @property {HTMLSelectElement} microphone
 * @property {HTMLInputElement} cameraOn     checkbox
 * @property {HTMLInputElement} microphoneOn checkbox
 * @property {HTMLElement} meter             its first child's width shows the level
 * @property {HTMLElement} problem           an alert region for what went wrong
 */

/**
 * Explains a getUserMedia failure in words for people.
 * @param {any} err
 * @param {string} what  "camera", "microphone" or "camera and microphone"
 * @returns {string}
 */
export function mediaProblem(err, what) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `The ${what} ${what.includes(' and ') ? 'are' : 'is'} blocked for this site. Allow access in your browser's site settings (the icon at the left of the address bar), then choose Try again. You can also continue without.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found. Connect one and choose Try again, or continue without.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} could not be started: another application may be using it. Close it and choose Try again.`;
    default:
      return `The ${what} could not be started (${err?.message || err}).`;
  }
}

/**
 * Explains an unsupported_codecs answer from the server (the room takes, or
 * sends, a video codec this browser does not have) and what to do about it.
 * @param {string} reason  the server's sentence, as "this room takes H.264
 *   video; your client offered VP8, VP9"
 * @param {string} [userAgent]
 * @returns {string}
 */
export function codecProblem(reason, userAgent = navigator.userAgent) {
  const what = reason ? `${reason[0].toUpperCase()}${reason.slice(1)}.` : 'This room cannot use the video of this browser.';
  const fix = /Firefox\//.test(userAgent)
    ? 'Firefox needs its OpenH264 plugin for that: open about:addons, choose Plugins, set “OpenH264 Video Codec provided by Cisco Systems, Inc.” to Always Activate (a new Firefox downloads it a minute or so after it starts), then rejoin. Or use Chromium or Chrome.'
    : 'Use a browser that has H.264, such as Chromium, Chrome, Edge or Safari, then rejoin.';
  return `${what} ${fix}`;
}

/** Chooses and previews a camera and a microphone. */
export class DevicePicker {
  /** @param {PickerElements} els */
  constructor(els) {
    this.els = els;
    this.choice = loadDevices();
    /** @type {MediaStream|null} */
    this.stream = null;
    this.audioContext = null;
    this.frame = 0;
    this.generation = 0;
    /** Called with each problem shown, '' when cleared. @type {(message: string) => void} */
    this.onProblem = () => {};
    this.onChange = () => this.restart();
    els.camera.addEventListener('change', this.onChange);
    els.microphone.addEventListener('change', this.onChange);
    els.cameraOn.addEventListener('change', this.onChange);
    els.microphoneOn.addEventListener('change', this.onChange);
    this.onDeviceChange = () => { this.listDevices(); };
    els.cameraOn.checked = this.choice.cameraOn;
    els.microphoneOn.checked = this.choice.microphoneOn;
  }

  /** Opens the chosen devices and lists the others. */
  async start() {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.showProblem('This page cannot use a camera or microphone here: browsers allow them only on https:// addresses and on localhost.');
      this.els.cameraOn.disabled = this.els.microphoneOn.disabled = true;
      this.els.previewMsg.textContent = 'No camera available';
      return;
    }
    navigator.mediaDevices.addEventListener('devicechange', this.onDeviceChange);
    await this.restart();
  }

  /** Reopens the devices after a change of choice. */
  async restart() {
    const { els } = this;
    this.choice = {
      camera: els.camera.value || this.choice.camera,
      microphone: els.microphone.value || this.choice.microphone,
      cameraOn: els.cameraOn.checked,
      microphoneOn: els.microphoneOn.checked,
    };
    saveDevices(this.choice);
    this.release();
    this.showProblem('');
    const gen = ++this.generation;
    const want = { video: this.choice.cameraOn, audio: this.choice.microphoneOn };
    if (want.video || want.audio) {
      els.previewMsg.textContent = 'Starting…';
      const stream = await this.open(want);
      if (gen !== this.generation) {
        // A newer choice was made while this one opened.
        for (const t of stream?.getTracks() ?? []) t.stop();
        return;
      }
      this.stream = stream;
    }
    this.showPreview();
    await this.listDevices();
  }

  /**
   * Asks for the wanted devices. When both are refused together, asks for
   * each alone, so a blocked camera still leaves the microphone (and the
   * other way round), and says which one is missing.
   * @param {{video: boolean, audio: boolean}} want
   * @returns {Promise<MediaStream|null>}
   */
  async open(want) {
    /** @param {{video: boolean, audio: boolean}} w */
    const constraints = (w) => ({
      video: w.video ? { deviceId: this.choice.camera ? { ideal: this.choice.camera } : undefined, width: { ideal: 1280 }, height: { ideal: 720 } } : false,
      audio: w.audio ? { deviceId: this.choice.microphone ? { ideal: this.choice.microphone } : undefined } : false,
    });
    /** @param {{video: boolean, audio: boolean}} w */
    const names = (w) => [w.video && 'camera', w.audio && 'microphone'].filter(Boolean).join(' and ');
    try {
      return await navigator.mediaDevices.getUserMedia(constraints(want));
    } catch (err) {
      if (want.video && want.audio) {
        for (const only of [{ video: false, audio: true }, { video: true, audio: false }]) {
          try {
            const s = await navigator.mediaDevices.getUserMedia(constraints(only));
            this.showProblem(mediaProblem(err, only.video ? 'microphone' : 'camera'));
            return s;
          } catch {
            // Try the other one.
          }
        }
      }
      this.showProblem(mediaProblem(err, names(want)));
      return null;
    }
  }

  /** Shows the stream in the preview and starts the level meter. */
  showPreview() {
    const { video, previewMsg } = this.els;
    const hasVideo = !!this.stream?.getVideoTracks().length;
    video.srcObject = hasVideo ? this.stream : null;
    video.hidden = !hasVideo;
    if (hasVideo) video.play().catch(() => { /* a newer stream replaced this one */ });
    previewMsg.textContent = hasVideo ? '' : (this.choice.cameraOn ? 'Camera unavailable' : 'Camera off');
    this.startMeter();
  }

  /** Fills the device lists; labels are known once access was granted. */
  async listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    /** @param {string} kind */
    const inUse = (kind) => this.stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
    fill(this.els.camera, devices.filter((d) => d.kind === 'videoinput'), 'Camera', inUse('video') || this.choice.camera);
    fill(this.els.microphone, devices.filter((d) => d.kind === 'audioinput'), 'Microphone', inUse('audio') || this.choice.microphone);
  }

  /** Animates the meter from the microphone's level. */
  startMeter() {
    const bar = /** @type {HTMLElement} */ (this.els.meter.firstElementChild);
    const track = this.stream?.getAudioTracks()[0];
    bar.style.width = '0';
    // An AudioContext may start only after the user interacted with the page.
    if (!track || !window.AudioContext || !navigator.userActivation?.hasBeenActive) return;
    let analyser, source;
    try {
      this.audioContext ??= new AudioContext();
      this.audioContext.resume().catch(() => {});
      analyser = this.audioContext.createAnalyser();
      analyser.fftSize = 512;
      source = this.audioContext.createMediaStreamSource(new MediaStream([track]));
      source.connect(analyser);
    } catch {
      return; // no meter; the microphone still works
    }
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      bar.style.width = `${Math.min(100, Math.sqrt(sum / samples.length) * 400)}%`;
      this.frame = requestAnimationFrame(tick);
    };
    this.meterSource = source;
    tick();
  }

  /** @param {string} message  empty to clear */
  showProblem(message) {
    this.els.problem.textContent = message;
    this.onProblem(message);
  }

  /** Stops the tracks and the meter, keeping the page's controls. */
  release() {
    cancelAnimationFrame(this.frame);
    this.meterSource?.disconnect();
    this.meterSource = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
  }

  /** Stops everything: call before leaving the page. */
  stop() {
    this.release();
    navigator.mediaDevices?.removeEventListener('devicechange', this.onDeviceChange);
    this.audioContext?.close().catch(() => {});
    this.audioContext = null;
  }
}

/**
 * Replaces a select's options with devices, selecting current.
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {string} noun
 * @param {string} current
 */
function fill(select, devices, noun, current) {
  select.replaceChildren(...devices.map((d, i) => {
    const o = document.createElement('option');
    o.value = d.deviceId;
    o.textContent = d.label || `${noun} ${i + 1}`;
    o.selected = d.deviceId === current;
    return o;
  }));
  if (!devices.length) {
    const o = document.createElement('option');
    o.value = '';
    o.textContent = `No ${noun.toLowerCase()} found`;
    select.append(o);
  }
  select.disabled = devices.length === 0;
}
