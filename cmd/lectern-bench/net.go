package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"strings"
	"time"

	"lectern/netlab"
)

func init() { subcommands["net"] = runNet }

// runNet runs netlab's scenarios (issue 13, point 8): real Chromium
// publishers and a viewer in network namespaces, links shaped with tc tbf
// and nftables. It needs root; see docs/netlab.md.
func runNet(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("net", flag.ContinueOnError)
	bin := fs.String("server-bin", "", "lectern binary (go build -o /tmp/lectern ./cmd/lectern)")
	phase := fs.Duration("phase", 60*time.Second, "length of each phase")
	only := fs.String("scenarios", "", "comma-separated scenario names to run (default: all): "+scenarioNames())
	short := fs.Bool("short", false, "run only the short scenario CI runs")
	jsonOut := fs.String("json", "", "also write every sample and figure to this file")
	joins := fs.Int("joins", 0, "instead of the scenarios, time this many joins of a Chromium viewer over WHEP and as many with the pages' client, the publisher live (issue 13, point 7)")
	joinLayer := fs.String("join-layer", "", "with --joins, pin the WHEP joins to this simulcast layer (q, h or f; default auto)")
	camera := fs.String("camera", "noise", "publishers' fake camera: noise (a Y4M that ffmpeg makes, near every layer's bitrate ceiling) or pattern (Chromium's built-in, a few hundred kbit/s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("net: give --server-bin")
	}
	if err := netlab.Missing(); err != nil {
		return err
	}
	env := netlab.Env{Bin: *bin, Logf: log.New(os.Stderr, "", log.Ltime).Printf}
	switch *camera {
	case "noise":
		path, err := netlab.NoisyCamera(ctx)
		if err != nil {
			return err
		}
		env.Camera = path
	case "pattern":
	default:
		return fmt.Errorf("net: --camera %q is not noise or pattern", *camera)
	}
	if *joins > 0 {
		return netJoins(ctx, env, *joins, *joinLayer, *jsonOut, out)
	}
	scenarios := netlab.Full(*phase)
	if *short {
		scenarios = []netlab.Scenario{netlab.Short()}
	}
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var picked []netlab.Scenario
		for _, sc := range scenarios {
			if want[sc.Name] || want[fmt.Sprintf("%s/%d", sc.Name, sc.Publishers)] {
				picked = append(picked, sc)
			}
		}
		if len(picked) == 0 {
			return fmt.Errorf("net: no scenario named %q (have %s)", *only, scenarioNames())
		}
		scenarios = picked
	}
	var results []*netlab.Result
	var failed []error
	for _, sc := range scenarios {
		r, err := netlab.Run(ctx, env, sc)
		if err != nil {
			// The other scenarios still run; the error is reported at the end.
			failed = append(failed, fmt.Errorf("net: %s/%d: %w", sc.Name, sc.Publishers, err))
			env.Logf("%v", failed[len(failed)-1])
			continue
		}
		results = append(results, r)
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "lectern-bench net, %s, %s, %d CPUs, %s, camera %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.Version(), *camera)
	for _, sc := range scenarios {
		for _, p := range sc.Phases {
			fmt.Fprintf(out, "- %s (%d publishers): %s\n", sc.Name, sc.Publishers, p.Describe())
		}
	}
	fmt.Fprintln(out)
	if err := netlab.WriteTable(out, results); err != nil {
		return err
	}
	if *jsonOut != "" {
		data, err := json.Marshal(results)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// scenarioNames lists the full scenarios as name/publishers.
func scenarioNames() string {
	var names []string
	for _, sc := range netlab.Full(time.Minute) {
		names = append(names, fmt.Sprintf("%s/%d", sc.Name, sc.Publishers))
	}
	return strings.Join(names, ", ")
}

// netJoins times n joins of each kind and writes their quantiles.
func netJoins(ctx context.Context, env netlab.Env, n int, layer, jsonOut string, out io.Writer) error {
	runs, err := netlab.Joins(ctx, env, n, layer)
	if err != nil {
		return fmt.Errorf("net: joins: %w", err)
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "lectern-bench net --joins %d --join-layer %q, %s, %s, %d CPUs, %s\n\n", n, layer, time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.Version())
	if err := netlab.WriteJoins(out, runs); err != nil {
		return err
	}
	if jsonOut == "" {
		return nil
	}
	data, err := json.Marshal(runs)
	if err != nil {
		return err
	}
	return os.WriteFile(jsonOut, data, 0o644)
}
