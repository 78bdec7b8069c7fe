package storage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// chatFixture is a room with one message of every visibility class, posted
// in this order: ids[0] a room message by alice, ids[1] a direct message
// alice -> bob, ids[2] a pending question by carol, ids[3] an approved
// question by dave.
func chatFixture(t *testing.T, db *storage.DB) (ids []int64) {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"r", "other"} {
		if _, err := db.CreateRoom(ctx, storage.Room{ID: id, Mode: "webinar"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 678999999, time.UTC)
	ms, err := db.InsertMessages(ctx, []storage.NewMessage{
		{RoomID: "r", Sender: "alice", SenderName: "Alice", Kind: storage.KindMessage, Text: "hello all", CreatedAt: at},
		{RoomID: "r", Sender: "alice", SenderName: "Alice", Recipient: "bob", Kind: storage.KindMessage, Text: "psst", CreatedAt: at},
		{RoomID: "r", Sender: "carol", SenderName: "Carol", Kind: storage.KindQuestion, State: storage.StatePending, Text: "why?", CreatedAt: at},
		{RoomID: "r", Sender: "dave", SenderName: "Dave", Kind: storage.KindQuestion, State: storage.StateApproved, Text: "how?", CreatedAt: at},
		{RoomID: "other", Sender: "alice", Kind: storage.KindMessage, Text: "elsewhere", CreatedAt: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Seq != m.ID || (i > 0 && m.ID <= ms[i-1].ID) {
			t.Fatalf("message %d: id %d seq %d; want increasing ids equal to seqs", i, m.ID, m.Seq)
		}
		if !m.CreatedAt.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("CreatedAt = %v", m.CreatedAt)
		}
		ids = append(ids, m.ID)
	}
	return ids[:4]
}

// filterCases are who sees which of chatFixture's messages (by index).
var filterCases = []struct {
	name   string
	filter storage.MessageFilter
	want   []int
}{
	{"operator", storage.MessageFilter{All: true}, []int{0, 1, 2, 3}},
	{"sender of the direct message", storage.MessageFilter{Identity: "alice"}, []int{0, 1, 3}},
	{"recipient", storage.MessageFilter{Identity: "bob"}, []int{0, 1, 3}},
	{"asker", storage.MessageFilter{Identity: "carol"}, []int{0, 2, 3}},
	{"other viewer", storage.MessageFilter{Identity: "eve"}, []int{0, 3}},
	{"moderator", storage.MessageFilter{Identity: "mod", Pending: true}, []int{0, 2, 3}},
}

func TestMessageFilters(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ids := chatFixture(t, db)
		for _, tc := range filterCases {
			var want []int64
			for _, i := range tc.want {
				want = append(want, ids[i])
			}
			got, err := db.History(t.Context(), "r", tc.filter, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if g := messageIDs(got); !slices.Equal(g, want) {
				t.Errorf("%s: History = %v, want %v", tc.name, g, want)
			}
			got, err = db.Changes(t.Context(), "r", tc.filter, 0, ids[3], 100)
			if err != nil {
				t.Fatal(err)
			}
			if g := messageIDs(got); !slices.Equal(g, want) {
				t.Errorf("%s: Changes = %v, want %v", tc.name, g, want)
			}
		}
	})
}

func messageIDs(ms []storage.Message) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestMessageHistoryPages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ids := chatFixture(t, db)
		all := storage.MessageFilter{All: true}
		page, err := db.History(t.Context(), "r", all, 0, 2)
		if err != nil || !slices.Equal(messageIDs(page), ids[2:4]) {
			t.Fatalf("newest page = %v, %v; want %v", messageIDs(page), err, ids[2:4])
		}
		page, err = db.History(t.Context(), "r", all, page[0].ID, 2)
		if err != nil || !slices.Equal(messageIDs(page), ids[0:2]) {
			t.Fatalf("next page = %v, %v; want %v", messageIDs(page), err, ids[0:2])
		}
		page, err = db.History(t.Context(), "r", all, page[0].ID, 2)
		if err != nil || len(page) != 0 {
			t.Fatalf("last page = %v, %v; want empty", messageIDs(page), err)
		}
		if got, err := db.Message(t.Context(), "r", ids[1]); err != nil || got.Recipient != "bob" || got.Text != "psst" {
			t.Errorf("Message = %+v, %v", got, err)
		}
		if _, err := db.Message(t.Context(), "other", ids[1]); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Message from the wrong room: %v, want ErrNotFound", err)
		}
		if _, err := db.InsertMessages(t.Context(), []storage.NewMessage{{RoomID: "missing", Text: "x"}}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("insert into a missing room: %v, want ErrNotFound", err)
		}
	})
}

func TestMessageChangesAndSeq(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		ids := chatFixture(t, db)
		last, err := db.LastSeq(ctx, "r")
		if err != nil || last != ids[3] {
			t.Fatalf("LastSeq = %d, %v; want %d", last, err, ids[3])
		}

		at := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
		del, err := db.DeleteMessage(ctx, "r", ids[0], at)
		if err != nil {
			t.Fatal(err)
		}
		if del.Text != "" || !del.DeletedAt.Equal(at) || !del.Deleted() || del.Seq <= ids[3]+1 || del.ID != ids[0] {
			// +1: the "other" room's message took a value too.
			t.Errorf("tombstone = %+v", del)
		}
		if _, err := db.DeleteMessage(ctx, "r", ids[0], at); !errors.Is(err, storage.ErrWrongState) {
			t.Errorf("deleting twice: %v, want ErrWrongState", err)
		}
		if _, err := db.DeleteMessage(ctx, "r", 99999, at); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleting a missing message: %v, want ErrNotFound", err)
		}

		approved, err := db.SetQuestionState(ctx, "r", ids[2], []string{storage.StatePending}, storage.StateApproved)
		if err != nil || approved.State != storage.StateApproved || approved.Seq <= del.Seq {
			t.Fatalf("approve = %+v, %v", approved, err)
		}
		for _, tc := range []struct {
			id   int64
			from []string
			want error
		}{
			{ids[2], []string{storage.StatePending}, storage.ErrWrongState}, // already approved
			{ids[1], []string{""}, storage.ErrWrongState},                   // not a question
			{ids[0], []string{""}, storage.ErrWrongState},                   // deleted
			{424242, []string{storage.StatePending}, storage.ErrNotFound},
		} {
			if _, err := db.SetQuestionState(ctx, "r", tc.id, tc.from, storage.StateAnswered); !errors.Is(err, tc.want) {
				t.Errorf("SetQuestionState(%d, %v): %v, want %v", tc.id, tc.from, err, tc.want)
			}
		}

		// The change stream after the fixture holds the deletion, then the approval.
		changes, err := db.Changes(ctx, "r", storage.MessageFilter{Identity: "eve"}, ids[3], 1<<62, 10)
		if err != nil || len(changes) != 2 || changes[0].ID != ids[0] || changes[1].ID != ids[2] {
			t.Fatalf("Changes = %+v, %v", changes, err)
		}
		// Recent up to the fixture's last seq leaves out what changed since.
		recent, err := db.Recent(ctx, "r", storage.MessageFilter{Identity: "eve"}, ids[3], 10)
		if err != nil || !slices.Equal(messageIDs(recent), []int64{ids[3]}) {
			t.Errorf("Recent = %v, %v; want [%d]", messageIDs(recent), err, ids[3])
		}
		recent, err = db.Recent(ctx, "r", storage.MessageFilter{Identity: "eve"}, approved.Seq, 2)
		if err != nil || !slices.Equal(messageIDs(recent), []int64{ids[2], ids[3]}) {
			t.Errorf("Recent = %v, %v; want the newest two", messageIDs(recent), err)
		}
		if last, _ := db.LastSeq(ctx, "r"); last != approved.Seq {
			t.Errorf("LastSeq = %d, want %d", last, approved.Seq)
		}
		if last, _ := db.LastSeq(ctx, "empty"); last != 0 {
			t.Errorf("LastSeq of a room without messages = %d", last)
		}
	})
}

func TestChatPosterAndMutes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		chatFixture(t, db)
		if _, err := db.SetChatSettings(ctx, "r", true, 30); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetChatSettings(ctx, "missing", true, 30); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetChatSettings of a missing room: %v", err)
		}
		until := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		if _, err := db.SetChatMute(ctx, "r", "carol", until.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetChatMute(ctx, "r", "carol", until); err != nil { // replaces
			t.Fatal(err)
		}
		if _, err := db.SetChatMute(ctx, "missing", "carol", until); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("mute in a missing room: %v", err)
		}
		p, err := db.ChatPoster(ctx, "r", "carol")
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != "webinar" || !p.Questions || p.SlowModeSeconds != 30 || !p.MutedUntil.Equal(until) ||
			!p.LastPost.Equal(time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)) {
			t.Errorf("ChatPoster(carol) = %+v", p)
		}
		if p, err := db.ChatPoster(ctx, "r", "newcomer"); err != nil || !p.MutedUntil.IsZero() || !p.LastPost.IsZero() {
			t.Errorf("ChatPoster(newcomer) = %+v, %v", p, err)
		}
		if _, err := db.ChatPoster(ctx, "missing", "carol"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ChatPoster of a missing room: %v", err)
		}
		if r, err := db.Room(ctx, "r"); err != nil || !r.ChatQuestions || r.ChatSlowModeSeconds != 30 {
			t.Errorf("room after SetChatSettings = %+v, %v", r, err)
		}

		mutes, err := db.ChatMutes(ctx, "r", until.Add(-time.Minute))
		if err != nil || len(mutes) != 1 || mutes[0].Identity != "carol" || !mutes[0].Until.Equal(until) {
			t.Errorf("ChatMutes = %+v, %v", mutes, err)
		}
		if mutes, _ := db.ChatMutes(ctx, "r", until); len(mutes) != 0 {
			t.Errorf("ChatMutes after the mute ended = %+v", mutes)
		}
		if err := db.DeleteChatMute(ctx, "r", "carol"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteChatMute(ctx, "r", "carol"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unmuting twice: %v", err)
		}
		if err := db.DeleteRoom(ctx, "r"); err != nil {
			t.Errorf("deleting a room with messages and mutes: %v", err)
		}
	})
}
