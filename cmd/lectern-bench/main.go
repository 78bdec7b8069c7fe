// Command lectern-bench generates load against a Lectern server on this machine
// and reports what it measured. Each kind of load is a subcommand:
//
//	lectern-bench sfu  ...   WebRTC publishers and subscribers
//	lectern-bench chat ...   websocket chat clients
//
// Run a subcommand with -h for its flags. Results are meant for docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// subcommand runs one kind of load with its own flags, writing the report to out.
type subcommand func(ctx context.Context, args []string, out io.Writer) error

// subcommands is filled by each load's file in its init function.
var subcommands = map[string]subcommand{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lectern-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || subcommands[args[0]] == nil {
		names := make([]string, 0, len(subcommands))
		for n := range subcommands {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("usage: lectern-bench <%v> [flags]", names)
	}
	return subcommands[args[0]](ctx, args[1:], out)
}
