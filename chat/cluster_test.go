package chat

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestTwoProcessesShareLiveChat runs two hubs, as two Lectern processes would,
// on one PostgreSQL database: each delivers the other's changes live.
func TestTwoProcessesShareLiveChat(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	db1, db2 := storagetest.Open(t, b), storagetest.Open(t, b)
	h1, h2 := startHub(t, db1, nil), startHub(t, db2, nil)
	newRooms(t, db1, map[string]string{"conf": "conference"})
	a, b2, mod := viewer("a", access.Member), viewer("b", access.Member), viewer("mod", access.Host)
	on1 := subscribe(t, h1, "conf", a, Latest)
	on2 := subscribe(t, h2, "conf", b2, Latest)

	m1 := mustPost(t, h1, "conf", a, "from one", "")
	m2 := mustPost(t, h2, "conf", b2, "from two", "")
	want := []string{"message:from one", "message:from two"}
	if got := texts(on1.until(m2.ID)); !slices.Equal(got, want) {
		t.Errorf("process 1 delivered %v, want %v", got, want)
	}
	if got := texts(on2.until(m2.ID)); !slices.Equal(got, want) {
		t.Errorf("process 2 delivered %v, want %v", got, want)
	}
	d, err := h2.Delete(t.Context(), "conf", mod, m1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := on1.next(); e.Type != EventDelete || e.Message.Seq != d.Seq {
		t.Errorf("process 1 got %+v, want the tombstone from process 2", e)
	}
}

// TestListenerReconnects: when a process's LISTEN connection dies, it listens
// again and catches up on what it missed meanwhile.
func TestListenerReconnects(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	db1, db2 := storagetest.Open(t, b), storagetest.Open(t, b)
	h1, h2 := startHub(t, db1, nil), startHub(t, db2, nil)
	newRooms(t, db1, map[string]string{"conf": "conference"})
	a, b2 := viewer("a", access.Member), viewer("b", access.Member)
	on1 := subscribe(t, h1, "conf", a, Latest)
	first := mustPost(t, h2, "conf", b2, "before", "")
	on1.until(first.ID) // both listen by now

	conn, err := pgx.Connect(t.Context(), b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	err = conn.QueryRow(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN lectern_%'`).Scan(&killed)
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d listening connections, %v; want 2", killed, err)
	}
	missed := mustPost(t, h2, "conf", b2, "while nobody listened", "")
	if got := texts(on1.until(missed.ID)); !slices.Equal(got, []string{"message:while nobody listened"}) {
		t.Errorf("after the listener died, process 1 delivered %v", got)
	}
}
