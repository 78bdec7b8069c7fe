package cascade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Header marks a request one node sends another for a cascade: the owner
// serves it itself (or redirects it), never from an edge of its own, so
// that edges do not chain.
const Header = "X-Lectern-Cascade"

// rids are the layer names pulled, by rank (sfu.LayerRank).
var rids = [...]string{"q", "h", "f"}

// pull is one WHEP session at the owner (draft-ietf-wish-whep): a peer
// connection receiving one layer of the room's video (the lowest one also
// the audio), pinned with the layer query parameter. ended is closed when
// the connection fails or closes.
type pull struct {
	rank     int
	pc       *webrtc.PeerConnection
	location string
	ended    chan struct{}
	endOnce  sync.Once
	// started is when the owner answered; video is set when the pull's
	// video sent its first packet.
	started time.Time
	video   atomic.Bool
	// connected is set once the pull's connection has come up.
	connected atomic.Bool
}

func (p *pull) end() { p.endOnce.Do(func() { close(p.ended) }) }

// startPull opens the session for layer rank: an offer with every candidate
// (no trickle), POST to the owner's WHEP endpoint with the node credential,
// and the answer. The edge's onTrack gets the tracks as their first packets
// arrive.
func (ed *edge) startPull(ctx context.Context, rank int) (*pull, error) {
	pc, err := ed.edges.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("cascade: %w", err)
	}
	p := &pull{rank: rank, pc: pc, ended: make(chan struct{})}
	fail := func(err error) (*pull, error) {
		pc.Close()
		return nil, err
	}
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}
	if rank == 0 {
		kinds = append(kinds, webrtc.RTPCodecTypeAudio)
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail(fmt.Errorf("cascade: %w", err))
		}
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { ed.onTrack(p, remote, recv) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.connected.Store(true)
		}
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			p.end()
			ed.wakeLoop()
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("cascade: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(fmt.Errorf("cascade: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	answer, location, err := ed.post(ctx, rids[rank], pc.LocalDescription().SDP)
	if err != nil {
		return fail(err)
	}
	p.location = location
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		ed.deleteSession(location, rids[rank])
		return fail(fmt.Errorf("cascade: the owner's answer: %w", err))
	}
	ed.edges.stats.pulls[rank].Add(1)
	p.started = time.Now()
	return p, nil
}

// ErrRefused is returned when the owner refuses a pull; the edge cannot serve.
var ErrRefused = errors.New("cascade: the room's node refused the pull")

// post sends the offer for layer rid and returns the answer and the
// session's URL. A redirect (the room moved) is followed.
func (ed *edge) post(ctx context.Context, rid, offer string) (answer, location string, err error) {
	u := strings.TrimSuffix(ed.origin, "/") + "/whep/" + url.PathEscape(ed.room) + "?layer=" + rid
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(offer))
	if err != nil {
		return "", "", fmt.Errorf("cascade: %w", err)
	}
	if err := ed.authorize(req, rid); err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := ed.edges.client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("cascade: pull from %s: %w", ed.origin, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return "", "", fmt.Errorf("cascade: pull from %s: %w", ed.origin, err)
	}
	if res.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("%w: %s: %s", ErrRefused, res.Status, strings.TrimSpace(string(body)))
	}
	loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
	if err != nil || res.Header.Get("Location") == "" {
		return "", "", fmt.Errorf("%w: no session Location", ErrRefused)
	}
	return string(body), loc.String(), nil
}

// authorize puts the node credential for layer rid on req.
func (ed *edge) authorize(req *http.Request, rid string) error {
	tok, err := ed.edges.cfg.Token(ed.room, ed.identity(rid))
	if err != nil {
		return fmt.Errorf("cascade: node credential: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(Header, "1")
	return nil
}

// IdentityPrefix begins the identity of every pull at the owner.
const IdentityPrefix = "cascade-"

// identity is the pull's identity at the owner: one per edge and layer,
// since the owner keeps one participant per identity.
func (ed *edge) identity(rid string) string { return IdentityPrefix + ed.id + "-" + rid }

// deleteSession ends the session of layer rid at the owner (RFC 9725
// section 4.2), best effort: a session whose connection closes ends there
// anyway.
func (ed *edge) deleteSession(location, rid string) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil || ed.authorize(req, rid) != nil {
		return
	}
	res, err := ed.edges.client.Do(req)
	if err != nil {
		return
	}
	res.Body.Close()
}

// redialLowest replaces the lowest layer's pull p, whose connection failed
// before it ever came up (ICE gives up after 3 s; a loaded machine can take
// that long), rather than end the edge, as long as the owner answers. It
// returns the new pull, or nil once it has stopped the edge.
func (ed *edge) redialLowest(p *pull, attempt int) *pull {
	ed.endPull(p)
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	np, err := ed.startPull(ctx, 0)
	if err != nil {
		ed.stop("the room's node could not be reached: connect again")
		return nil
	}
	ed.log.Warn("cascade pull did not connect; pulled again", "layer", rids[0], "attempt", attempt+1)
	return np
}
