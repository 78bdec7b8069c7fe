package api

import (
	"crypto/subtle"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/sfu"
)

// maxSDPBytes bounds a WHIP or WHEP offer and a trickle fragment.
const maxSDPBytes = 64 << 10

// Media types of WHIP and WHEP bodies.
const (
	typeSDP     = "application/sdp"                 // RFC 9725 section 4.2
	typeSDPFrag = "application/trickle-ice-sdpfrag" // RFC 8840 section 9
)

// headerWarning carries, on a 201, why part of the offer was rejected: the
// error code, a colon and the sentence ("unsupported_codecs: this room takes
// H.264 video; your client offered VP8, VP9"). The answer carries the rest.
const headerWarning = "Lectern-Warning"

// whipKind is what differs between WHIP (publish) and WHEP (watch).
type whipKind struct {
	name string // "whip" or "whep", also the path prefix
	need access.Permissions
	// partKind is the sfu participant kind; target names its peer connection.
	partKind, target string
	// session is how the caps count it.
	session sessionKind
}

var (
	kindWHIP = whipKind{name: "whip", need: access.Publish, partKind: sfu.KindWHIP, target: "publisher", session: sessionWHIP}
	kindWHEP = whipKind{name: "whep", need: access.Subscribe, partKind: sfu.KindWHEP, target: "subscriber", session: sessionWHEP}
)

// whipSession is one WHIP publisher or WHEP viewer, addressed by its session
// URL (RFC 9725 section 4.2). Its fields do not change after creation.
type whipSession struct {
	id, room string
	kind     whipKind
	p        *sfu.Participant
	// owner identifies the credential that created the session; later requests
	// on it must present the same.
	owner string
	// ufrag is the client's ICE username fragment, from its offer.
	ufrag string
	// etag names the session's one ICE session, for If-Match (RFC 9725 section 4.3).
	etag string
	// release ends the session's count against the caps (sessionCaps).
	release func()
}

// whipSessions are the server's live WHIP and WHEP sessions by ID. The map is
// guarded by mu. Each session has a watcher goroutine (counted by wg) that
// removes it once its participant closes, which SFU.Close also brings about.
type whipSessions struct {
	mu sync.Mutex
	m  map[string]*whipSession
	wg sync.WaitGroup
}

func (w *whipSessions) get(id string) *whipSession {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[id]
}

// remove drops ws, if it is still the session under its ID.
func (w *whipSessions) remove(ws *whipSession) {
	w.mu.Lock()
	if w.m[ws.id] == ws {
		delete(w.m, ws.id)
	}
	w.mu.Unlock()
}

// wait returns once every session's watcher has ended.
func (w *whipSessions) wait() { w.wg.Wait() }

// whipHandlers serve WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep):
// publishing and watching with one HTTP exchange and a stream key or token.
type whipHandlers struct {
	cfg   Config
	rooms *rooms.Service
	// whip are the open sessions, which Server.Close ends.
	whip *whipSessions
	caps *sessionCaps
	gate *gate
	// edges serve WHEP viewers of other nodes' rooms here (edge.go); nil: none.
	edges Cascade
	reporter
}

func (s *whipHandlers) routes(r router) {
	for _, k := range []whipKind{kindWHIP, kindWHEP} {
		base := "/" + k.name + "/:room"
		r.e.POST(base, whipCORS, s.whipStart(k))
		r.e.OPTIONS(base, whipCORS, whipOptions(typeSDP))
		r.e.PATCH(base+"/:session", whipCORS, s.whipPatch(k))
		r.e.DELETE(base+"/:session", whipCORS, s.whipDelete(k))
		r.e.OPTIONS(base+"/:session", whipCORS, whipOptions(""))
	}
}

// whipCORS lets browser players on other origins use the endpoints (CORS, as
// the Fetch standard defines it): credentials are Bearer tokens, never cookies,
// so any origin may call.
func whipCORS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Accept-Patch, Link, "+headerWarning)
}

// whipOptions answers preflights; accept is the Accept-Post type ("" for a session).
func whipOptions(accept string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		if accept != "" {
			h.Set("Accept-Post", accept)
		} else {
			h.Set("Accept-Patch", typeSDPFrag)
		}
		c.Status(http.StatusNoContent)
	}
}

// whipCaller is who calls a WHIP or WHEP endpoint.
type whipCaller struct {
	identity, name string
	perms          access.Permissions
	tier           access.Tier
	// sources are the caller's extra sources (its media override).
	sources access.Sources
	owner   string
	// until is when the caller's TURN credentials end: its token's expiry.
	until time.Time
}

// identify finds who calls: an access token for the room or, for WHIP as OBS
// sends it, the room's stream key as the Bearer token.
func (s *whipHandlers) identify(c *gin.Context) (whipCaller, error) {
	cred, ok := bearerToken(c.Request)
	if ok && strings.HasPrefix(cred, "sk_") {
		if err := s.rooms.CheckStreamKey(c.Request.Context(), c.Param("room"), cred); err != nil {
			return whipCaller{}, err
		}
		return whipCaller{identity: "encoder", name: "Encoder", perms: access.Publish, owner: "stream-key",
			until: time.Now().Add(s.cfg.TokenTTL)}, nil
	}
	claims, g, err := s.gate.participant(c)
	if err != nil {
		return whipCaller{}, err
	}
	return whipCaller{identity: claims.Identity, name: claims.Name, perms: g.Permissions, tier: g.Tier, sources: g.Sources, owner: "token:" + claims.Identity,
		until: claims.ExpiresAt}, nil
}

// whipStart answers POST /whip/{room} and POST /whep/{room}: an SDP offer in,
// 201 with the answer and the session's Location out (RFC 9725 section 4.2).
func (s *whipHandlers) whipStart(k whipKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, err := s.identify(c)
		if err != nil {
			s.abort(c, err)
			return
		}
		if !who.perms.Has(k.need) {
			s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "%s needs the %s permission", strings.ToUpper(k.name), k.need))
			return
		}
		offer, err := readBody(c, typeSDP)
		if err != nil {
			s.abort(c, err)
			return
		}
		r, ok := s.gate.room(c)
		if !ok {
			return
		}
		// Refuse a bad offer before joining, so the room never sees this client.
		opts := rooms.MediaOptions(r)
		// A WHIP publisher's video is its camera, its audio the microphone.
		check := func(offer string, o sfu.RoomOptions) error { return sfu.CheckOffer(offer, o, who.sources) }
		if k == kindWHEP {
			check = sfu.CheckViewOffer
		}
		if err := check(offer, opts); err != nil {
			s.abort(c, mediaError(err))
			return
		}
		layer, err := viewLayer(c, k)
		if err != nil {
			s.abort(c, err)
			return
		}
		room, edgeRelease, ok := s.openRoom(c, k, r)
		if !ok {
			return
		}
		appMax, err := s.rooms.ParticipantLimit(c.Request.Context(), r.App)
		if err != nil {
			edgeRelease()
			s.abort(c, err)
			return
		}
		release, err := s.caps.acquireInApp(k.session, c.ClientIP(), r.ID, who.identity, appMax)
		if err != nil {
			edgeRelease()
			s.abort(c, err)
			return
		}
		release = both(release, edgeRelease)
		perms := access.Subscribe
		if k == kindWHIP {
			perms = access.Publish
		}
		p, err := room.Join(sfu.ParticipantOptions{Identity: who.identity, Name: who.name, Kind: k.partKind,
			Permissions: perms, Tier: who.tier, Sources: who.sources, Unwatched: isPull(c, k, who.identity)})
		if err != nil {
			release()
			s.abort(c, mediaError(err))
			return
		}
		var answer string
		if k == kindWHIP {
			answer, err = p.Publish(offer, nil)
		} else {
			answer, err = view(p, offer, layer)
		}
		if err != nil {
			p.Close("negotiation failed")
			release()
			s.abort(c, mediaError(err))
			return
		}
		ws := &whipSession{id: randomText(18), room: r.ID, kind: k, p: p, owner: who.owner,
			ufrag: iceUfrag(offer), etag: `"` + randomText(9) + `"`, release: release}
		s.startSession(ws)
		h := c.Writer.Header()
		h.Set("Location", "/"+k.name+"/"+r.ID+"/"+ws.id)
		h.Set("ETag", ws.etag)
		h.Set("Accept-Patch", typeSDPFrag)
		setICELinks(h, s.cfg.iceServers(who.identity, who.until))
		if err := sfu.Refused(offer, opts, k == kindWHEP); err != nil {
			e := mediaError(err)
			h.Set(headerWarning, e.Code+": "+e.Message)
			s.log.Debug(k.name+" offer partly rejected", "room", r.ID, "participant", p.ID(), "reason", e.Message)
		}
		c.Data(http.StatusCreated, typeSDP, []byte(answer))
	}
}

// startSession registers ws and starts its watcher.
func (s *whipHandlers) startSession(ws *whipSession) {
	w := s.whip
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]*whipSession{}
	}
	w.m[ws.id] = ws
	w.wg.Add(1)
	w.mu.Unlock()
	s.log.Info(ws.kind.name+" session created", "room", ws.room, "participant", ws.p.ID())
	go s.watchSession(ws)
}

// watchSession drains the participant's events (a WHIP or WHEP client has no
// channel to hear them on), ends the session when the permission it needs is
// revoked, and removes it once the participant has closed.
func (s *whipHandlers) watchSession(ws *whipSession) {
	defer s.whip.wg.Done()
	for {
		select {
		case <-ws.p.Done():
			s.whip.remove(ws)
			ws.release()
			s.log.Info(ws.kind.name+" session closed", "room", ws.room, "participant", ws.p.ID(), "reason", ws.p.Reason())
			return
		case ev := <-ws.p.Events():
			if ev.Type != sfu.EventPermissions || ev.Permissions == nil {
				continue
			}
			if (ws.kind == kindWHIP && !ev.Permissions.Has(access.Publish)) || (ws.kind == kindWHEP && !ev.Permissions.Has(access.Subscribe)) {
				ws.p.Close("the " + ws.kind.need.String() + " permission was revoked")
			}
		}
	}
}

// readBody reads a request body of media type want, at most maxSDPBytes.
func readBody(c *gin.Context, want string) (string, error) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != want {
		return "", errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "the body must be %s", want)
	}
	if c.Request.ContentLength > maxSDPBytes {
		return "", &http.MaxBytesError{Limit: maxSDPBytes}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSDPBytes))
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// session finds the path's session of kind k for a caller presenting the
// credential that created it. Anything else is 404, so session URLs cannot be
// probed.
func (s *whipHandlers) session(c *gin.Context, k whipKind) (*whipSession, bool) {
	who, err := s.identify(c)
	if err != nil {
		s.abort(c, err)
		return nil, false
	}
	ws := s.whip.get(c.Param("session"))
	if ws == nil || ws.kind != k || ws.room != c.Param("room") ||
		subtle.ConstantTimeCompare([]byte(ws.owner), []byte(who.owner)) != 1 {
		s.abort(c, errorf(http.StatusNotFound, codeSessionNotFound, "no such %s session", strings.ToUpper(k.name)))
		return nil, false
	}
	select {
	case <-ws.p.Done():
		s.abort(c, errorf(http.StatusNotFound, codeSessionNotFound, "the %s session has ended", strings.ToUpper(k.name)))
		return nil, false
	default:
	}
	return ws, true
}

// whipPatch adds the client's trickled candidates (RFC 9725 section 4.3.1,
// RFC 8840). ICE restarts are not supported: a fragment with other ICE
// credentials gets 422, as section 4.3.1 asks of a session that trickles only.
func (s *whipHandlers) whipPatch(k whipKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ws, ok := s.session(c, k)
		if !ok {
			return
		}
		body, err := readBody(c, typeSDPFrag)
		if err != nil {
			s.abort(c, err)
			return
		}
		if m := c.GetHeader("If-Match"); m != "" && !etagMatches(m, ws.etag) {
			s.abort(c, errorf(http.StatusPreconditionFailed, codePreconditionFailed, "If-Match does not name this session's ICE session (ETag %s)", ws.etag))
			return
		}
		frag, err := parseSDPFrag(body)
		if err != nil {
			s.abort(c, err)
			return
		}
		if frag.ufrag != "" && frag.ufrag != ws.ufrag {
			s.abort(c, errorf(http.StatusUnprocessableEntity, codeICERestartUnsupported, "ICE restarts are not supported; start a new session"))
			return
		}
		for _, cand := range frag.candidates {
			if err := ws.p.AddCandidate(k.target, cand); err != nil {
				s.abort(c, mediaError(err))
				return
			}
		}
		c.Status(http.StatusNoContent)
	}
}

// etagMatches evaluates If-Match (RFC 9110 section 13.1.1) against the one
// entity tag a session has; "*" matches any.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		if t = strings.TrimSpace(t); t == "*" || t == etag {
			return true
		}
	}
	return false
}

// whipDelete ends a session (RFC 9725 section 4.2: 200 OK).
func (s *whipHandlers) whipDelete(k whipKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ws, ok := s.session(c, k)
		if !ok {
			return
		}
		s.whip.remove(ws)
		ws.p.Close("ended by the client")
		c.Status(http.StatusOK)
	}
}
