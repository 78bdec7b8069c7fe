package record

import (
	"strings"
	"testing"
)

var playbackCases = []struct {
	room, id, file string
	ok             bool
}{
	{"talk", "rec_0123456789abcdef", "index.m3u8", true},
	{"talk", "rec_0123456789abcdef", "init-1.mp4", true},
	{"talk", "rec_0123456789abcdef", "seg-000001.m4s", true},
	{"talk", "rec_0123456789abcdef", "journal.jsonl", false},
	{"talk", "rec_0123456789abcdef", "../index.m3u8", false},
	{"talk", "rec_0123456789abcdeg", "index.m3u8", false},
	{"talk", "rec_0123", "index.m3u8", false},
	{"..", "rec_0123456789abcdef", "index.m3u8", false},
	{"a/b", "rec_0123456789abcdef", "index.m3u8", false},
	{"", "rec_0123456789abcdef", "index.m3u8", false},
	{"talk", "rec_0123456789abcdef", "seg-1.m4s\n", false},
}

func TestPlaybackKey(t *testing.T) {
	for _, c := range playbackCases {
		key, ok := playbackKey(c.room, c.id, c.file)
		if ok != c.ok || ok && key != c.room+"/"+c.id+"/"+c.file {
			t.Errorf("playbackKey(%q, %q, %q) = %q, %v; want ok=%v", c.room, c.id, c.file, key, ok, c.ok)
		}
	}
}

// FuzzPlaybackKey: whatever a playback path holds, a key it yields stays in
// the recording's folder and names one of its files.
func FuzzPlaybackKey(f *testing.F) {
	for _, c := range playbackCases {
		f.Add(c.room, c.id, c.file)
	}
	f.Fuzz(func(t *testing.T, room, id, file string) {
		key, ok := playbackKey(room, id, file)
		if !ok {
			return
		}
		parts := strings.Split(key, "/")
		if len(parts) != 3 || parts[0] != room || parts[1] != id || parts[2] != file || !validID(id) {
			t.Fatalf("key %q from %q %q %q", key, room, id, file)
		}
		for _, p := range parts {
			if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\\\x00") {
				t.Fatalf("key %q has element %q", key, p)
			}
		}
	})
}
