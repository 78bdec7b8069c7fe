package cluster_test

import (
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestForgetAfterOwnerLeft: a node that left the cluster tells no one, so
// another node's lookups still name it while they are remembered; Forget
// (called by a caller that found the owner gone) makes the next lookup read
// the registry again, which no longer has it.
func TestForgetAfterOwnerLeft(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	db := storagetest.Open(t, b)
	if _, err := db.CreateRoom(t.Context(), storage.Room{ID: "show", Name: "show", Mode: "webinar", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
		t.Fatal(err)
	}
	r1, r2 := &rooms{live: map[string]bool{}}, &rooms{live: map[string]bool{}}
	n1, stop1 := start(t, db, "n1", r1)
	n2, _ := start(t, db, "n2", r2)
	ctx := t.Context()
	if o, err := n1.PlaceHere(ctx, "show"); err != nil || !o.Local {
		t.Fatalf("show placed on n1: %+v, %v", o, err)
	}
	r1.set("show", true)
	urls := n2.HTTP()
	stop1()
	// Remembered just before n1 leaves (answers are kept for a second).
	if u, err := urls.Lookup(ctx, "show"); err != nil || u != "http://n1:8080" {
		t.Fatalf("show from n2: %q, %v; want n1", u, err)
	}
	if err := n1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err := urls.Lookup(ctx, "show"); err != nil || u != "http://n1:8080" {
		t.Fatalf("show from n2 right after n1 left: %q, %v; want the remembered n1 (else this test shows nothing)", u, err)
	}
	urls.Forget("show")
	if u, err := urls.Lookup(ctx, "show"); err != nil || u != "" {
		t.Errorf("show from n2 after Forget: %q, %v; want none (served here)", u, err)
	}
}
