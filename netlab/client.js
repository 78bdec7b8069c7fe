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
