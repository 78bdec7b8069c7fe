package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/pion/rtp"
)

// frameReader is an RTSP reader that records when each video frame arrives.
type frameReader struct {
	c    *gortsplib.Client
	once sync.Once
}

func startFrameReader(readURL string, seen *arrivals) (*frameReader, error) {
	u, err := base.ParseURL(readURL)
	if err != nil {
		return nil, err
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		return nil, errors.New("latency: the RTSP program has no H.264")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		now := time.Now()
		au, err := dec.Decode(pkt)
		if err != nil {
			return // not the end of a frame yet, or a frame lost
		}
		if k, ok := keyOf(au); ok {
			seen.add(k, now, 0)
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, err
	}
	return &frameReader{c: c}, nil
}

// close stops the reader; later calls do nothing.
func (r *frameReader) close() { r.once.Do(r.c.Close) }

// llhlsClient follows the media playlist like a low-latency player until
// ctx ends: it asks for the hinted part (held by the server until it is
// complete) and records the arrival and media time of every video frame in
// it. It returns the playlist's PART-HOLD-BACK.
func llhlsClient(ctx context.Context, media string, seen *arrivals) (time.Duration, error) {
	client := &http.Client{}
	base := baseOf(media)
	pl, err := playlistGet(ctx, client, media)
	if err != nil {
		return 0, err
	}
	holdBack, ok := partHoldBack(pl)
	if !ok {
		return 0, errors.New("latency: the media playlist has no PART-HOLD-BACK")
	}
	initData, err := playlistGet(ctx, client, base+mapURI(pl))
	if err != nil {
		return holdBack, err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initData)); err != nil {
		return holdBack, fmt.Errorf("latency: init segment: %w", err)
	}
	video := 0
	var timescale uint32
	for _, t := range init.Tracks {
		if _, ok := t.Codec.(*mp4.CodecH264); ok {
			video, timescale = t.ID, t.TimeScale
		}
	}
	if video == 0 {
		return holdBack, errors.New("latency: no H.264 track in the init segment")
	}
	for ctx.Err() == nil {
		hint := hintURI(pl)
		msn, part, ok := preloadHint(pl)
		if hint == "" || !ok {
			return holdBack, errors.New("latency: no preload hint")
		}
		data, status, err := hintedPart(ctx, client, base+hint)
		if status == http.StatusNotFound {
			// The hinted part is not coming (the stream ended or was
			// replaced): start again from a fresh playlist.
			if pl, err = playlistGet(ctx, client, media); err != nil {
				return holdBack, err
			}
			continue
		}
		if err != nil {
			return holdBack, err
		}
		now := time.Now()
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil {
			return holdBack, fmt.Errorf("latency: part %s: %w", hint, err)
		}
		recordPart(parts, video, timescale, now, seen)
		if pl, err = playlistGet(ctx, client, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part)); err != nil {
			return holdBack, err
		}
	}
	return holdBack, ctx.Err()
}

// recordPart records the video frames of a part that arrived at now.
func recordPart(parts fmp4.Parts, video int, timescale uint32, now time.Time, seen *arrivals) {
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != video {
				continue
			}
			dts := t.BaseTime
			for _, s := range t.Samples {
				if k, ok := keyOf(splitAVCC(s.Payload)); ok {
					seen.add(k, now, time.Duration(dts)*time.Second/time.Duration(timescale))
				}
				dts += uint64(s.Duration)
			}
		}
	}
}

// splitAVCC splits a sample of 4-byte length-prefixed NAL units.
func splitAVCC(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if n > len(b) {
			break
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// hintedPart fetches a hinted part, which the server holds until it is
// complete, and returns the status.
func hintedPart(ctx context.Context, client *http.Client, u string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, 0, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %d", u, res.StatusCode)
	}
	return body, res.StatusCode, err
}
