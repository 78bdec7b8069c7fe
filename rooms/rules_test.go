package rooms

import (
	"errors"
	"testing"

	"lectern/access"
	"lectern/storage"
)

func TestPINGrant(t *testing.T) {
	conf := storage.Room{Mode: ModeConference, Tier: "hd", PIN: "12345678", SpeakerPIN: "1234567890"}
	web := storage.Room{Mode: ModeWebinar, Tier: "fhd", PIN: "12345678", SpeakerPIN: "1234567890"}
	questions := web
	questions.ChatQuestions = true
	for _, tc := range []struct {
		name string
		r    storage.Room
		pin  string
		want access.Permissions
		ok   bool
	}{
		{"conference audience", conf, "12345678", access.Member, true},
		{"conference speaker", conf, "1234567890", access.Host, true},
		{"webinar audience", web, "12345678", access.Viewer, true},
		{"webinar audience with questions", questions, "12345678", access.Viewer | access.Send, true},
		{"webinar speaker", web, "1234567890", access.Host, true},
		{"wrong", conf, "1234567", 0, false},
		{"empty", conf, "", 0, false},
	} {
		g, ok := PINGrant(tc.r, tc.pin)
		if ok != tc.ok || g.Permissions != tc.want || (ok && g.Tier != access.Tier(tc.r.Tier)) {
			t.Errorf("%s: %+v, %v; want %v, %v", tc.name, g, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckTier(t *testing.T) {
	r := storage.Room{Tier: "hd"}
	for tier, want := range map[string]error{"": nil, "sd": nil, "hd": nil, "fhd": ErrTierAboveRoom, "4k": ErrTierAboveRoom, "8k": ErrInvalidTier} {
		if err := CheckTier(r, tier); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("CheckTier(%q) = %v, want %v", tier, err, want)
		}
	}
	if got := EffectiveTier(r, "fhd"); got != access.HD {
		t.Errorf("EffectiveTier caps at the room's: %s", got)
	}
	if got := EffectiveTier(r, "sd"); got != access.SD {
		t.Errorf("EffectiveTier keeps a lower tier: %s", got)
	}
}
