package record

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A recording's spool is a directory on local disk named after it. It holds
// the media files until they are uploaded (each is removed once it is in
// the object store), a journal of every file written, from which the
// playlist is made (again, after a crash), and at last the playlist, whose
// presence means that nothing more will be written.

// header is the journal's first line.
type header struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	StartedAt time.Time `json:"started_at"`
	// Part is the part this journal writes; Node the node writing it ('' without
	// a cluster). The journal of part N > 0 starts with the entries of the
	// parts before it that reached the store.
	Part int    `json:"part,omitempty"`
	Node string `json:"node,omitempty"`
}

// isInit reports whether the entry is an init section rather than a segment.
func (e entry) isInit() bool { return strings.HasSuffix(e.File, ".mp4") }

// writeFile writes chunks as dir/name, never seen half written.
func writeFile(dir, name string, chunks ...[]byte) (int64, error) {
	tmp := filepath.Join(dir, ".tmp-"+name)
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range chunks {
		if _, err = f.Write(c); err != nil {
			break
		}
		n += int64(len(c))
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// journal appends a recording's entries to its spool's journal.
type journal struct {
	f *os.File
	w io.Writer // f, or a buffer
}

// createJournal makes the spool directory and starts its journal.
func createJournal(dir string, h header) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	j := &journal{f: f, w: f}
	if err := j.append(h); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func (j *journal) append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(b, '\n'))
	return err
}

func (j *journal) close() error { return j.f.Close() }

// readJournal reads a spool's journal. A last line cut short by a crash is
// left out.
func readJournal(dir string) (header, []entry, error) {
	f, err := os.Open(filepath.Join(dir, journalName))
	if err != nil {
		return header{}, nil, err
	}
	defer f.Close()
	h, entries, err := parseJournal(f)
	if err != nil {
		return header{}, nil, fmt.Errorf("record: journal in %s: %w", dir, err)
	}
	return h, entries, nil
}

// parseJournal reads a journal (of a spool, or a part's index from the
// object store): its header, then its entries up to the first that is not
// whole and valid.
func parseJournal(r io.Reader) (header, []entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var h header
	var entries []entry
	for first := true; sc.Scan(); first = false {
		if first {
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || !validID(h.ID) || h.Part < 0 {
				return header{}, nil, fmt.Errorf("bad header: %v", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || !e.valid(h.Part) {
			break
		}
		entries = append(entries, e)
	}
	if h.ID == "" {
		return header{}, nil, errors.New("empty journal")
	}
	return h, entries, sc.Err()
}

// valid reports whether e can be an entry of a journal of part (or an
// earlier one): its file is named as its part's files are.
func (e entry) valid(part int) bool {
	if e.Part < 0 || e.Part > part || e.Init < 1 || e.DurationUS < 0 || e.Bytes < 0 {
		return false
	}
	p := partPrefix(e.Part)
	if e.File == initName(e.Part, e.Init) {
		return true
	}
	return strings.HasPrefix(e.File, p+"seg-") && fileName.MatchString(e.File)
}

// totals sums the entries: the media's duration and every file's size.
func totals(entries []entry) (d time.Duration, size int64) {
	for _, e := range entries {
		d += e.duration()
		size += e.Bytes
	}
	return d, size
}

// segments returns the entries that are media segments.
func segments(entries []entry) []entry {
	var out []entry
	for _, e := range entries {
		if !e.isInit() {
			out = append(out, e)
		}
	}
	return out
}
