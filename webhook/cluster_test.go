package webhook_test

import (
	"testing"

	"lectern/storage/storagetest"
)

// TestTwoNodesShareTheOutbox: two nodes on one PostgreSQL database, each
// emitting its own rooms' events (a room lives on one node), deliver every
// event once and each room's in order, whichever node claims it.
func TestTwoNodesShareTheOutbox(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	r := newReceiver(t)
	r.setDown(true) // both nodes' events pile up, then both deliver at once
	cfgA, cfgB := testConfig(r.srv.URL), testConfig(r.srv.URL)
	cfgA.Workers, cfgB.Workers = 2, 2
	cfgA.Node, cfgB.Node = "test-node-a", "test-node-b"
	dA, _ := start(t, cfgA, storagetest.Open(t, b))
	dB, _ := start(t, cfgB, storagetest.Open(t, b))
	roomsA, roomsB := []string{"a1", "a2", "a3"}, []string{"b1", "b2", "b3"}
	emitRooms(dA, roomsA, 0, 15)
	emitRooms(dB, roomsB, 0, 15)
	waitFor(t, "failed attempts on both nodes", func() bool { return dA.Stats().Failed > 0 && dB.Stats().Failed > 0 })
	r.setDown(false)
	waitFor(t, "90 events", func() bool { return len(r.received()) >= 90 })
	checkOrder(t, r, append(roomsA, roomsB...), 15)
	waitFor(t, "the counts", func() bool { return dA.Stats().Delivered+dB.Stats().Delivered == 90 })
	t.Logf("delivered by node A %d, by node B %d", dA.Stats().Delivered, dB.Stats().Delivered)
}
