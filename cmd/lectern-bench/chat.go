package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

func init() { subcommands["chat"] = runChat }

var errBenchIncomplete = errors.New("chat: not every message was stored and delivered")

// chatFlags configure the chat load.
type chatFlags struct {
	serverBin   string
	databaseURL string
	url         string
	adminKey    string
	room        string
	clients     int
	senders     int
	rate        int
	duration    time.Duration
	settle      time.Duration
	cpuProfile  string
}

// runChat connects N chat websocket clients to one room, has them post M
// messages per second in turn for D, then checks that every message was
// stored and delivered to every client, and reports delivery latency (from
// the sender's write to each receiver's read) and CPU.
func runChat(ctx context.Context, args []string, out io.Writer) error {
	var f chatFlags
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start on loopback (go build -o /tmp/lectern ./cmd/lectern)")
	fs.StringVar(&f.databaseURL, "database-url", "", "with --server-bin: the server's LECTERN_DATABASE_URL (empty: SQLite in a temporary directory)")
	fs.StringVar(&f.url, "url", "", "instead of --server-bin: the base URL of a running server, such as http://127.0.0.1:8080")
	fs.StringVar(&f.adminKey, "admin-key", "", "with --url: its admin API key")
	fs.StringVar(&f.room, "room", "", "room to use (created if missing; default: a new one)")
	fs.IntVar(&f.clients, "clients", 1000, "websocket clients in the room; all receive")
	fs.IntVar(&f.senders, "senders", 0, "how many of the clients send, in turn (0: all)")
	fs.IntVar(&f.rate, "rate", 1000, "messages per second, all senders together")
	fs.DurationVar(&f.duration, "duration", 60*time.Second, "how long to send")
	fs.DurationVar(&f.settle, "settle", 30*time.Second, "how long to wait after sending for acknowledgements and deliveries")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile of the sending window to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.senders == 0 || f.senders > f.clients {
		f.senders = f.clients
	}
	if f.clients < 1 || f.rate < 1 || f.duration <= 0 || (f.serverBin == "") == (f.url == "" || f.adminKey == "") {
		return errors.New("chat: give --server-bin, or --url and --admin-key; --clients, --rate and --duration must be positive")
	}
	backend := "sqlite"
	if f.databaseURL != "" {
		backend = "postgres"
	}
	var srv *benchServer
	if f.serverBin != "" {
		var env []string
		if f.databaseURL != "" {
			env = append(env, "LECTERN_DATABASE_URL="+f.databaseURL)
		}
		var err error
		if srv, err = startServer(ctx, f.serverBin, env...); err != nil {
			return err
		}
		defer srv.stop()
	} else {
		srv, backend = &benchServer{url: strings.TrimSuffix(f.url, "/"), adminKey: f.adminKey}, "as configured"
	}
	if f.room == "" {
		f.room = fmt.Sprintf("chat-bench-%d", time.Now().Unix())
	}
	clients, err := connectChatClients(ctx, srv, f)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if err != nil {
		return err
	}

	var cpu0, self0 time.Duration
	if srv.started() {
		cpu0, _ = processCPU(srv.pid())
	}
	self0, _ = processCPU(os.Getpid())
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		pprof.StartCPUProfile(pf)
	}
	start := time.Now()
	sent, sendErrs := sendChat(ctx, clients[:f.senders], f.rate, f.duration)
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	acked, failed := waitAcks(ctx, clients, sent, f.settle)
	complete := waitDeliveries(ctx, clients, acked, f.settle)
	elapsed := time.Since(start)
	var cpu1 time.Duration
	if srv.started() {
		cpu1, _ = processCPU(srv.pid())
	}
	self1, _ := processCPU(os.Getpid())

	stored, err := countStored(ctx, srv, f.room)
	if err != nil {
		return err
	}
	var lat histogram
	var received, disorder, frames, reconnects int64
	codes := map[string]int64{}
	for _, c := range clients {
		c.close()
		lat.merge(&c.stats.latency)
		received += c.received.Load()
		disorder += c.stats.disorder
		frames += c.stats.frames
		reconnects += c.stats.reconnects
		for k, v := range c.errorCodes() {
			codes[k] += v
		}
	}
	clients = nil
	want := acked * int64(f.clients)
	cpu := "n/a"
	if srv.started() {
		cpu = fmt.Sprintf("%.0f%%", 100*(cpu1-cpu0).Seconds()/elapsed.Seconds())
	}
	fmt.Fprintf(out, "| backend | clients × msg/s × duration | sent | acked | stored | deliveries (of %s) | missing | out of order | latency p50 / p99 / max | frames per client per s | reconnects | refused | server CPU | bench CPU |\n", "acked × clients")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| %s | %d × %d × %s | %d | %d | %d | %d (of %d) | %d | %d | %s / %s / %s | %.1f | %d | %d (%s) | %s | %.0f%% |\n",
		backend, f.clients, f.rate, f.duration, sent, acked, stored, received, want, want-received, disorder,
		lat.quantile(0.5), lat.quantile(0.99), lat.max.Round(100*time.Microsecond),
		float64(frames)/float64(f.clients)/elapsed.Seconds(), reconnects, failed+sendErrs, formatCodes(codes), cpu,
		100*(self1-self0).Seconds()/elapsed.Seconds())
	if sent == 0 || acked != sent || stored != acked || received != want || disorder != 0 || !complete {
		return errBenchIncomplete
	}
	return nil
}

// connectChatClients creates the room, mints a member token per client and
// connects them all, a few at a time, each past its backlog.
func connectChatClients(ctx context.Context, srv *benchServer, f chatFlags) ([]*chatClient, error) {
	if err := srv.ensureRoom(ctx, f.room); err != nil {
		return nil, err
	}
	base := "ws" + strings.TrimPrefix(srv.url, "http") + "/api/v1/rooms/" + f.room + "/chat/ws?token="
	clients := make([]*chatClient, f.clients)
	errs := make([]error, f.clients)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				tok, err := srv.token(ctx, f.room, fmt.Sprintf("c-%d", i), `{"preset":"member"}`)
				if err == nil {
					clients[i], err = dialBenchChat(ctx, base+tok)
				}
				if err == nil {
					select {
					case <-clients[i].ready:
					case <-ctx.Done():
						err = ctx.Err()
					}
				}
				errs[i] = err
			}
		})
	}
	for i := range f.clients {
		next <- i
	}
	close(next)
	wg.Wait()
	var ok []*chatClient
	for _, c := range clients {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok, errors.Join(errs...)
}

// sendChat posts rate messages per second for duration, taking turns among
// senders, on a fixed schedule (a late message is sent at once).
func sendChat(ctx context.Context, senders []*chatClient, rate int, duration time.Duration) (sent, failed int64) {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := int64(0); ; k++ {
		due := time.Duration(k) * interval
		if due >= duration {
			return sent, failed
		}
		if wait := time.Until(start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return sent, failed
			}
		}
		if err := senders[k%int64(len(senders))].send(ctx, k); err != nil {
			failed++
			continue
		}
		sent++
	}
}

// waitAcks waits until every sent message is acknowledged or refused.
func waitAcks(ctx context.Context, clients []*chatClient, sent int64, limit time.Duration) (acked, failed int64) {
	deadline := time.Now().Add(limit)
	for {
		acked, failed = 0, 0
		for _, c := range clients {
			acked += c.acked.Load()
			failed += c.failed.Load()
		}
		if acked+failed >= sent || time.Now().After(deadline) || ctx.Err() != nil {
			return acked, failed
		}
		time.Sleep(10 * time.Millisecond) // polling counters, not synchronizing
	}
}

// waitDeliveries waits until every client has received want messages, or
// the limit passes; it reports whether they all did.
func waitDeliveries(ctx context.Context, clients []*chatClient, want int64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		all := true
		for _, c := range clients {
			if c.received.Load() < want {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling counters, not synchronizing
	}
}

// countStored pages through the room's history and counts the bench's messages.
func countStored(ctx context.Context, srv *benchServer, room string) (int64, error) {
	var n int64
	before := int64(0)
	for {
		path := "/api/v1/rooms/" + room + "/messages?limit=200"
		if before > 0 {
			path += fmt.Sprintf("&before=%d", before)
		}
		var page struct {
			Messages []struct {
				Text string `json:"text"`
			} `json:"messages"`
			NextBefore int64 `json:"next_before"`
		}
		if err := srv.api(ctx, "GET", path, "", &page); err != nil {
			return 0, err
		}
		for _, m := range page.Messages {
			if strings.HasPrefix(m.Text, benchTextPrefix) {
				n++
			}
		}
		if page.NextBefore == 0 {
			return n, nil
		}
		before = page.NextBefore
	}
}
