package netlab

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// Join kinds: a WHEP viewer, and a viewer of the pages' client (the room
// websocket, lectern.js).
const (
	JoinWHEP = "whep"
	JoinRoom = "room"
)

// JoinRun is one timed join of the viewer's browser, each step in
// milliseconds from the join's start; a step that never came is nil. WHEP:
// Gathered is the offer's ICE gathering (at most 1 s), Answered the answer
// applied. Room: Answered is connect() resolved (the welcome). Connected is
// the subscribing peer connection's "connected"; Frame the first video frame
// shown. Delay is not a step: it is the video's jitter-buffer delay per
// frame in the 1 to 3 s after the first frame, in milliseconds.
type JoinRun struct {
	Kind      string
	Gathered  *float64 `json:",omitempty"`
	Answered  *float64
	Connected *float64
	Frame     *float64
	Delay     *float64
}

// Joins times n joins of each kind (issue 13, point 7: a new subscriber's
// connection up and first frame with the publisher already live). It starts
// a server, one Chromium publisher (camera in simulcast, microphone) and a
// Chromium viewer, each in a namespace of its own on an unlimited link, and
// the viewer joins one time after another, alternating the kinds, leaving
// 3 s after each join's first frame. layer, if set, pins the WHEP joins to a
// simulcast layer (q, h or f).
func Joins(ctx context.Context, env Env, n int, layer string) (runs []JoinRun, err error) {
	lab, err := NewLab(ctx)
	if err != nil {
		return nil, err
	}
	defer lab.closeInto(&err)
	srv, err := StartServer(ctx, env.Bin, ServerConfig{IP: lab.ServerIP})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	const room = "joins"
	if err := srv.CreateRoom(ctx, room); err != nil {
		return nil, err
	}
	c := &crew{camera: env.Camera}
	defer c.close()
	if err := c.start(ctx, lab, srv, room, 1); err != nil {
		return nil, err
	}
	if err := c.waitCameras(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	// The crew's viewer stays in the room; a second browser joins and leaves.
	node, err := lab.AddNode(ctx, "joiner")
	if err != nil {
		return nil, err
	}
	b, err := StartBrowser(ctx, node, srv.URL, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	for i := range 2 * n {
		kind := JoinWHEP
		if i%2 == 1 {
			kind = JoinRoom
		}
		token, err := srv.Token(ctx, room, "joiner"+strconv.Itoa(i), false)
		if err != nil {
			return runs, err
		}
		r := JoinRun{Kind: kind}
		fn := "whepJoin"
		if kind == JoinRoom {
			fn = "roomJoin"
		}
		args := []any{room, token}
		if kind == JoinWHEP && layer != "" {
			args = append(args, layer)
		}
		if err := b.call(ctx, &r, fn, args...); err != nil {
			return runs, err
		}
		r.Kind = kind
		runs = append(runs, r)
	}
	return runs, nil
}

// WriteJoins writes the quantiles of each kind's steps as a Markdown table;
// "missing" counts joins where the step never came (within 10 s).
func WriteJoins(w io.Writer, runs []JoinRun) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| join\t step\t joins\t p50 ms\t p90 ms\t p99 ms\t max ms\t missing\t")
	fmt.Fprintln(tw, "|---\t---\t--:\t--:\t--:\t--:\t--:\t--:\t")
	steps := []struct {
		name string
		get  func(JoinRun) *float64
	}{
		{"ICE gathered", func(r JoinRun) *float64 { return r.Gathered }},
		{"answer applied / welcome", func(r JoinRun) *float64 { return r.Answered }},
		{"connected", func(r JoinRun) *float64 { return r.Connected }},
		{"first frame", func(r JoinRun) *float64 { return r.Frame }},
		{"jitter buffer 1-3 s after", func(r JoinRun) *float64 { return r.Delay }},
	}
	for _, kind := range []string{JoinWHEP, JoinRoom} {
		for _, st := range steps {
			var v []float64
			joins, missing := 0, 0
			for _, r := range runs {
				if r.Kind != kind {
					continue
				}
				joins++
				if p := st.get(r); p != nil {
					v = append(v, *p)
				} else {
					missing++
				}
			}
			if joins == 0 || len(v) == 0 && kind == JoinRoom && st.name == "ICE gathered" {
				continue
			}
			fmt.Fprintf(tw, "| %s\t %s\t %d\t %s\t %s\t %s\t %s\t %d\t\n", kind, st.name, joins,
				ms(v, 0.5), ms(v, 0.9), ms(v, 0.99), ms(v, 1), missing)
		}
	}
	return tw.Flush()
}

// ms is the q-quantile of v (nearest rank), formatted; "-" when v is empty.
func ms(v []float64, q float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return strconv.FormatFloat(s[min(max(i, 0), len(s)-1)], 'f', 1, 64)
}
