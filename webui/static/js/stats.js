// stats.js: live figures of a call from RTCPeerConnection.getStats: what
// one sends (bit rate, resolution, frame rate and the loss the server reports
// back, per source) and what one receives.

/**
 * @typedef {object} SendFigures
 * @property {string} source
 * @property {number} kbps
 * @property {string} resolution  "1280×720", or '' for audio
 * @property {number} fps
 * @property {number} lossPct     from the server's receiver reports
 * @property {number} rttMs
 *
 * @typedef {object} Figures
 * @property {SendFigures[]} sent
 * @property {{kbps: number, lossPct: number, tracks: number}} received
 */

/** Samples a call's connections and turns byte counters into rates. */
export class StatsSampler {
  /** @param {import('/js/call.js').Call} call */
  constructor(call) {
    this.call = call;
    /** @type {Map<string, {bytes: number, at: number}>} */ this.prev = new Map();
  }

  /** @param {string} key @param {number} bytes @param {number} at  ms */
  #rate(key, bytes, at) {
    const p = this.prev.get(key);
    this.prev.set(key, { bytes, at });
    if (!p || at <= p.at || bytes < p.bytes) return 0;
    return ((bytes - p.bytes) * 8) / (at - p.at); // bits per ms = kbit/s
  }

  /** @returns {Promise<Figures>} */
  async sample() {
    const s = this.call.session;
    /** @type {Figures} */
    const out = { sent: [], received: { kbps: 0, lossPct: 0, tracks: 0 } };
    if (!s) return out;
    if (s.publisher) {
      const stats = await s.publisher.getStats();
      const remote = new Map();
      for (const st of stats.values()) if (st.type === 'remote-inbound-rtp') remote.set(st.localId, st);
      const bySource = new Map();
      for (const st of stats.values()) {
        if (st.type !== 'outbound-rtp') continue;
        const source = this.#sourceOf(st);
        const f = bySource.get(source) ?? { source, kbps: 0, resolution: '', fps: 0, lossPct: 0, rttMs: 0, width: 0 };
        f.kbps += this.#rate(`out:${st.id}`, st.bytesSent ?? 0, st.timestamp);
        if ((st.frameWidth ?? 0) > f.width) {
          f.width = st.frameWidth;
          f.resolution = `${st.frameWidth}×${st.frameHeight}`;
          f.fps = Math.round(st.framesPerSecond ?? 0);
        }
        const r = remote.get(st.id);
        if (r) {
          f.lossPct = Math.max(f.lossPct, Math.round((r.fractionLost ?? 0) * 1000) / 10);
          f.rttMs = Math.max(f.rttMs, Math.round((r.roundTripTime ?? 0) * 1000));
        }
        bySource.set(source, f);
      }
      out.sent = [...bySource.values()].map(({ width, ...f }) => ({ ...f, kbps: Math.round(f.kbps) }));
    }
    if (s.subscriber) {
      let lost = 0, received = 0;
      for (const st of (await s.subscriber.getStats()).values()) {
        if (st.type !== 'inbound-rtp') continue;
        out.received.tracks++;
        out.received.kbps += this.#rate(`in:${st.id}`, st.bytesReceived ?? 0, st.timestamp);
        lost += Math.max(0, st.packetsLost ?? 0);
        received += st.packetsReceived ?? 0;
      }
      out.received.kbps = Math.round(out.received.kbps);
      out.received.lossPct = received + lost > 0 ? Math.round((lost / (received + lost)) * 1000) / 10 : 0;
    }
    return out;
  }

  /** Which of one's sources an outbound-rtp entry carries. @param {RTCOutboundRtpStreamStats} st */
  #sourceOf(st) {
    const senders = this.call.session.publisher.getSenders();
    const local = this.call.local;
    for (const sender of senders) {
      const track = sender.track;
      if (!track) continue;
      const mid = this.call.session.publisher.getTransceivers().find((t) => t.sender === sender)?.mid;
      if (mid != null && st.mid === mid) {
        if (track === local.screen) return 'screen';
        return track.kind === 'audio' ? 'microphone' : 'camera';
      }
    }
    return st.kind === 'audio' ? 'microphone' : 'camera';
  }
}

/** @param {number} kbps */
export function formatRate(kbps) {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${kbps} kbit/s`;
}
