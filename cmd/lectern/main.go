// Command lectern serves the whole Lectern product from one process: the REST
// API, the pages and (as they land) WebRTC, RTSP and HLS. With no configuration
// it keeps its state in SQLite under ./data and prints the URL and admin key.
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
