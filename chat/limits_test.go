package chat

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"lectern/access"
	"lectern/storage"
)

var textCases = []struct {
	text    string
	wantErr string
}{
	{"hi", ""},
	{"line one\nline two\ttabbed\r\n", ""},
	{"ünïcödé ✓ 🎉", ""},
	{strings.Repeat("é", MaxTextRunes), ""},
	{"", "text: is empty"},
	{" \n\t ", "text: is empty"},
	{strings.Repeat("a", MaxTextRunes+1), "longer than 4000"},
	{strings.Repeat("🎉", MaxTextRunes+1), "longer than 4000"},
	{"bad \xff byte", "not valid UTF-8"},
	{"bell \a", "control characters"},
	{"nul \x00", "control characters"},
	{"مرحبا Ali \u200f(2)", ""},            // right-to-left mark stays
	{"👩\u200d💻 on it", ""},                 // emoji ZWJ sequence stays
	{"open admin\u202egnp.exe", "U+202E"},  // right-to-left override
	{"a \u2067isolated\u2069 b", "U+2067"}, // isolates
	{"\u202aembedded\u202c", "U+202A"},
}

func TestCheckText(t *testing.T) {
	for _, tc := range textCases {
		err := CheckText(tc.text)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckText(%.20q) = %v, want %q", tc.text, err, tc.wantErr)
		}
	}
	for _, to := range []string{"", "a b", strings.Repeat("x", 129), "é"} {
		if err := CheckRecipient(to); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckRecipient(%q) = %v", to, err)
		}
	}
}

func FuzzCheckText(f *testing.F) {
	for _, tc := range textCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckText(s) != nil {
			return
		}
		n := utf8.RuneCountInString(s)
		if !utf8.ValidString(s) || n < 1 || n > MaxTextRunes || strings.TrimSpace(s) == "" {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestLimiter(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(2, 3) // 2 per second, bursts of 3
	take := func(slow time.Duration, last time.Time) error {
		return l.take("r", "a", clock.Now(), slow, last)
	}
	for i := range 3 {
		if err := take(0, time.Time{}); err != nil {
			t.Fatalf("post %d of the burst: %v", i, err)
		}
	}
	err := take(0, time.Time{})
	var le *LimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &le) || le.RetryAfter != 500*time.Millisecond {
		t.Fatalf("fourth post = %v, want rate limited for 500ms", err)
	}
	if err := l.take("r", "b", clock.Now(), 0, time.Time{}); err != nil {
		t.Errorf("another sender is limited too: %v", err)
	}
	clock.Advance(500 * time.Millisecond)
	if err := take(0, time.Time{}); err != nil {
		t.Errorf("after refilling one token: %v", err)
	}

	// Slow mode counts from the later of the stored and the remembered last post.
	clock.Advance(10 * time.Second)
	if err := take(30*time.Second, clock.Now().Add(-40*time.Second)); !errors.Is(err, ErrSlowMode) || !errors.As(err, &le) || le.RetryAfter != 20*time.Second {
		t.Errorf("slow mode after a post 10 s ago = %v", err)
	}
	if err := l.take("r", "c", clock.Now(), 30*time.Second, clock.Now().Add(-5*time.Second)); !errors.Is(err, ErrSlowMode) {
		t.Errorf("slow mode after a stored post 5 s ago = %v", err)
	}
	clock.Advance(20 * time.Second)
	if err := take(30*time.Second, time.Time{}); err != nil {
		t.Errorf("after the slow mode wait: %v", err)
	}

	// Idle senders are forgotten.
	clock.Advance(forgetAfter + sweepEvery)
	l.take("r", "fresh", clock.Now(), 0, time.Time{})
	if n := l.size(); n != 1 {
		t.Errorf("%d senders tracked after a long idle time, want 1", n)
	}
}

// TestFloodLeavesRoomWorking: a sender who floods is refused with a clear
// error, and the room goes on for everyone else.
func TestFloodLeavesRoomWorking(t *testing.T) {
	clock := newFakeClock()
	eachBackend(t, func(c *Config) { c.Now = clock.Now }, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		flooder, calm := viewer("flooder", access.Member), viewer("calm", access.Member)
		f := subscribe(t, h, "conf", calm, Latest)
		limited := 0
		for i := range 3 * DefaultConfig().RateBurst {
			_, err := h.Post(t.Context(), "conf", flooder, fmt.Sprint("spam ", i), "")
			if errors.Is(err, ErrRateLimited) {
				limited++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if limited != 2*DefaultConfig().RateBurst {
			t.Errorf("%d posts rate limited, want %d", limited, 2*DefaultConfig().RateBurst)
		}
		ok := mustPost(t, h, "conf", calm, "still here", "")
		if got := f.until(ok.ID); len(got) != DefaultConfig().RateBurst+1 {
			t.Errorf("calm got %d events, want the %d accepted spams and its own", len(got), DefaultConfig().RateBurst+1)
		}
	})
}

func TestMuteAndSlowMode(t *testing.T) {
	clock := newFakeClock()
	eachBackend(t, func(c *Config) { c.Now = clock.Now }, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		ctx := t.Context()
		a, mod := viewer("a", access.Member), viewer("mod", access.Host)
		if _, err := h.Mute(ctx, "conf", a, "mod", time.Minute); !errors.Is(err, ErrNoModerate) {
			t.Errorf("mute without moderate: %v", err)
		}
		if _, err := h.Mute(ctx, "conf", mod, "a", 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("mute for 0 s: %v", err)
		}
		if _, err := h.Mute(ctx, "conf", mod, "a", time.Minute); err != nil {
			t.Fatal(err)
		}
		var le *LimitError
		if _, err := h.Post(ctx, "conf", a, "let me speak", ""); !errors.Is(err, ErrMuted) || !errors.As(err, &le) || le.RetryAfter != time.Minute {
			t.Errorf("muted post: %v", err)
		}
		if mutes, err := h.Mutes(ctx, "conf", mod); err != nil || len(mutes) != 1 || mutes[0].Identity != "a" {
			t.Errorf("mutes = %+v, %v", mutes, err)
		}
		clock.Advance(time.Minute)
		mustPost(t, h, "conf", a, "the mute ran out", "")
		if _, err := h.Mute(ctx, "conf", mod, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := h.Unmute(ctx, "conf", mod, "a"); err != nil {
			t.Fatal(err)
		}
		if err := h.Unmute(ctx, "conf", mod, "a"); !errors.Is(err, ErrNotMuted) {
			t.Errorf("unmuting twice: %v", err)
		}

		if _, err := db.SetChatSettings(ctx, "conf", false, 30); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute) // since "the mute ran out"
		mustPost(t, h, "conf", a, "first", "")
		clock.Advance(10 * time.Second)
		if _, err := h.Post(ctx, "conf", a, "too soon", ""); !errors.Is(err, ErrSlowMode) || !errors.As(err, &le) || le.RetryAfter != 20*time.Second {
			t.Errorf("post in slow mode: %v", err)
		}
		mustPost(t, h, "conf", mod, "moderators are exempt", "")
		mustPost(t, h, "conf", mod, "twice", "")
		clock.Advance(20 * time.Second)
		mustPost(t, h, "conf", a, "in time", "")
	})
}

// TestSlowSubscriberDropped: a subscriber that does not read is dropped with
// ErrTooSlow without holding others back, and resumes with nothing lost.
func TestSlowSubscriberDropped(t *testing.T) {
	eachBackend(t, func(c *Config) {
		c.QueueFrames, c.DeliveryInterval, c.RateBurst = 2, 0, 100
	}, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		a := viewer("a", access.Member)
		stuck, err := h.Subscribe(t.Context(), "conf", viewer("stuck", access.Member), Latest)
		if err != nil {
			t.Fatal(err)
		}
		reader := subscribe(t, h, "conf", viewer("reader", access.Member), Latest)
		var last Message
		for i := 0; ; i++ {
			last = mustPost(t, h, "conf", a, fmt.Sprint(i), "")
			// Waiting for the reader makes every message a frame of its own.
			reader.until(last.ID)
			select {
			case <-stuck.Done():
			default:
				if i > 100 {
					t.Fatal("the stuck subscriber was never dropped")
				}
				continue
			}
			break
		}
		if !errors.Is(stuck.Err(), ErrTooSlow) {
			t.Fatalf("stuck ended with %v", stuck.Err())
		}
		// What it had queued is still valid; it resumes after that.
		var seen int64
		for len(stuck.Frames()) > 0 {
			seen = (<-stuck.Frames()).Last()
		}
		back := subscribe(t, h, "conf", viewer("stuck", access.Member), seen)
		evs := back.until(last.ID)
		if evs[0].Message.Seq != seen+1 || int64(len(evs)) != last.Seq-seen {
			t.Errorf("resumed after %d with seqs %d to %d (%d events), want every seq up to %d",
				seen, evs[0].Message.Seq, evs[len(evs)-1].Message.Seq, len(evs), last.Seq)
		}
	})
}

func TestSetPermissionsEndsReceive(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		sub, err := h.Subscribe(t.Context(), "conf", viewer("a", access.Member), Latest)
		if err != nil {
			t.Fatal(err)
		}
		h.SetPermissions("conf", "b", 0) // someone else
		h.SetPermissions("conf", "a", access.Member&^access.Send)
		select {
		case <-sub.Done():
			t.Fatal("ended without losing receive")
		default:
		}
		h.SetPermissions("conf", "a", access.Send)
		select {
		case <-sub.Done():
			if !errors.Is(sub.Err(), ErrNoReceive) {
				t.Errorf("ended with %v", sub.Err())
			}
		case <-time.After(waitLimit):
			t.Fatal("not ended")
		}
	})
}
