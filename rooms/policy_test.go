package rooms

import (
	"errors"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestPolicyStoredAsRefusals(t *testing.T) {
	if got := Policy(storage.Room{}); got != TakeEverything {
		t.Errorf("a room without a policy: %+v, want everything", got)
	}
	var r storage.Room
	SetPolicy(&r, AudioOnly)
	if r.RefusedSources != "camera,screen,screen_audio" || !r.NoSimulcast {
		t.Errorf("audio only stored as %q, %v", r.RefusedSources, r.NoSimulcast)
	}
	if got := Policy(r); got != AudioOnly || !got.AudioOnly() {
		t.Errorf("read back %+v", got)
	}
	if o := MediaOptions(r); o.Refused != access.Camera|access.Screen|access.ScreenAudio || !o.NoSimulcast {
		t.Errorf("SFU options %+v", o)
	}
	// A column this package cannot read lets nothing through.
	if got := Policy(storage.Room{RefusedSources: "lens"}); got.Sources != 0 {
		t.Errorf("unreadable policy takes %v", got.Sources)
	}
	if _, err := MediaPreset("tv"); !errors.Is(err, ErrInvalidMedia) {
		t.Errorf("MediaPreset(tv) = %v", err)
	}
	if p, err := MediaPreset("audio_only"); err != nil || p != AudioOnly {
		t.Errorf("MediaPreset(audio_only) = %+v, %v", p, err)
	}
	if got := AudioOnly.Takes(access.Screen); got != access.Microphone|access.Screen {
		t.Errorf("Takes = %v", got)
	}
}

// TestExtraSourcesFollowTheMember: a token's override is bounded by the
// member record, and a minted token carries the member's, on both stores.
func TestExtraSourcesFollowTheMember(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		r := storage.Room{ID: "r", Name: "R", Mode: ModeWebinar, Tier: "hd"}
		SetPolicy(&r, AudioOnly)
		if _, err := db.CreateRoom(ctx, r); err != nil {
			t.Fatal(err)
		}
		s := newTestService(t, db, time.Hour)
		c := claimsFor("host", access.Host, access.HD, time.Now().Add(-time.Minute))
		c.Rooms["r"] = access.Grant{Permissions: access.Host, Tier: access.HD, Sources: access.Camera | access.Screen}
		if g, err := s.Grant(ctx, c, "r"); err != nil || g.Sources != access.Camera|access.Screen {
			t.Fatalf("without a member: %+v, %v", g, err)
		}
		if _, err := s.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "host", Permissions: access.Host.String(), ExtraSources: "screen"}); err != nil {
			t.Fatal(err)
		}
		if g, err := s.Grant(ctx, c, "r"); err != nil || g.Sources != access.Screen {
			t.Errorf("member with the screen: %+v, %v; want the screen alone", g, err)
		}
		if g, err := s.MintGrant(ctx, "r", "host", nil, ""); err != nil || g.Sources != access.Screen {
			t.Errorf("MintGrant = %+v, %v; want the member's screen", g, err)
		}
		if g, err := s.MintGrant(ctx, "r", "nobody", nil, ""); err != nil || g.Sources != 0 {
			t.Errorf("MintGrant for a non-member = %+v, %v", g, err)
		}
	})
}
