package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestListenChatNeedsPostgres(t *testing.T) {
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	if db.CanNotify() {
		t.Error("SQLite claims to notify")
	}
	if err := db.ListenChat(t.Context(), func(storage.Notification) {}); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("ListenChat on SQLite: %v", err)
	}
}

// TestListenChatOrder writes to one room from two processes' stores at once
// and checks that a third store hears every change, in increasing seq order:
// the per-room lock makes commit order equal seq order.
func TestListenChatOrder(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	writers := []*storage.DB{storagetest.Open(t, b), storagetest.Open(t, b)}
	listener := storagetest.Open(t, b)
	if !listener.CanNotify() {
		t.Fatal("PostgreSQL does not notify")
	}
	ctx := t.Context()
	for _, id := range []string{"r", "s"} {
		if _, err := writers[0].CreateRoom(ctx, storage.Room{ID: id}); err != nil {
			t.Fatal(err)
		}
	}

	heard := make(chan storage.Notification, 1000)
	listenCtx, stop := context.WithCancel(ctx)
	listenDone := make(chan error, 1)
	go func() {
		listenDone <- listener.ListenChat(listenCtx, func(n storage.Notification) { heard <- n })
	}()
	select {
	case n := <-heard:
		if !n.Resync {
			t.Fatalf("first notification = %+v, want Resync", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not listening within 10 s")
	}

	const perWriter, batches = 3, 20
	var wg sync.WaitGroup
	for w, db := range writers {
		wg.Go(func() {
			for i := range batches {
				batch := []storage.NewMessage{}
				for j := range perWriter {
					room := "r"
					if j == 2 {
						room = "s"
					}
					batch = append(batch, storage.NewMessage{RoomID: room, Sender: fmt.Sprint("w", w), Text: fmt.Sprint(i, j), CreatedAt: time.Now()})
				}
				if _, err := db.InsertMessages(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	lastR, _ := writers[0].LastSeq(ctx, "r")
	lastS, _ := writers[0].LastSeq(ctx, "s")

	seen := map[string]int64{}
	deadline := time.After(10 * time.Second)
	for seen["r"] != lastR || seen["s"] != lastS {
		select {
		case n := <-heard:
			if n.Resync {
				t.Fatal("resync without a reconnection")
			}
			if n.Seq <= seen[n.Room] {
				t.Fatalf("room %s: seq %d heard after %d", n.Room, n.Seq, seen[n.Room])
			}
			seen[n.Room] = n.Seq
		case <-deadline:
			t.Fatalf("heard up to %v within 10 s, want r=%d s=%d", seen, lastR, lastS)
		}
	}

	// Changes to existing messages are announced too.
	del, err := writers[1].DeleteMessage(ctx, "r", lastR, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-heard:
		if n.Room != "r" || n.Seq != del.Seq {
			t.Errorf("deletion announced as %+v, want r %d", n, del.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deletion not announced")
	}

	// So are member changes and room deletions; a failed change is not.
	if _, err := writers[0].CreateMember(ctx, storage.Member{RoomID: "s", Identity: "bob", Permissions: "receive"}); err != nil {
		t.Fatal(err)
	}
	if _, err := writers[0].UpdateMember(ctx, storage.Member{RoomID: "s", Identity: "nobody"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("updating a missing member: %v", err)
	}
	if _, err := writers[1].UpdateMember(ctx, storage.Member{RoomID: "s", Identity: "bob", Permissions: "send"}); err != nil {
		t.Fatal(err)
	}
	if err := writers[0].DeleteRoom(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []storage.Notification{{Room: "s", Member: "bob"}, {Room: "s", Deleted: true}} {
		select {
		case n := <-heard:
			if n != want {
				t.Errorf("heard %+v, want %+v", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%+v not announced", want)
		}
	}

	stop()
	if err := <-listenDone; err != nil {
		t.Errorf("ListenChat after cancel: %v", err)
	}
}
