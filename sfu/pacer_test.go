package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// countWriter counts the packets written to it.
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) WriteRTP(*rtp.Header, []byte) (int, error) { w.n.Add(1); return 0, nil }
func (w *countWriter) Write([]byte) (int, error)                 { return 0, nil }

// TestKeyframeBurstIsNotDropped queues a keyframe of 1.3 Mbit at once on a
// queue paced for a low estimate (the 1 Mbit/s floor): at that rate its tail
// would wait over a second and be dropped for age, breaking the frame that
// repairs the picture; the queue goes faster instead and sends it whole.
func TestKeyframeBurstIsNotDropped(t *testing.T) {
	q := newSendQueue()
	q.setRate(300_000)
	done := make(chan struct{})
	go func() { defer close(done); q.run(nil) }()
	defer func() { close(q.stop); <-done }()

	w := &countWriter{}
	b := &binding{write: w}
	payload := make([]byte, 1100)
	const burst = 150
	for i := range burst {
		q.push(nil, b, &rtp.Header{SequenceNumber: uint16(i)}, payload, true)
	}
	poll(t, 10*time.Second, "the burst sent or dropped", func() bool { return int(w.n.Load())+int(q.dropped.Load()) >= burst })
	// Paced at 1 Mbit/s the burst takes 1.4 s: all but the first 150 ms
	// of it (about 15 packets) would be dropped. A machine that starves the
	// queue's goroutine may still drop a few for age.
	if sent := w.n.Load(); sent < burst*8/10 {
		t.Errorf("sent %d of a %d-packet keyframe, dropped %d", sent, burst, q.dropped.Load())
	}
}
