// Command lectern serves the whole Lectern product from one process: the REST
// API and pages, WebRTC (the SFU, WHIP and WHEP), RTSP in and out, LL-HLS,
// recordings, chat, an optional TURN server and cluster membership. With no
// configuration it keeps its state in SQLite under ./data and prints the URL
// and admin key. run.go starts the process in order (start.go) and stops it
// in reverse.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lectern:", err)
		os.Exit(1)
	}
}
