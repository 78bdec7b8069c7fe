package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"lectern/storage/storagetest"
)

// TestClusterBench runs the cascade bench briefly against three real nodes
// on a fresh PostgreSQL database, for correctness: each edge pulls q and f
// once and not h (its viewers take f), its viewers get media, and when an
// edge is killed its viewers play again through the other.
func TestClusterBench(t *testing.T) {
	bin := serverBinary(t)
	db := storagetest.PostgresURL(t)
	var out bytes.Buffer
	args := []string{"cluster", "--server-bin", bin, "--database-url", db, "--edges", "2", "--subscribers", "2", "--direct", "1",
		"--tier", "sd", "--settle", "3s", "--duration", "2s"}
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log(report)
	for _, edge := range []string{"1", "2"} {
		m := regexp.MustCompile(`\| edge ` + edge + ` \| (\d+) / (\d+) / (\d+) \| ([\d.]+) / ([\d.]+) / ([\d.]+) /`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("no pull row for edge %s", edge)
		}
		if m[1] != "1" || m[2] != "0" || m[3] != "1" {
			t.Errorf("edge %s pulls q/h/f %s/%s/%s, want 1/0/1", edge, m[1], m[2], m[3])
		}
		if f, _ := strconv.ParseFloat(m[6], 64); f <= 0 {
			t.Errorf("edge %s received no f layer from the origin", edge)
		}
		v := regexp.MustCompile(`\| edge ` + edge + ` \| 2 \| (\d+) \|`).FindStringSubmatch(report)
		if v == nil || v[1] == "0" {
			t.Errorf("edge %s's viewers got no media", edge)
		}
	}
	if !regexp.MustCompile(`played again through edge 2 .*; 0 did not`).MatchString(report) {
		t.Error("the killed edge's viewers did not all play again through edge 2")
	}
}
