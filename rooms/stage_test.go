package rooms

import (
	"errors"
	"slices"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
)

func newTestStage(t *testing.T, cfg StageConfig) (*Stage, *Service) {
	t.Helper()
	svc := newTestService(t, openRoom(t), time.Hour)
	st, err := NewStage(cfg, svc)
	if err != nil {
		t.Fatal(err)
	}
	return st, svc
}

// nextEvent returns the subscription's next event, failing after a deadline.
func nextEvent(t *testing.T, sub *StageSubscription) StageEvent {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		if !ok {
			t.Fatal("subscription ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no stage event within 5s")
	}
	return StageEvent{}
}

var host = Inviter{Identity: "h", Permissions: access.Host}

func TestStageHandsQueueInOrder(t *testing.T) {
	st, _ := newTestStage(t, DefaultStageConfig())
	_, sub := st.Subscribe("r")
	defer sub.Close()
	for _, id := range []string{"ann", "bob", "cy"} {
		if _, err := st.RaiseHand("r", id, "N-"+id); err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, sub); ev.Type != EventHandRaised || ev.Identity != id || ev.Hand.Name != "N-"+id {
			t.Fatalf("event %+v", ev)
		}
	}
	if _, err := st.RaiseHand("r", "ann", "again"); err != nil {
		t.Fatal(err)
	}
	if err := st.LowerHand("r", "bob", EventHandDismissed); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, sub); ev.Type != EventHandDismissed || ev.Identity != "bob" {
		t.Fatalf("event %+v", ev)
	}
	var ids []string
	for _, h := range st.State("r").Hands {
		ids = append(ids, h.Identity)
	}
	if !slices.Equal(ids, []string{"ann", "cy"}) {
		t.Fatalf("queue %v, want [ann cy] (raising again keeps the place)", ids)
	}
	if err := st.LowerHand("r", "bob", EventHandLowered); !errors.Is(err, ErrNoHand) {
		t.Fatalf("lowering a lowered hand: %v", err)
	}
}

func TestStageRaisingIsRateLimited(t *testing.T) {
	st, _ := newTestStage(t, DefaultStageConfig())
	now := time.Now()
	st.now = func() time.Time { return now }
	for i := range 3 {
		if _, err := st.RaiseHand("r", "ann", "Ann"); err != nil {
			t.Fatalf("raise %d: %v", i, err)
		}
		if err := st.LowerHand("r", "ann", EventHandLowered); err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.RaiseHand("r", "ann", "Ann")
	var le *RaiseLimitError
	if !errors.Is(err, ErrRaiseLimited) || !errors.As(err, &le) || le.RetryAfter <= 0 || le.RetryAfter > 10*time.Second {
		t.Fatalf("fourth raise at once: %v, want ErrRaiseLimited with a retry within 10s", err)
	}
	if _, err := st.RaiseHand("r", "bob", "Bob"); err != nil {
		t.Fatalf("another identity is not limited: %v", err)
	}
	now = now.Add(10 * time.Second)
	if _, err := st.RaiseHand("r", "ann", "Ann"); err != nil {
		t.Fatalf("after 10s: %v", err)
	}
}

func TestStageInviteAcceptEndRevokes(t *testing.T) {
	st, svc := newTestStage(t, DefaultStageConfig())
	ctx := t.Context()
	var ended []string
	st.OnEnd = func(room, identity, reason string) { ended = append(ended, room+"/"+identity) }
	if _, err := st.Invite(ctx, "r", host, "ann", 0, ""); !errors.Is(err, ErrNoHand) {
		t.Fatalf("invite without a hand: %v", err)
	}
	if _, err := st.RaiseHand("r", "ann", "Ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invite(ctx, "r", Inviter{Identity: "s", Permissions: access.Speaker}, "ann", 0, ""); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a speaker invites: %v", err)
	}
	if _, err := st.Invite(ctx, "r", host, "ann", 0, "4k"); !errors.Is(err, ErrTierAboveRoom) {
		t.Fatalf("tier above the room's: %v", err)
	}
	if _, _, err := st.Accept("r", "ann", "Ann"); !errors.Is(err, ErrNoInvitation) {
		t.Fatalf("accept before an invitation: %v", err)
	}
	_, sub := st.Subscribe("r")
	defer sub.Close()
	in, err := st.Invite(ctx, "r", host, "ann", access.Send|access.Moderate, "hd")
	if err != nil {
		t.Fatal(err)
	}
	if want := access.Publish | access.Subscribe | access.Send; in.Permissions != want || in.Tier != "hd" {
		t.Fatalf("invitation %s %s, want %s hd (never moderate)", in.Permissions, in.Tier, want)
	}
	if ev := nextEvent(t, sub); ev.Type != EventInvited || ev.Invitation.Identity != "ann" {
		t.Fatalf("event %+v", ev)
	}
	if s := st.State("r"); len(s.Hands) != 0 || len(s.Invitations) != 1 {
		t.Fatalf("state after the invitation: %+v", s)
	}
	tok, g, err := st.Accept("r", "ann", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, sub); ev.Type != EventGuestJoined || ev.Guest.Identity != "ann" {
		t.Fatalf("event %+v", ev)
	}
	claims, grant, err := svc.Verify(ctx, tok, "r")
	if err != nil || claims.Identity != "ann" || !grant.Permissions.Has(access.Publish) || grant.Tier != "hd" || claims.ID != g.TokenID {
		t.Fatalf("stage token: %+v %+v %v", claims, grant, err)
	}
	if err := st.End(ctx, "r", "ann", "the host ended it"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, sub); ev.Type != EventGuestLeft || ev.Reason != "the host ended it" {
		t.Fatalf("event %+v", ev)
	}
	if _, _, err := svc.Verify(ctx, tok, "r"); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("stage token after the end: %v, want ErrTokenRevoked", err)
	}
	if !slices.Equal(ended, []string{"r/ann"}) {
		t.Fatalf("OnEnd calls %v", ended)
	}
	if err := st.End(ctx, "r", "ann", "again"); !errors.Is(err, ErrNotOnStage) {
		t.Fatalf("ending twice: %v", err)
	}
}

func TestStageCapAndExpiry(t *testing.T) {
	cfg := DefaultStageConfig()
	cfg.MaxGuests = 1
	st, _ := newTestStage(t, cfg)
	st.cfg.InviteTTL = 50 * time.Millisecond // below what Validate allows, to keep the test short
	ctx := t.Context()
	for _, id := range []string{"ann", "bob"} {
		if _, err := st.RaiseHand("r", id, id); err != nil {
			t.Fatal(err)
		}
	}
	_, sub := st.Subscribe("r")
	defer sub.Close()
	if _, err := st.Invite(ctx, "r", host, "ann", 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invite(ctx, "r", host, "bob", 0, ""); !errors.Is(err, ErrStageFull) {
		t.Fatalf("second guest with a cap of 1: %v", err)
	}
	nextEvent(t, sub) // invited
	if ev := nextEvent(t, sub); ev.Type != EventInvitationExpired || ev.Identity != "ann" {
		t.Fatalf("event %+v, want ann's invitation expired", ev)
	}
	if _, _, err := st.Accept("r", "ann", "ann"); !errors.Is(err, ErrNoInvitation) {
		t.Fatalf("accepting an expired invitation: %v", err)
	}
	if _, err := st.Invite(ctx, "r", Inviter{Admin: true}, "bob", 0, ""); err != nil {
		t.Fatalf("the expired invitation frees its place: %v", err)
	}
	if err := st.Leave(ctx, "r", "bob"); err != nil {
		t.Fatal(err)
	}
	if s := st.State("r"); len(s.Invitations) != 0 || len(s.Hands) != 0 {
		t.Fatalf("after leaving: %+v", s)
	}
}

func TestStageConfigValidate(t *testing.T) {
	if err := DefaultStageConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultStageConfig()
	c.MaxGuests = 0
	if err := c.Validate(); err == nil {
		t.Fatal("max guests 0 accepted")
	}
}

func TestStageRefusesAMemberWhoCannotPublish(t *testing.T) {
	st, svc := newTestStage(t, DefaultStageConfig())
	ctx := t.Context()
	if _, err := svc.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "vera", Permissions: access.Viewer.String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RaiseHand("r", "vera", "Vera"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invite(ctx, "r", host, "vera", 0, ""); !errors.Is(err, ErrMemberCannotPublish) {
		t.Fatalf("inviting a viewer member: %v, want ErrMemberCannotPublish", err)
	}
	if _, err := svc.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "vera", Permissions: access.Speaker.String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invite(ctx, "r", host, "vera", 0, ""); err != nil {
		t.Fatalf("once the member may publish: %v", err)
	}
}
