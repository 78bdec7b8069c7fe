package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// benchTextPrefix starts every message the bench sends; the send time in
// unix nanoseconds follows.
const benchTextPrefix = "b "

// chatStats are what one client measured. The client's reader goroutine
// writes them; read them after close.
type chatStats struct {
	disorder   int64 // events whose seq did not exceed the previous one
	frames     int64
	reconnects int64
	latency    histogram
}

// chatClient is one websocket chat client of the bench. Its reader goroutine
// owns stats and lastSeq and reconnects, resuming after lastSeq, when the
// server drops it for being slow.
type chatClient struct {
	url    string // ws://.../chat/ws?token=...
	conn   atomic.Pointer[websocket.Conn]
	cancel context.CancelFunc
	ready  chan struct{} // closed at the first chat_ready
	done   chan struct{} // closed when the reader ends

	acked    atomic.Int64
	failed   atomic.Int64
	received atomic.Int64 // bench messages received
	errMu    sync.Mutex
	errs     map[string]int64 // error replies by code

	stats   chatStats
	lastSeq int64
	readErr error
}

func dialBenchChat(ctx context.Context, url string) (*chatClient, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &chatClient{url: url, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}), errs: map[string]int64{}}
	conn, err := c.dial(ctx, "")
	if err != nil {
		cancel()
		return nil, err
	}
	c.conn.Store(conn)
	go c.readLoop(ctx)
	return c, nil
}

func (c *chatClient) dial(ctx context.Context, query string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, c.url+query, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(4 << 20)
	return conn, nil
}

// send posts one bench message stamped with the time now.
func (c *chatClient) send(ctx context.Context, id int64) error {
	var b []byte
	b = append(b, `{"type":"chat_send","id":"`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `","text":"`+benchTextPrefix...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `"}`...)
	return c.conn.Load().Write(ctx, websocket.MessageText, b)
}

func (c *chatClient) close() {
	c.conn.Load().Close(websocket.StatusNormalClosure, "bench over")
	c.cancel() // also ends a reconnection in progress
	<-c.done
}

// readLoop reads frames until the socket ends for a reason other than
// being too slow, in which case it resumes.
func (c *chatClient) readLoop(ctx context.Context) {
	defer close(c.done)
	var buf bytes.Buffer
	readyOnce := sync.OnceFunc(func() { close(c.ready) })
	defer readyOnce()
	for {
		conn := c.conn.Load()
		err := c.readFrames(ctx, conn, &buf, readyOnce)
		if websocket.CloseStatus(err) != 4008 || ctx.Err() != nil {
			c.readErr = err
			return
		}
		// Dropped for falling behind: resume after the last seq seen.
		c.stats.reconnects++
		conn, err = c.dial(ctx, "&after="+strconv.FormatInt(c.lastSeq, 10))
		if err != nil {
			c.readErr = err
			return
		}
		c.conn.Store(conn)
	}
}

func (c *chatClient) readFrames(ctx context.Context, conn *websocket.Conn, buf *bytes.Buffer, ready func()) error {
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		data := buf.Bytes()
		switch {
		case bytes.HasPrefix(data, []byte(`{"type":"chat",`)):
			c.stats.frames++
			c.events(data, now)
		case bytes.HasPrefix(data, []byte(`{"type":"chat_sent"`)):
			c.acked.Add(1)
		case bytes.HasPrefix(data, []byte(`{"type":"chat_ready"`)):
			var m struct{ Seq int64 }
			json.Unmarshal(data, &m)
			c.lastSeq = max(c.lastSeq, m.Seq)
			ready()
		case bytes.HasPrefix(data, []byte(`{"type":"error"`)):
			var m struct{ Code string }
			json.Unmarshal(data, &m)
			c.failed.Add(1)
			c.errMu.Lock()
			c.errs[m.Code]++
			c.errMu.Unlock()
		}
	}
}

// events scans a chat frame for each event's seq and bench send time
// without decoding it, in one pass: the server writes a message's fields in
// a fixed order, seq before text, and a quote inside a string is escaped.
func (c *chatClient) events(data []byte, now int64) {
	seqKey, textKey := []byte(`"seq":`), []byte(`"text":"`)
	for {
		i := bytes.Index(data, seqKey)
		if i < 0 {
			return
		}
		data = data[i+len(seqKey):]
		seq, n := leadingInt(data)
		if seq <= c.lastSeq {
			c.stats.disorder++
		}
		c.lastSeq = max(c.lastSeq, seq)
		data = data[n:]
		j := bytes.Index(data, textKey)
		if j < 0 {
			return
		}
		data = data[j+len(textKey):]
		if !bytes.HasPrefix(data, []byte(benchTextPrefix)) {
			continue // not a bench message
		}
		sent, n := leadingInt(data[len(benchTextPrefix):])
		data = data[len(benchTextPrefix)+n:]
		c.received.Add(1)
		c.stats.latency.add(time.Duration(now - sent))
	}
}

// leadingInt parses the decimal digits at the start of b.
func leadingInt(b []byte) (int64, int) {
	var v int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	return v, i
}

// errors returns the error replies by code, as "code×n" words.
func (c *chatClient) errorCodes() map[string]int64 {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	out := map[string]int64{}
	for k, v := range c.errs {
		out[k] = v
	}
	return out
}

// histogram counts latencies in 100 µs buckets up to 100 ms, then 10 ms
// buckets up to 10 s.
type histogram struct {
	fine   [1000]uint32
	coarse [1000]uint32
	over   uint32
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	h.max = max(h.max, d)
	switch {
	case d < 0:
		h.fine[0]++
	case d < 100*time.Millisecond:
		h.fine[d/(100*time.Microsecond)]++
	case d < 10*time.Second:
		h.coarse[d/(10*time.Millisecond)]++
	default:
		h.over++
	}
}

func (h *histogram) merge(o *histogram) {
	for i := range h.fine {
		h.fine[i] += o.fine[i]
		h.coarse[i] += o.coarse[i]
	}
	h.over += o.over
	h.max = max(h.max, o.max)
}

func (h *histogram) count() int64 {
	n := int64(h.over)
	for i := range h.fine {
		n += int64(h.fine[i]) + int64(h.coarse[i])
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	total := h.count()
	if total == 0 {
		return 0
	}
	want := int64(q * float64(total))
	var n int64
	for i, c := range h.fine {
		if n += int64(c); n > want {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	for i, c := range h.coarse {
		if n += int64(c); n > want {
			return time.Duration(i+1) * 10 * time.Millisecond
		}
	}
	return h.max
}

// formatCodes writes error counts as "code: n, ...".
func formatCodes(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	return strings.Join(parts, ", ")
}
