package access

import (
	"encoding/json"
	"errors"
	"testing"
)

var sourceCases = []struct {
	in      string
	want    Sources
	wantErr bool
}{
	{`["microphone"]`, Microphone, false},
	{`["camera","screen","screen_audio","microphone"]`, AllSources, false},
	{`[]`, 0, false},
	{`["camera","camera"]`, Camera, false},
	{`["webcam"]`, 0, true},
	{`["Camera"]`, 0, true},
	{`"camera"`, 0, true},
	{`{"camera":true}`, 0, true},
	{`null`, 0, true},
	{`[1]`, 0, true},
}

func TestSourcesJSON(t *testing.T) {
	for _, tc := range sourceCases {
		var s Sources
		err := json.Unmarshal([]byte(tc.in), &s)
		if tc.wantErr {
			if !errors.Is(err, ErrInvalidSource) {
				t.Errorf("%s: got %v, %v; want ErrInvalidSource", tc.in, s, err)
			}
			continue
		}
		if err != nil || s != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.in, s, err, tc.want)
		}
	}
}

func TestSourcesText(t *testing.T) {
	for _, s := range []Sources{0, Microphone, Camera | Screen, AllSources} {
		got, err := ParseSources(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSources(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	if got := (Microphone | ScreenAudio).String(); got != "microphone,screen_audio" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []string{",", "camera,", "mic", "camera,,screen"} {
		if _, err := ParseSources(bad); !errors.Is(err, ErrInvalidSource) {
			t.Errorf("ParseSources(%q) = %v, want ErrInvalidSource", bad, err)
		}
	}
}

// FuzzSourcesJSON feeds media policies from outside: whatever decodes writes
// back to what it read, and nothing outside the four sources gets in.
func FuzzSourcesJSON(f *testing.F) {
	for _, tc := range sourceCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Sources
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		if s&^AllSources != 0 {
			t.Fatalf("%q decoded to %b, outside the four sources", data, s)
		}
		out, _ := json.Marshal(s)
		var again Sources
		if err := json.Unmarshal(out, &again); err != nil || again != s {
			t.Fatalf("%q: round trip %s gave %v, %v", data, out, again, err)
		}
	})
}
