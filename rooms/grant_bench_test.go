package rooms

import (
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
)

// BenchmarkGrant is the per-request cost of the revocation check with a
// warm cache (the room's generation fresh, the identity's rows cached): what
// every REST call, websocket message, WHIP/WHEP offer, RTSP DESCRIBE and HLS
// playlist pays on top of verifying the token (docs/benchmarks.md).
func BenchmarkGrant(b *testing.B) {
	s, c := warmGrant(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Grant(ctx, c, "r"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrantParallel is BenchmarkGrant from every core at once (the
// cache's lock shared).
func BenchmarkGrantParallel(b *testing.B) {
	s, c := warmGrant(b)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Grant(ctx, c, "r"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// warmGrant returns a service whose cache holds a member's rows, and the
// member's claims.
func warmGrant(b *testing.B) (*Service, access.Claims) {
	db := openRoom(b)
	s := newTestService(b, db, time.Hour)
	if _, err := s.CreateMember(b.Context(), storage.Member{RoomID: "r", Identity: "alice", Permissions: access.Host.String()}); err != nil {
		b.Fatal(err)
	}
	c := claimsFor("alice", access.Host, "", time.Now().Add(-time.Minute))
	if _, err := s.Grant(b.Context(), c, "r"); err != nil {
		b.Fatal(err)
	}
	return s, c
}

// BenchmarkVerify is a whole credential check: the token's signature and
// claims (HS256), then Grant.
func BenchmarkVerify(b *testing.B) {
	db := openRoom(b)
	s := newTestService(b, db, time.Hour)
	now := time.Now()
	tok, err := s.issuer.Sign(access.Claims{ID: "t", Identity: "alice", Rooms: map[string]access.Grant{"r": {Permissions: access.Member}},
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Verify(ctx, tok, "r"); err != nil {
			b.Fatal(err)
		}
	}
}
