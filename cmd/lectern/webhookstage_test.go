package main

import (
	"testing"
	"time"

	"lectern/access"
	"lectern/rooms"
	"lectern/webhook"
)

func TestStageWebhookEvent(t *testing.T) {
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	in := rooms.Invitation{Identity: "ann", Name: "Ann", Permissions: access.Publish | access.Subscribe, Tier: access.HD, InvitedBy: "grace"}
	got := stageEvent(rooms.StageEvent{Type: rooms.EventInvited, Room: "w", Identity: "ann", At: at, Invitation: &in})
	want := webhook.Stage{Event: "invited", Identity: "ann", Name: "Ann", Permissions: "publish,subscribe", Tier: "hd", InvitedBy: "grace"}
	if got.Type != webhook.StageChanged || got.Room != "w" || !got.CreatedAt.Equal(at) || got.Stage == nil || *got.Stage != want {
		t.Errorf("invited: %+v %+v", got, got.Stage)
	}
	left := stageEvent(rooms.StageEvent{Type: rooms.EventGuestLeft, Room: "w", Identity: "ann", At: at, Reason: "the guest left the stage"})
	if *left.Stage != (webhook.Stage{Event: "guest_left", Identity: "ann", Reason: "the guest left the stage"}) {
		t.Errorf("guest_left: %+v", left.Stage)
	}
	var none *webhooks
	if none.stageHook() != nil {
		t.Error("a server without webhooks has a stage hook")
	}
}
