package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/storage/storagetest"
)

// gateKind is who a route lets through.
type gateKind int

const (
	// gatePublic: anyone; credentials are ignored.
	gatePublic gateKind = iota
	// gatePIN: anyone with the room's PIN in the body; credentials are ignored.
	gatePIN
	// gateAdmin: the API key only.
	gateAdmin
	// gateOperator: the server operator's API key only (the suite's API
	// key is the operator's, as the key made at first start is).
	gateOperator
	// gateAdminOr: the API key, or a token for the path's room with need.
	gateAdminOr
	// gateToken: a token for the path's room with need (and, need 0, with
	// some permission); not the API key: it is no participant.
	gateToken
	// gateMedia: a token with need, or the room's stream key, which
	// grants publish only (WHIP and WHEP share their caller check).
	gateMedia
	// gateOwner: the credential that created the WHIP or WHEP session.
	gateOwner
	// gateSigned: a signed session in the path (HLS, recordings); no credential helps.
	gateSigned
)

// probe is the request the suite sends to a route, and the answer when the
// gate lets the caller through. Probes aim at nothing that exists, or send
// a body that fails validation, so that passing the gate changes nothing.
type probe struct {
	path        string
	ctype, body string
	// socket is the type of a websocket's first frame: the probe dials.
	socket string
	// inQuery sends the token as ?token=, as browsers and players do.
	inQuery bool
	ok      outcome
	// asAdmin, when set, is the answer to the API key where it differs
	// from ok after the gate (an API key is no one in the chat).
	asAdmin *outcome
	// session: a 201 made a WHIP or WHEP session, which the probe ends.
	session bool
	// before restores what an earlier probe of the route changed.
	before func(*attackAPI)
}

// routeRule classifies one registered route.
type routeRule struct {
	route string // "METHOD /path" as registered
	gate  gateKind
	need  access.Permissions
	probe probe
}

// attackRules returns the classification of every route. A route added to
// the server without a rule here fails TestAttackRoutesClassified; a rule
// whose gate the route does not enforce fails TestAttackPermissionMatrix.
func attackRules(t *testing.T) []routeRule {
	whip := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly)
	whep := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly)
	js := "application/json"
	ok := func(status int, code string) outcome { return outcome{status, code} }
	get := func(path string, want outcome) probe { return probe{path: path, ok: want} }
	with := func(path, body string, want outcome) probe { return probe{path: path, ctype: js, body: body, ok: want} }
	const (
		M  = access.Moderate
		V1 = "/api/v1/rooms/r"
	)
	return []routeRule{
		// Pages, assets and the server's own state: public.
		{"GET /", gatePublic, 0, get("/", ok(200, ""))},
		{"GET /admin", gatePublic, 0, get("/admin", ok(200, ""))},
		{"GET /css/*filepath", gatePublic, 0, get("/css/nosuch.css", ok(404, ""))},
		{"GET /img/*filepath", gatePublic, 0, get("/img/nosuch.png", ok(404, ""))},
		{"GET /vendor/*filepath", gatePublic, 0, get("/vendor/nosuch.js", ok(404, ""))},
		{"GET /js/*filepath", gatePublic, 0, get("/js/nosuch.js", ok(404, ""))},
		{"GET /room/:room", gatePublic, 0, get("/room/r", ok(200, ""))},
		{"GET /studio/:room", gatePublic, 0, get("/studio/r", ok(200, ""))},
		{"GET /watch/:room", gatePublic, 0, get("/watch/r", ok(200, ""))},
		{"GET /healthz", gatePublic, 0, get("/healthz", ok(200, ""))},
		{"GET /readyz", gatePublic, 0, get("/readyz", ok(200, ""))},
		{"GET /metrics", gatePublic, 0, get("/metrics", ok(200, ""))},
		{"GET /api/v1/openapi.json", gatePublic, 0, get("/api/v1/openapi.json", ok(200, ""))},
		{"OPTIONS /whip/:room", gatePublic, 0, get("/whip/r", ok(204, ""))},
		{"OPTIONS /whep/:room", gatePublic, 0, get("/whep/r", ok(204, ""))},
		{"OPTIONS /whip/:room/:session", gatePublic, 0, get("/whip/r/nosuch", ok(204, ""))},
		{"OPTIONS /whep/:room/:session", gatePublic, 0, get("/whep/r/nosuch", ok(204, ""))},

		// A PIN is the credential: without one the join is refused whatever else is sent.
		{"POST /api/v1/rooms/:room/join", gatePIN, 0, with(V1+"/join", `{"name":"x"}`, ok(400, codeInvalidJoin))},

		// The API key only.
		{"POST /api/v1/tokens", gateAdmin, 0, with("/api/v1/tokens", `{}`, ok(400, codeInvalidToken))},
		{"DELETE /api/v1/tokens/:token", gateAdmin, 0, get("/api/v1/tokens/nosuch", ok(204, ""))},
		{"GET /api/v1/rooms", gateAdmin, 0, get("/api/v1/rooms", ok(200, ""))},
		{"POST /api/v1/rooms", gateAdmin, 0, with("/api/v1/rooms", `{"id":"Not Valid"}`, ok(400, codeInvalidRoom))},
		{"PATCH /api/v1/rooms/:room", gateAdminOr, access.Moderate, with(V1, `{"locked":"yes"}`, ok(400, codeInvalidJSON))},
		{"DELETE /api/v1/rooms/:room", gateAdmin, 0, get("/api/v1/rooms/nosuch", ok(404, codeRoomNotFound))},
		{"POST /api/v1/rooms/:room/pins", gateAdminOr, access.Moderate, with(V1+"/pins", `{"which":"none"}`, ok(400, codeInvalidRoom))},
		{"DELETE /api/v1/rooms/:room/identities/:identity/tokens", gateAdmin, 0, get(V1+"/identities/nobody/tokens", ok(204, ""))},
		{"GET /api/v1/live", gateAdmin, 0, get("/api/v1/live", ok(200, ""))},
		{"GET /api/v1/app", gateAdmin, 0, get("/api/v1/app", ok(200, ""))},
		{"GET /api/v1/usage", gateAdmin, 0, get("/api/v1/usage", ok(200, ""))},

		// The operator's key only: apps, and the server's webhook outbox.
		{"GET /api/v1/webhooks", gateOperator, 0, get("/api/v1/webhooks", ok(200, ""))},
		{"POST /api/v1/webhooks/retry", gateOperator, 0, get("/api/v1/webhooks/retry", ok(200, ""))},
		{"GET /api/v1/apps", gateOperator, 0, get("/api/v1/apps", ok(200, ""))},
		{"POST /api/v1/apps", gateOperator, 0, with("/api/v1/apps", `{"id":"Not Valid"}`, ok(400, codeInvalidApp))},
		{"GET /api/v1/apps/:app", gateOperator, 0, get("/api/v1/apps/nosuch", ok(404, codeAppNotFound))},
		{"PATCH /api/v1/apps/:app", gateOperator, 0, with("/api/v1/apps/nosuch", `{}`, ok(404, codeAppNotFound))},
		{"DELETE /api/v1/apps/:app", gateOperator, 0, get("/api/v1/apps/nosuch", ok(404, codeAppNotFound))},
		{"GET /api/v1/apps/:app/keys", gateOperator, 0, get("/api/v1/apps/nosuch/keys", ok(404, codeAppNotFound))},
		{"POST /api/v1/apps/:app/keys", gateOperator, 0, with("/api/v1/apps/nosuch/keys", `{}`, ok(404, codeAppNotFound))},
		{"DELETE /api/v1/apps/:app/keys/:key", gateOperator, 0, get("/api/v1/apps/nosuch/keys/nosuch", ok(404, codeKeyNotFound))},

		// The API key or a token for the room: reading the room.
		{"GET /api/v1/rooms/:room", gateAdminOr, 0, get(V1, ok(200, ""))},
		{"GET /api/v1/rooms/:room/chat", gateAdminOr, 0, get(V1+"/chat", ok(200, ""))},
		// Deleting a message: its author or a moderator (chat decides, after the gate).
		{"DELETE /api/v1/rooms/:room/messages/:message", gateAdminOr, 0, get(V1+"/messages/999999", ok(404, codeMessageNotFound))},
		{"GET /api/v1/rooms/:room/messages", gateAdminOr, access.Receive, get(V1+"/messages", ok(200, ""))},
		{"POST /api/v1/rooms/:room/messages", gateAdminOr, access.Send, probe{path: V1 + "/messages", ctype: js, body: `{"text":""}`,
			ok: ok(400, codeInvalidChatMessage), asAdmin: &outcome{403, codePermissionDenied}}},

		// The API key or a moderator's token.
		{"GET /api/v1/rooms/:room/members", gateAdminOr, M, get(V1+"/members", ok(200, ""))},
		{"POST /api/v1/rooms/:room/members", gateAdminOr, M, with(V1+"/members", `{}`, ok(400, codeInvalidMember))},
		{"GET /api/v1/rooms/:room/members/:identity", gateAdminOr, M, get(V1+"/members/nobody", ok(404, codeMemberNotFound))},
		{"PATCH /api/v1/rooms/:room/members/:identity", gateAdminOr, M, with(V1+"/members/nobody", `{"preset":"host"}`, ok(404, codeMemberNotFound))},
		{"DELETE /api/v1/rooms/:room/members/:identity", gateAdminOr, M, get(V1+"/members/nobody", ok(404, codeMemberNotFound))},
		{"GET /api/v1/rooms/:room/participants", gateAdminOr, M, get(V1+"/participants", ok(200, ""))},
		{"GET /api/v1/rooms/:room/participants/:identity", gateAdminOr, M, get(V1+"/participants/nobody", ok(404, codeParticipantNotFound))},
		{"DELETE /api/v1/rooms/:room/participants/:identity", gateAdminOr, M, get(V1+"/participants/nobody", ok(404, codeParticipantNotFound))},
		{"PATCH /api/v1/rooms/:room/participants/:identity/tracks/:track", gateAdminOr, M, with(V1+"/participants/nobody/tracks/t", `{"muted":true}`, ok(404, codeParticipantNotFound))},
		{"GET /api/v1/rooms/:room/stream-key", gateAdminOr, M, get(V1+"/stream-key", ok(200, ""))},
		{"POST /api/v1/rooms/:room/stream-key", gateAdminOr, M, get(V1+"/stream-key", ok(201, ""))},
		{"DELETE /api/v1/rooms/:room/stream-key", gateAdminOr, M, probe{path: V1 + "/stream-key", ok: ok(204, ""), before: func(a *attackAPI) { a.streamKey() }}},
		{"GET /api/v1/rooms/:room/broadcast", gateAdminOr, M, get(V1+"/broadcast", ok(200, ""))},
		{"PATCH /api/v1/rooms/:room/broadcast", gateAdminOr, M, with(V1+"/broadcast", `{"hls":"yes"}`, ok(400, codeInvalidJSON))},
		{"GET /api/v1/rooms/:room/recordings", gateAdminOr, M, get(V1+"/recordings", ok(200, ""))},
		{"GET /api/v1/rooms/:room/sessions", gateAdminOr, M, get(V1+"/sessions", ok(200, ""))},
		{"GET /api/v1/rooms/:room/sessions/:session/attendance", gateAdminOr, M, get(V1+"/sessions/nosuch/attendance", ok(404, codeAttendanceNotFound))},
		{"GET /api/v1/rooms/:room/recordings/:recording", gateAdminOr, M, get(V1+"/recordings/nosuch", ok(404, codeRecordingNotFound))},
		{"DELETE /api/v1/rooms/:room/recordings/:recording", gateAdminOr, M, get(V1+"/recordings/nosuch", ok(404, codeRecordingNotFound))},
		{"PATCH /api/v1/rooms/:room/messages/:message", gateAdminOr, M, with(V1+"/messages/999999", `{"state":"approved"}`, ok(404, codeMessageNotFound))},
		{"PATCH /api/v1/rooms/:room/chat", gateAdminOr, M, with(V1+"/chat", `{"slow_mode_seconds":-1}`, ok(400, codeInvalidChatSettings))},
		{"GET /api/v1/rooms/:room/chat/mutes", gateAdminOr, M, get(V1+"/chat/mutes", ok(200, ""))},
		{"PUT /api/v1/rooms/:room/chat/mutes/:identity", gateAdminOr, M, with(V1+"/chat/mutes/nobody", `{"seconds":-1}`, ok(400, codeInvalidMute))},
		{"DELETE /api/v1/rooms/:room/chat/mutes/:identity", gateAdminOr, M, get(V1+"/chat/mutes/nobody", ok(404, codeNotMuted))},
		{"PUT /api/v1/rooms/:room/bans/:identity", gateAdminOr, M, with(V1+"/bans/nobody", `{"seconds":-1}`, ok(400, codeInvalidBan))},
		{"DELETE /api/v1/rooms/:room/bans/:identity", gateAdminOr, M, get(V1+"/bans/nobody", ok(204, ""))},
		{"GET /api/v1/rooms/:room/stage", gateAdminOr, M, get(V1+"/stage", ok(200, ""))},
		{"POST /api/v1/rooms/:room/stage/invitations", gateAdminOr, M, with(V1+"/stage/invitations", `{"identity":"nobody"}`, ok(404, codeStageNoHand))},
		{"DELETE /api/v1/rooms/:room/stage/invitations/:identity", gateAdminOr, M, get(V1+"/stage/invitations/nobody", ok(404, codeStageNoInvite))},
		{"DELETE /api/v1/rooms/:room/stage/hands/:identity", gateAdminOr, M, get(V1+"/stage/hands/nobody", ok(404, codeStageNoHand))},
		{"DELETE /api/v1/rooms/:room/stage/guests/:identity", gateAdminOr, M, get(V1+"/stage/guests/nobody", ok(404, codeStageNotOnStage))},

		// A participant's token: sockets, watching, WHIP and WHEP.
		{"GET /api/v1/rooms/:room/ws", gateToken, 0, probe{path: V1 + "/ws", socket: "welcome", ok: ok(101, "")}},
		{"GET /api/v1/rooms/:room/stage/ws", gateToken, 0, probe{path: V1 + "/stage/ws", socket: "stage_welcome", ok: ok(101, "")}},
		{"GET /api/v1/rooms/:room/chat/ws", gateToken, access.Receive, probe{path: V1 + "/chat/ws", socket: "chat_welcome", inQuery: true, ok: ok(101, "")}},
		// HLS is off in r: a viewer who passes gets broadcast_offline.
		{"GET /hls/:room/index.m3u8", gateToken, access.Subscribe, probe{path: "/hls/r/index.m3u8", inQuery: true, ok: ok(404, codeBroadcastOffline)}},
		{"POST /whep/:room", gateMedia, access.Subscribe, probe{path: "/whep/r", ctype: typeSDP, body: whep, ok: ok(201, ""), session: true}},
		{"POST /whip/:room", gateMedia, access.Publish, probe{path: "/whip/r", ctype: typeSDP, body: whip, ok: ok(201, ""), session: true}},
		{"PATCH /whip/:room/:session", gateOwner, 0, probe{path: "/whip/r/nosuch", ctype: typeSDPFrag, ok: ok(404, codeSessionNotFound)}},
		{"DELETE /whip/:room/:session", gateOwner, 0, get("/whip/r/nosuch", ok(404, codeSessionNotFound))},
		{"PATCH /whep/:room/:session", gateOwner, 0, probe{path: "/whep/r/nosuch", ctype: typeSDPFrag, ok: ok(404, codeSessionNotFound)}},
		{"DELETE /whep/:room/:session", gateOwner, 0, get("/whep/r/nosuch", ok(404, codeSessionNotFound))},

		// Signed URLs (TestAttackSignedURLs signs real ones): a forged session is refused whoever asks.
		{"GET /hls/:room/:session/:stream/:file", gateSigned, 0, get("/hls/r/AAAAAAAAAAAAAAAAAAAAAA/s/v0.m3u8", ok(403, codeHLSSession))},
		{"GET /recordings/:room/:recording/:session/:file", gateSigned, 0, get("/recordings/r/rec/AAAAAAAAAAAAAAAAAAAAAA/index.m3u8", ok(403, codeRecordingSession))},
	}
}

// expect is what a route behind gate g must answer to credential c.
func expect(rule routeRule, c credential) outcome {
	g, ok := rule.gate, rule.probe.ok
	unauthorized := outcome{401, codeUnauthorized}
	switch g {
	case gatePublic, gatePIN, gateSigned:
		return ok
	case gateAdmin, gateOperator:
		switch c.kind {
		case credNone:
			return unauthorized
		case credAdmin:
			return ok
		case credWrongKey, credStreamKey, credWrongStreamKey:
			return outcome{401, codeInvalidAPIKey}
		case credExpired:
			return outcome{401, codeTokenExpired}
		case credBadSignature:
			return outcome{401, codeTokenInvalid}
		}
		// Every token with a valid signature, revoked or not.
		if g == gateOperator {
			return outcome{403, codeOperatorRequired}
		}
		return outcome{403, codeAdminRequired}
	}
	// Gates that take a token for the path's room.
	switch c.kind {
	case credNone:
		return unauthorized
	case credAdmin, credWrongKey:
		if g == gateAdminOr {
			if c.kind == credAdmin {
				if rule.probe.asAdmin != nil {
					return *rule.probe.asAdmin
				}
				return ok
			}
			return outcome{401, codeInvalidAPIKey}
		}
		return outcome{401, codeTokenMalformed} // read as a token
	case credStreamKey, credWrongStreamKey:
		switch {
		case g == gateAdminOr:
			return outcome{401, codeInvalidAPIKey}
		case g == gateToken:
			return outcome{401, codeTokenMalformed}
		case c.kind == credWrongStreamKey:
			return outcome{401, codeInvalidStreamKey}
		case g == gateMedia && !access.Publish.Has(rule.need):
			return outcome{403, codePermissionDenied}
		}
		return ok // WHIP takes it; an owner route looks for the session
	case credRevoked, credDeleted:
		return outcome{401, codeTokenRevoked}
	case credBanned:
		return outcome{403, codeBanned}
	case credExpired:
		return outcome{401, codeTokenExpired}
	case credWrongRoom:
		return outcome{401, codeTokenWrongRoom}
	case credBadSignature:
		return outcome{401, codeTokenInvalid}
	}
	// A valid token for the room.
	if g == gateOwner || (c.perms.Has(rule.need) && (g != gateToken || c.perms != 0)) {
		return ok
	}
	return outcome{403, codePermissionDenied}
}

// ask sends rule's probe with c and returns the answer.
func (a *attackAPI) ask(rule routeRule, c credential) outcome {
	a.t.Helper()
	method, _, _ := strings.Cut(rule.route, " ")
	p, cred := rule.probe, c.value()
	if p.before != nil {
		p.before(a)
	}
	if p.socket != "" {
		return a.dial(p.path, cred, p.socket, p.inQuery)
	}
	got, h := a.send(method, p.path, cred, p.ctype, p.body, p.inQuery)
	if p.session && got.status == http.StatusCreated {
		if end, _ := a.send("DELETE", h.Get("Location"), cred, "", "", false); end.status != http.StatusOK {
			a.t.Errorf("%s as %s: ending the session it made answered %d %s", rule.route, c.name, end.status, end.code)
		}
	}
	return got
}

// registered lists the server's routes as "METHOD /path".
func registered(e *gin.Engine) []string {
	var out []string
	for _, r := range e.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return out
}

// unclassified returns the routes without a rule and the rules without a route.
func unclassified(routes []string, rules []routeRule) (missing, stale []string) {
	known := map[string]bool{}
	for _, r := range rules {
		known[r.route] = true
	}
	for _, r := range routes {
		if !known[r] {
			missing = append(missing, r)
		}
		delete(known, r)
	}
	for r := range known {
		stale = append(stale, r)
	}
	slices.Sort(stale)
	return missing, stale
}

// TestAttackRoutesClassified: every route the server registers has a rule
// saying who may pass it, and every rule names a route.
func TestAttackRoutesClassified(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	missing, stale := unclassified(registered(a.srv.engine), attackRules(t))
	for _, r := range missing {
		t.Errorf("route %s has no rule in attackRules (api/attack_matrix_test.go): say who may call it and give a probe", r)
	}
	for _, r := range stale {
		t.Errorf("rule %s names no registered route", r)
	}
	// The check itself: a route added without a rule is reported.
	extra := gin.New()
	extra.GET("/api/v1/rooms/:room/secrets", func(*gin.Context) {})
	if m, _ := unclassified(append(registered(a.srv.engine), registered(extra)...), attackRules(t)); !slices.Equal(m, []string{"GET /api/v1/rooms/:room/secrets"}) {
		t.Errorf("an unclassified route was reported as %v", m)
	}
}

// TestAttackPermissionMatrix asks every route with every credential and
// checks the exact status and error code.
func TestAttackPermissionMatrix(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newAttackAPI(t, b)
		n := 0
		for _, rule := range attackRules(t) {
			for _, c := range a.creds {
				want, got := expect(rule, c), a.ask(rule, c)
				n++
				if got != want {
					t.Errorf("%s as %s: %d %s, want %d %s", rule.route, c.name, got.status, got.code, want.status, want.code)
				}
			}
		}
		t.Logf("%d requests, %d routes × %d credentials", n, len(attackRules(t)), len(a.creds))
	})
}

// TestAttackMatrixCatchesAMissingGate: a route whose rule asks for moderate
// but whose handler checks nothing fails the matrix, for every credential
// the gate should have stopped.
func TestAttackMatrixCatchesAMissingGate(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	// A second server over the same store whose new route forgot its gate.
	srv, err := New(DefaultConfig(), Deps{DB: a.db, Issuer: a.issuer, Registry: prometheus.NewRegistry(), Log: a.srv.log, SFU: a.media, Chat: a.chat})
	if err != nil {
		t.Fatal(err)
	}
	leak := &memberHandlers{db: a.db, gate: srv.gate, reporter: srv.reporter}
	srv.engine.GET("/api/v1/rooms/:room/leak", leak.listMembers)
	leaky := &attackAPI{testAPI: serveAlso(t, a.testAPI, srv), creds: a.creds}
	rule := routeRule{"GET /api/v1/rooms/:room/leak", gateAdminOr, access.Moderate, probe{path: "/api/v1/rooms/r/leak", ok: outcome{200, ""}}}
	var caught []string
	for _, c := range a.creds {
		if got, want := leaky.ask(rule, c), expect(rule, c); got != want {
			caught = append(caught, c.name)
		}
	}
	// Everyone but the API key and the moderators' tokens should have been stopped.
	for _, c := range a.creds {
		stopped := expect(rule, c).status != 200
		if stopped != slices.Contains(caught, c.name) {
			t.Errorf("%s: the matrix caught the missing gate: %t, want %t (caught for %s)", c.name, !stopped, stopped, fmt.Sprint(caught))
		}
	}
}
