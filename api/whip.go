package api

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/sfu"
	"lectern/storage"
)

// maxSDPBytes bounds a WHIP or WHEP offer.
const maxSDPBytes = 64 << 10

// whipSession is one WHIP publisher or WHEP viewer, addressed by its resource URL.
type whipSession struct {
	p        *sfu.Participant
	identity string
	room     string
	target   string // "publisher" (WHIP) or "subscriber" (WHEP)
}

// whipSessions holds the live WHIP and WHEP sessions by ID. A session leaves
// the map when its participant closes (a goroutine per session waits for it).
type whipSessions struct {
	mu sync.Mutex
	m  map[string]*whipSession
}

func (w *whipSessions) add(id string, ws *whipSession) {
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]*whipSession{}
	}
	w.m[id] = ws
	w.mu.Unlock()
	go func() {
		<-ws.p.Done()
		w.mu.Lock()
		delete(w.m, id)
		w.mu.Unlock()
	}()
}

// remove takes a session out at once, so later requests find nothing.
func (w *whipSessions) remove(id string) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

func (w *whipSessions) get(id string) *whipSession {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[id]
}

// whipRoutes registers WHIP (RFC 9725) and WHEP endpoints.
func (s *Server) whipRoutes(e *gin.Engine) {
	for _, kind := range []string{"whip", "whep"} {
		e.POST("/"+kind+"/:room", s.whipStart(kind))
		e.PATCH("/"+kind+"/:room/:session", s.whipPatch)
		e.DELETE("/"+kind+"/:room/:session", s.whipDelete)
		e.OPTIONS("/"+kind+"/:room", s.whipOptions)
	}
}

// whipCaller identifies a WHIP or WHEP client: an access token for the room,
// or (for WHIP, as OBS sends it) the room's stream key as the Bearer token.
func (s *Server) whipCaller(c *gin.Context) (identity, name string, perms access.Permissions, err error) {
	cred, ok := bearerToken(c.Request)
	if ok && strings.HasPrefix(cred, "sk_") {
		k, err := s.db.StreamKey(c.Request.Context(), c.Param("room"))
		if err != nil || subtle.ConstantTimeCompare([]byte(cred), []byte(k.Key)) != 1 {
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return "", "", 0, err
			}
			return "", "", 0, errorf(http.StatusUnauthorized, codeInvalidStreamKey, "the stream key is not valid for this room")
		}
		return "encoder", "Encoder", access.Publish, nil
	}
	claims, g, err := s.participant(c)
	if err != nil {
		return "", "", 0, err
	}
	return claims.Identity, claims.Name, g.Permissions, nil
}

// readSDP reads an application/sdp body.
func readSDP(c *gin.Context) (string, error) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "application/sdp" {
		return "", errorf(http.StatusUnsupportedMediaType, codeInvalidSDP, "the body must be application/sdp")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSDPBytes))
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// whipStart answers POST /whip/{room} (publish) and POST /whep/{room} (watch).
func (s *Server) whipStart(kind string) gin.HandlerFunc {
	need, partKind, target := access.Publish, sfu.KindWHIP, "publisher"
	if kind == "whep" {
		need, partKind, target = access.Subscribe, sfu.KindWHEP, "subscriber"
	}
	return func(c *gin.Context) {
		identity, name, perms, err := s.whipCaller(c)
		if err != nil {
			s.abort(c, err)
			return
		}
		if !perms.Has(need) {
			s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "this needs the %s permission", need))
			return
		}
		offer, err := readSDP(c)
		if err != nil {
			s.abort(c, err)
			return
		}
		r, ok := s.room(c)
		if !ok {
			return
		}
		room, err := s.media.Room(r.ID, MediaOptions(r))
		if err != nil {
			s.abort(c, err)
			return
		}
		p, err := room.Join(sfu.ParticipantOptions{Identity: identity, Name: name, Kind: partKind, Permissions: mediaPermissions(perms)})
		if err != nil {
			s.abort(c, mediaError(err))
			return
		}
		var answer string
		if kind == "whip" {
			answer, err = p.Publish(offer, nil)
		} else {
			answer, err = p.View(offer)
		}
		if err != nil {
			p.Close("negotiation failed")
			if errors.Is(err, sfu.ErrNothingToView) {
				s.abort(c, errorf(http.StatusConflict, codeNothingPublished, "nothing is published in this room yet; try again when it is live"))
				return
			}
			s.abort(c, mediaError(err))
			return
		}
		id := randomText(16)
		s.whip.add(id, &whipSession{p: p, identity: identity, room: r.ID, target: target})
		c.Header("Location", "/"+kind+"/"+r.ID+"/"+id)
		c.Data(http.StatusCreated, "application/sdp", []byte(answer))
	}
}

// session finds the path's session and checks the caller owns it.
func (s *Server) session(c *gin.Context) (*whipSession, bool) {
	identity, _, _, err := s.whipCaller(c)
	if err != nil {
		s.abort(c, err)
		return nil, false
	}
	ws := s.whip.get(c.Param("session"))
	if ws == nil || ws.room != c.Param("room") || ws.identity != identity {
		s.abort(c, errorf(http.StatusNotFound, codeSessionNotFound, "no such WHIP or WHEP session"))
		return nil, false
	}
	return ws, true
}

// whipPatch adds trickled ICE candidates (RFC 8840 fragments) to a session.
func (s *Server) whipPatch(c *gin.Context) {
	ws, ok := s.session(c)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "application/trickle-ice-sdpfrag" {
		s.abort(c, errorf(http.StatusUnsupportedMediaType, codeInvalidSDP, "the body must be application/trickle-ice-sdpfrag"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSDPBytes))
	if err != nil {
		s.abort(c, err)
		return
	}
	cands, err := parseSDPFrag(string(body))
	if err != nil {
		s.abort(c, err)
		return
	}
	for _, cand := range cands {
		if err := ws.p.AddCandidate(ws.target, cand); err != nil {
			s.abort(c, mediaError(err))
			return
		}
	}
	c.Status(http.StatusNoContent)
}

// whipDelete ends a session.
func (s *Server) whipDelete(c *gin.Context) {
	ws, ok := s.session(c)
	if !ok {
		return
	}
	s.whip.remove(c.Param("session"))
	ws.p.Close("ended by the client")
	c.Status(http.StatusOK)
}

// whipOptions answers CORS preflights and advertises the methods.
func (s *Server) whipOptions(c *gin.Context) {
	c.Header("Accept-Post", "application/sdp")
	c.Status(http.StatusNoContent)
}

// parseSDPFrag reads the candidates of a trickle-ICE SDP fragment (RFC 8840
// section 9): a=mid lines say which media section the following
// a=candidate lines belong to.
func parseSDPFrag(frag string) ([]webrtc.ICECandidateInit, error) {
	var out []webrtc.ICECandidateInit
	var mid *string
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=candidate:"):
			cand := strings.TrimPrefix(line, "a=")
			if len(strings.Fields(cand)) < 8 {
				return nil, errorf(http.StatusBadRequest, codeInvalidSDP, "a candidate line has too few fields: %q", line)
			}
			out = append(out, webrtc.ICECandidateInit{Candidate: cand, SDPMid: mid})
		case strings.HasPrefix(line, "a=end-of-candidates"), strings.HasPrefix(line, "a=ice-"), strings.HasPrefix(line, "m="), line == "":
		default:
			if !strings.HasPrefix(line, "a=") && !strings.HasPrefix(line, "c=") {
				return nil, errorf(http.StatusBadRequest, codeInvalidSDP, "not an SDP fragment line: %q", line)
			}
		}
	}
	return out, nil
}
