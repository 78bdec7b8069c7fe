package chat

import (
	"errors"
	"slices"
	"testing"

	"lectern/access"
	"lectern/storage"
)

// TestQuestionsHiddenUntilApproved: in a webinar, a viewer's message is a
// question only its asker, speakers and moderators see until a moderator
// approves it; approval and answer reach everyone live.
func TestQuestionsHiddenUntilApproved(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"web": "webinar"})
		asker := viewer("asker", access.Viewer|access.Send)
		other := viewer("other", access.Viewer|access.Send)
		speaker := viewer("speaker", access.Speaker)
		host := viewer("host", access.Host)
		feeds := map[string]*feed{}
		for _, v := range []Viewer{asker, other, speaker, host} {
			feeds[v.Identity] = subscribe(t, h, "web", v, Latest)
		}

		q := mustPost(t, h, "web", asker, "When is the break?", "")
		if q.Kind != "question" || q.State != "pending" {
			t.Fatalf("ack = %+v, want a pending question", q)
		}
		said := mustPost(t, h, "web", speaker, "Welcome!", "")
		if said.Kind != "message" {
			t.Errorf("speaker's post = %+v, want a message", said)
		}
		for name, want := range map[string][]string{
			"asker": {"message:When is the break?", "message:Welcome!"}, "speaker": {"message:When is the break?", "message:Welcome!"},
			"host": {"message:When is the break?", "message:Welcome!"}, "other": {"message:Welcome!"},
		} {
			if got := texts(feeds[name].until(said.ID)); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", name, got, want)
			}
		}
		if hist, _ := h.History(t.Context(), "web", other, 0, 10); len(hist) != 1 {
			t.Errorf("other's history shows the pending question: %+v", hist)
		}
		if _, err := h.Approve(t.Context(), "web", speaker, q.ID); !errors.Is(err, ErrNoModerate) {
			t.Errorf("a speaker approving: %v", err)
		}
		if _, err := h.Approve(t.Context(), "web", other, q.ID); !errors.Is(err, ErrNoModerate) {
			t.Errorf("a viewer approving: %v", err)
		}

		approved, err := h.Approve(t.Context(), "web", host, q.ID)
		if err != nil || approved.State != "approved" || approved.Seq <= said.Seq {
			t.Fatalf("approve = %+v, %v", approved, err)
		}
		answered, err := h.Answer(t.Context(), "web", host, q.ID)
		if err != nil || answered.State != "answered" {
			t.Fatalf("answer = %+v, %v", answered, err)
		}
		// Everyone sees the question answered; the approval too, unless the
		// answer overtook it before delivery (the stream carries states, and
		// a message's latest state replaces the earlier one).
		for name, f := range feeds {
			evs := f.until(q.ID)
			if e := evs[len(evs)-1]; e.Type != EventUpdate || e.Message.State == "pending" {
				t.Fatalf("%s got %+v", name, evs)
			}
			if evs[len(evs)-1].Message.State == "approved" {
				evs = f.until(q.ID)
			}
			if len(evs) != 1 || evs[0].Type != EventUpdate || evs[0].Message.State != "answered" || evs[0].Message.Seq != answered.Seq {
				t.Errorf("%s got %+v, want the answered question", name, evs)
			}
		}
		if _, err := h.Approve(t.Context(), "web", host, q.ID); !errors.Is(err, ErrWrongState) {
			t.Errorf("approving an answered question: %v", err)
		}
		if _, err := h.Approve(t.Context(), "web", host, said.ID); !errors.Is(err, ErrWrongState) {
			t.Errorf("approving a message: %v", err)
		}
		// A viewer resuming from before the question gets it as approved, then answered, once.
		late := subscribe(t, h, "web", other, said.Seq)
		if e := late.next(); e.Message.ID != q.ID || e.Message.State != "answered" {
			t.Errorf("resumed viewer got %+v", e)
		}

		// The audience sends no direct messages in a webinar; a moderator may.
		if _, err := h.Post(t.Context(), "web", other, "psst", "speaker"); !errors.Is(err, ErrNoDirect) {
			t.Errorf("viewer's direct message: %v", err)
		}
		mustPost(t, h, "web", host, "thanks for asking", "asker")
	})
}

// TestVisibleAgreesWithStorage checks chat's rule against storage's SQL for
// every viewer kind over messages of every visibility class.
func TestVisibleAgreesWithStorage(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"web": "webinar"})
		ms, err := db.InsertMessages(t.Context(), []storage.NewMessage{
			{RoomID: "web", Sender: "alice", Kind: storage.KindMessage, Text: "public"},
			{RoomID: "web", Sender: "alice", Recipient: "bob", Kind: storage.KindMessage, Text: "direct"},
			{RoomID: "web", Sender: "carol", Kind: storage.KindQuestion, State: storage.StatePending, Text: "pending"},
			{RoomID: "web", Sender: "carol", Kind: storage.KindQuestion, State: storage.StateApproved, Text: "approved"},
			{RoomID: "web", Sender: "bob", Recipient: "alice", Kind: storage.KindQuestion, State: storage.StatePending, Text: "odd"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteMessage(t.Context(), "web", ms[2].ID, ms[2].CreatedAt); err != nil {
			t.Fatal(err)
		}
		all, _ := db.History(t.Context(), "web", storage.MessageFilter{All: true}, 0, 100)
		for _, v := range []Viewer{
			{Operator: true}, viewer("alice", access.Viewer), viewer("bob", access.Member), viewer("carol", access.Viewer),
			viewer("dave", access.Viewer), viewer("pub", access.Publish|access.Receive), viewer("mod", access.Moderate|access.Receive),
		} {
			var want []int64
			for _, m := range all {
				if Visible(m, v) {
					want = append(want, m.ID)
				}
			}
			got, err := db.History(t.Context(), "web", v.filter(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(got); !slices.Equal(ids, want) {
				t.Errorf("%+v: storage shows %v, Visible says %v", v, ids, want)
			}
		}
	})
}

func idsOf(ms []storage.Message) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
