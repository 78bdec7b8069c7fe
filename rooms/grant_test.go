package rooms

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// noMedia stands in for the SFU and the HLS service: these tests check
// grants, not media.
type noMedia struct{}

func (noMedia) Room(string, sfu.RoomOptions) (*sfu.Room, error) { return nil, nil }
func (noMedia) Configure(string, hls.Settings) error            { return nil }
func (noMedia) Reconfigure(string, sfu.RoomOptions)             {}

// newTestService returns a service over db with a revocation TTL of ttl.
func newTestService(t testing.TB, db *storage.DB, ttl time.Duration) *Service {
	t.Helper()
	issuer, err := access.NewIssuer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RevocationTTL = ttl
	s, err := New(cfg, Deps{DB: db, Issuer: issuer, Media: noMedia{}, Broadcast: noMedia{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openRoom(t testing.TB) *storage.DB {
	t.Helper()
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	if _, err := db.CreateRoom(t.Context(), storage.Room{ID: "r", Name: "R", Mode: ModeConference, Tier: "fhd"}); err != nil {
		t.Fatal(err)
	}
	return db
}

func claimsFor(identity string, p access.Permissions, tier access.Tier, issued time.Time) access.Claims {
	return access.Claims{ID: "tok-" + identity, Identity: identity, Rooms: map[string]access.Grant{"r": {Permissions: p, Tier: tier}},
		IssuedAt: issued.Truncate(time.Second), ExpiresAt: issued.Add(time.Hour)}
}

func TestGrantIsNarrowedToTheMember(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Hour)
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	host := claimsFor("alice", access.Host, access.FHD, past)
	guest := claimsFor("guest", access.Member, access.HD, past)

	// No member record: the token's grant stands.
	if g, err := s.Grant(ctx, host, "r"); err != nil || g.Permissions != access.Host || g.Tier != access.FHD {
		t.Fatalf("without a member: %+v, %v", g, err)
	}
	if _, err := s.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Permissions: access.Viewer.String(), Tier: "sd"}); err != nil {
		t.Fatal(err)
	}
	// The cache's TTL is an hour: the change is seen because it went
	// through this service.
	if g, err := s.Grant(ctx, host, "r"); err != nil || g.Permissions != access.Viewer || g.Tier != access.SD {
		t.Errorf("member is a viewer at sd: %+v, %v", g, err)
	}
	if _, err := s.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Permissions: ""}); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Grant(ctx, host, "r"); err != nil || g.Permissions != 0 {
		t.Errorf("member with no permissions: %+v, %v", g, err)
	}
	// A member's promotion never lifts a token above what it was minted with.
	if _, err := s.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "guest", Permissions: access.Host.String()}); err == nil {
		t.Fatal("updated a member that does not exist")
	}
	if _, err := s.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "guest", Permissions: access.Host.String()}); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Grant(ctx, guest, "r"); err != nil || g.Permissions != access.Member || g.Tier != access.HD {
		t.Errorf("promoted member: %+v, %v; want the token's member at hd", g, err)
	}
	if err := s.DeleteMember(ctx, "r", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, host, "r"); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("deleted member: %v, want ErrTokenRevoked", err)
	}
	// A room the token does not name: not found when there is none
	// (another app's rooms never are in the token's app), else wrong room.
	if _, err := s.Grant(ctx, host, "other"); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("a room that does not exist: %v, want ErrRoomNotFound", err)
	}
	if _, err := s.db.CreateRoom(ctx, storage.Room{ID: "other", Name: "Other", Mode: "conference", Tier: "hd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, host, "other"); !errors.Is(err, access.ErrWrongRoom) {
		t.Errorf("another room: %v, want ErrWrongRoom", err)
	}
	// A token of another app reaches no room of the default app, even one
	// it names.
	acme := host
	acme.App = "acme"
	if _, err := s.Grant(ctx, acme, "r"); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("acme's token on the default app's room: %v, want ErrRoomNotFound", err)
	}
}

func TestRevocationCutsOffByIssueTime(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Hour)
	ctx := t.Context()
	before := claimsFor("u", access.Member, "", time.Now().Add(-time.Minute))
	if err := s.RevokeIdentity(ctx, "r", "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, before, "r"); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("token issued before: %v, want ErrTokenRevoked", err)
	}
	after := claimsFor("u", access.Member, "", time.Now().Add(2*time.Second))
	if g, err := s.Grant(ctx, after, "r"); err != nil || g.Permissions != access.Member {
		t.Errorf("token issued after: %+v, %v", g, err)
	}
	if err := s.RevokeIdentity(ctx, "nope", "u"); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("missing room: %v", err)
	}
}

func TestBanRefusesEveryToken(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Hour)
	ctx := t.Context()
	later := claimsFor("u", access.Member, "", time.Now().Add(2*time.Second))
	if err := s.Ban(ctx, "r", "u", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, later, "r"); !errors.Is(err, ErrBanned) {
		t.Errorf("banned: %v, want ErrBanned", err)
	}
	if err := s.Ban(ctx, "r", "u", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, later, "r"); err != nil {
		t.Errorf("ban lifted: %v", err)
	}
}

func TestRevokeTokenByID(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Hour)
	ctx := t.Context()
	a := claimsFor("a", access.Member, "", time.Now())
	b := claimsFor("b", access.Member, "", time.Now())
	if err := s.RevokeToken(ctx, storage.DefaultApp, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, a, "r"); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked ID: %v", err)
	}
	if _, err := s.Grant(ctx, b, "r"); err != nil {
		t.Errorf("another ID: %v", err)
	}
}

// TestRevokeTokenByIDStaysInItsApp: an app revoking a token ID revokes its
// own token of that ID, never another app's.
func TestRevokeTokenByIDStaysInItsApp(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Hour)
	ctx := t.Context()
	if _, err := db.CreateApp(ctx, storage.App{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	acmeRoom := storage.RoomKey("acme", "r")
	if _, err := db.CreateRoom(ctx, storage.Room{ID: acmeRoom, App: "acme", Name: "R", Mode: ModeConference, Tier: "fhd"}); err != nil {
		t.Fatal(err)
	}
	def := claimsFor("a", access.Member, "", time.Now())
	acme := def
	acme.App, acme.Rooms = "acme", map[string]access.Grant{acmeRoom: {Permissions: access.Member}}
	if err := s.RevokeToken(ctx, storage.DefaultApp, acme.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, acme, acmeRoom); err != nil {
		t.Errorf("acme's token after the default app revoked its ID: %v", err)
	}
	if _, err := s.Grant(ctx, def, "r"); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("the default app's token of that ID: %v, want revoked", err)
	}
	if err := s.RevokeToken(ctx, "acme", acme.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, acme, acmeRoom); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("acme's token revoked by acme: %v", err)
	}
}

// TestOtherNodeSeesChangeWithinTTL: two services on one database stand for
// two nodes. A change made through one reaches the other's checks once its
// cached generation is older than the TTL, and not before: the other does
// not read the store on every check.
func TestOtherNodeSeesChangeWithinTTL(t *testing.T) {
	db := openRoom(t)
	ctx := t.Context()
	here := newTestService(t, db, time.Hour)
	quick := newTestService(t, db, 50*time.Millisecond)
	slow := newTestService(t, db, time.Hour)
	host := claimsFor("alice", access.Host, "", time.Now().Add(-time.Minute))
	if _, err := here.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Permissions: access.Host.String()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{quick, slow} {
		if g, err := s.Grant(ctx, host, "r"); err != nil || g.Permissions != access.Host {
			t.Fatalf("before: %+v, %v", g, err)
		}
	}
	if _, err := here.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Permissions: ""}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, err := quick.Grant(ctx, host, "r")
		if err != nil {
			t.Fatal(err)
		}
		if g.Permissions == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other node still grants host 30 s after the demotion")
		}
		time.Sleep(10 * time.Millisecond) // polling for the TTL to pass, not synchronization
	}
	if g, err := slow.Grant(ctx, host, "r"); err != nil || g.Permissions != access.Host {
		t.Errorf("a node whose generation is fresh read the store: %+v, %v", g, err)
	}
}
