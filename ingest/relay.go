package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/pion/rtp"
)

// Relaying an encoder to the room's node.
//
// ffmpeg, GStreamer and OBS-style encoders do not follow a 302 to ANNOUNCE.
// An encoder that reaches a node while another live node holds its room is
// therefore accepted where it is: once its credentials check out here, the
// node publishes the same session description to the owner with an RTSP
// client, with the encoder's own credential (its stream key, or its token)
// and a node-to-node mark signed with the cluster's shared secret, and
// forwards every RTP packet. The owner serves a marked ANNOUNCE itself,
// whatever its own view of the placement, so two nodes that disagree for a
// moment never relay back and forth. When the owner ends the relay (it died
// or was fenced), the encoder's session is closed so that it reconnects, and
// is then placed where it lands.

// relayParam is the query parameter that marks a relayed ANNOUNCE:
// "{unix seconds}.{hex HMAC-SHA256 of room and time}".
const relayParam = "lectern_relay"

// relayMarkTTL bounds how old a relay mark may be.
const relayMarkTTL = time.Minute

// relayUserAgent is the relay client's User-Agent, for the owner's logs.
const relayUserAgent = "lectern-relay"

// relay is one encoder's session relayed to the room's node.
type relay struct {
	room    string
	client  *gortsplib.Client
	medias  map[*description.Media]*description.Media // encoder's → client's
	closing sync.Once
}

func relayMark(secret []byte, room string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("rtsp-relay\x00" + room + "\x00" + ts))
	return ts + "." + hex.EncodeToString(m.Sum(nil))
}

// relayed reports whether query carries a valid relay mark for room.
func (s *Server) relayed(room, query string) bool {
	if len(s.RelaySecret) == 0 || query == "" {
		return false
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return false
	}
	mark := q.Get(relayParam)
	ts, _, ok := strings.Cut(mark, ".")
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	at := time.Unix(sec, 0)
	if d := time.Since(at); d > relayMarkTTL || d < -relayMarkTTL {
		return false
	}
	return hmac.Equal([]byte(mark), []byte(relayMark(s.RelaySecret, room, at)))
}

// relayTarget is the URL the relay publishes to on the owner (an RTSP base
// URL): the same path, the encoder's credential (a token stays where it
// was; a stream key goes as the user info, which the owner's Digest or Basic
// challenge takes), and the relay mark.
func (s *Server) relayTarget(owner string, t target, query string, c credentials, key string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(owner, "/") + "/" + t.path())
	if err != nil {
		return "", err
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", err
	}
	q.Del(relayParam)
	switch {
	case t.token != "" || q.Get("token") != "":
	case c.token != "":
		q.Set("token", c.token)
	case key != "":
		u.User = url.UserPassword("encoder", key)
	default:
		return "", errors.New("ingest: no credential to relay")
	}
	q.Set(relayParam, relayMark(s.RelaySecret, t.room, time.Now()))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// copyDescription copies the medias of an announced description, so that
// the relay client may mark its own copy (control attributes) without
// touching the server session's.
func copyDescription(d *description.Session) (*description.Session, map[*description.Media]*description.Media) {
	out := &description.Session{Title: d.Title, FECGroups: d.FECGroups}
	pairs := make(map[*description.Media]*description.Media, len(d.Medias))
	for i, m := range d.Medias {
		c := &description.Media{Type: m.Type, ID: m.ID, IsBackChannel: m.IsBackChannel, Control: "trackID=" + strconv.Itoa(i), Formats: m.Formats}
		out.Medias = append(out.Medias, c)
		pairs[m] = c
	}
	return out, pairs
}

// startRelay publishes the encoder's announced session to the owner. The
// caller has checked the encoder's credentials for the room.
func (s *Server) startRelay(ctx *gortsplib.ServerHandlerOnAnnounceCtx, t target, owner string, g Grant) (*base.Response, error) {
	c := parseCredentials(ctx.Request, t.token, ctx.Query)
	key := ""
	if c.token == "" && t.token == "" {
		switch c.method {
		case headers.AuthMethodBasic:
			key = c.pass
		default: // Digest: checked against the room's key, which is relayed
			actx, cancel := requestContext()
			k, _, err := s.auth.StreamKey(actx, t.room)
			cancel()
			if err != nil {
				return rtspError(base.StatusServiceUnavailable, err)
			}
			key = k
		}
	}
	target, err := s.relayTarget(owner, t, ctx.Query, c, key)
	if err != nil {
		return rtspError(base.StatusInternalServerError, err)
	}
	desc, medias := copyDescription(ctx.Description)
	tcp := gortsplib.TransportTCP
	client := &gortsplib.Client{UserAgent: relayUserAgent, Transport: &tcp, ReadTimeout: s.cfg.ReadTimeout, WriteTimeout: s.cfg.ReadTimeout}
	start := time.Now()
	if err := client.StartRecording(target, desc); err != nil {
		s.log.Warn("rtsp relay to the room's node failed; the encoder must retry", "room", t.room, "node", owner, "err", redacted(err))
		res, _ := rtspError(base.StatusServiceUnavailable, fmt.Errorf("ingest: the room's node did not take the stream: %w", err))
		res.Header = base.Header{"Retry-After": base.HeaderValue{"1"}}
		return res, errors.New("ingest: relay refused")
	}
	r := &relay{room: t.room, client: client, medias: medias}
	s.mu.Lock()
	if s.relays == nil {
		s.relays = map[*gortsplib.ServerSession]*relay{}
	}
	s.relays[ctx.Session] = r
	s.mu.Unlock()
	session := ctx.Session
	go func() {
		err := client.Wait()
		// The owner ended the relay (or the encoder left and closed it):
		// end the encoder's session, so that it reconnects.
		s.log.Info("rtsp relay ended", "room", t.room, "node", owner, "err", redacted(err))
		session.Close()
	}()
	s.log.Info("rtsp encoder relayed to the room's node", "room", t.room, "node", owner, "identity", g.Identity,
		"setup_ms", time.Since(start).Milliseconds())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// recordRelay starts forwarding a relayed session's packets; ok is false when
// the session is not relayed.
func (s *Server) recordRelay(ctx *gortsplib.ServerHandlerOnRecordCtx) (ok bool) {
	s.mu.Lock()
	r := s.relays[ctx.Session]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	for _, m := range ctx.Session.AnnouncedDescription().Medias {
		out := r.medias[m]
		if out == nil {
			continue
		}
		for _, f := range m.Formats {
			ctx.Session.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				r.client.WritePacketRTP(out, pkt) // a failed write ends the client, and Wait the session
			})
		}
	}
	return true
}

// endRelay closes the relay of a session that closed, if any.
func (s *Server) endRelay(session *gortsplib.ServerSession) {
	s.mu.Lock()
	r := s.relays[session]
	delete(s.relays, session)
	s.mu.Unlock()
	if r != nil {
		r.closing.Do(r.client.Close)
	}
}
