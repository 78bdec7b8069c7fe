// The netlab's page script: evaluated in a page of the server's origin, it
// drives the pages' own client (/js/lectern.js) and samples getStats.
(async () => {
  const { connect } = await import('/js/lectern.js');
  const lab = { session: null, samples: [], problems: [], tiles: 0 };
  window.netlab = lab;

  const join = async (room, token) => {
    const s = await connect(room, token);
    lab.session = s;
    s.on('error', (err) => lab.problems.push(`${new Date().toISOString()} error: ${err.message}`));
    s.on('close', (ev) => lab.problems.push(`${new Date().toISOString()} closed: ${ev.code} ${ev.reason}`));
    s.on('track', ({ track }) => {
      const el = document.createElement(track.kind);
      el.autoplay = true;
      el.srcObject = new MediaStream([track]);
      if (track.kind === 'video') {
        // The first video is the big tile (the speaker's), the others thumbnails.
        const big = lab.tiles++ === 0;
        el.muted = true;
        el.style.width = big ? '1280px' : '320px';
        el.style.height = big ? '720px' : '180px';
      }
      document.body.append(el);
    });
    return s;
  };

  // Publishes a 1280x720 camera in three simulcast layers and the microphone.
  lab.publish = async (room, token) => {
    const s = await join(room, token);
    const cam = await navigator.mediaDevices.getUserMedia({
      video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
    await s.publish([{ track: cam.getVideoTracks()[0], simulcast: true }, cam.getAudioTracks()[0]]);
    return s.participant.id;
  };

  // Joins to receive, with every layer on auto (the client's default).
  lab.watch = async (room, token) => (await join(room, token)).participant.id;

  // Join timing (issue 13, point 7): one join, over WHEP or with the pages'
  // client, timed in ms from its start to each step; the viewer leaves 3 s
  // after the first video frame is shown (videoDelay). Times are null when a
  // step never came.
  const firstFrame = (track) => new Promise((resolve) => {
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    v.srcObject = new MediaStream([track]);
    document.body.append(v);
    v.requestVideoFrameCallback(() => { resolve(performance.now()); v.remove(); });
  });
  const connectedAt = (pc) => new Promise((resolve) => {
    const check = () => { if (pc.connectionState === 'connected') resolve(performance.now()); };
    pc.addEventListener('connectionstatechange', check);
    check();
  });
  const within = (p, ms) => Promise.race([p, new Promise((resolve) => setTimeout(() => resolve(null), ms))]);
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // videoDelay is the video's jitter-buffer delay per frame, in ms, over the
  // 1 to 3 s after the first frame: how far behind the arriving packets the
  // picture plays once the join has settled (a join started at a keyframe
  // replayed from the server's cache begins behind by that keyframe's age).
  const videoDelay = async (pc) => {
    const read = async () => {
      for (const st of (await pc.getStats()).values()) {
        if (st.type === 'inbound-rtp' && st.kind === 'video') return st;
      }
      return null;
    };
    await pause(1000);
    const a = await read();
    await pause(2000);
    const b = await read();
    const n = a && b ? b.jitterBufferEmittedCount - a.jitterBufferEmittedCount : 0;
    return n > 0 ? 1000 * (b.jitterBufferDelay - a.jitterBufferDelay) / n : null;
  };
  lab.whepJoin = async (room, token, layer) => {
    const t0 = performance.now();
    const pc = new RTCPeerConnection();
    try {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
      const frame = new Promise((resolve) => { pc.ontrack = ({ track }) => { if (track.kind === 'video') firstFrame(track).then(resolve); }; });
      const up = connectedAt(pc);
      await pc.setLocalDescription(await pc.createOffer());
      await within(new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
      }), 1000);
      const gathered = performance.now();
      const res = await fetch(`/whep/${encodeURIComponent(room)}${layer ? `?layer=${layer}` : ''}`, { method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription.sdp });
      if (res.status !== 201) throw new Error(`WHEP POST: ${res.status} ${await res.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      const answered = performance.now();
      const [c, f] = await Promise.all([within(up, 10000), within(frame, 10000)]);
      const delay = f ? await videoDelay(pc) : null;
      const session = res.headers.get('Location');
      if (session) fetch(new URL(session, location.href), { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
      return { gathered: gathered - t0, answered: answered - t0, connected: c && c - t0, frame: f && f - t0, delay };
    } finally {
      pc.close();
    }
  };
  lab.roomJoin = async (room, token) => {
    const t0 = performance.now();
    const { connect } = await import('/js/lectern.js');
    const s = await connect(room, token);
    try {
      const joined = performance.now();
      const frame = new Promise((resolve) => s.on('track', ({ track }) => { if (track.kind === 'video') firstFrame(track).then(resolve); }));
      const up = (async () => {
        while (!s.subscriber) await new Promise((resolve) => setTimeout(resolve, 5));
        return connectedAt(s.subscriber);
      })();
      const [c, f] = await Promise.all([within(up, 10000), within(frame, 10000)]);
      const delay = f && s.subscriber ? await videoDelay(s.subscriber) : null;
      return { answered: joined - t0, connected: c && c - t0, frame: f && f - t0, delay };
    } finally {
      s.leave();
    }
  };

  const sample = async () => {
    const s = lab.session;
    const out = { t: Date.now(), in: [], out: [], availOut: 0 };
    if (s?.subscriber) {
      const byMid = new Map([...s.remoteTracks.values()].map((r) => [r.mid, r]));
      for (const st of (await s.subscriber.getStats()).values()) {
        if (st.type !== 'inbound-rtp') continue;
        const r = byMid.get(st.mid);
        out.in.push({
          key: r ? `${r.info.participant}/${r.info.source}` : `mid${st.mid}`, kind: st.kind,
          w: st.frameWidth ?? 0, h: st.frameHeight ?? 0, frames: st.framesDecoded ?? 0,
          dropped: st.framesDropped ?? 0, freezes: st.freezeCount ?? 0, freezeDur: st.totalFreezesDuration ?? 0,
          bytes: st.bytesReceived ?? 0, recv: st.packetsReceived ?? 0, lost: st.packetsLost ?? 0,
          nacks: st.nackCount ?? 0, concealed: st.concealedSamples ?? 0, samples: st.totalSamplesReceived ?? 0,
          concealEvents: st.concealmentEvents ?? 0 });
      }
    }
    if (s?.publisher) {
      for (const st of (await s.publisher.getStats()).values()) {
        if (st.type === 'candidate-pair' && st.nominated && st.availableOutgoingBitrate) out.availOut = st.availableOutgoingBitrate;
        if (st.type !== 'outbound-rtp') continue;
        out.out.push({ rid: st.rid ?? '', kind: st.kind, w: st.frameWidth ?? 0, h: st.frameHeight ?? 0,
          frames: st.framesEncoded ?? 0, bytes: st.bytesSent ?? 0, rtxBytes: st.retransmittedBytesSent ?? 0,
          qlr: st.qualityLimitationReason ?? '', active: st.active !== false, nacks: st.nackCount ?? 0, plis: st.pliCount ?? 0 });
      }
    }
    lab.samples.push(out);
  };
  setInterval(() => { sample().catch((err) => lab.problems.push('stats: ' + err)); }, 250);

  // Hands the samples taken since the last call to the harness.
  lab.take = () => { const s = lab.samples; lab.samples = []; return { samples: s, problems: lab.problems }; };
  return true;
})()
