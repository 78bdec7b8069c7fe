package api

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"lectern/storage/storagetest"
)

// nameCases are names others will see, and whether they are accepted.
var nameCases = []struct {
	name string
	ok   bool
}{
	{"Ada Lovelace", true},
	{"José Müller-Lüdenscheidt", true},
	{"علي بن أحمد", true},          // Arabic
	{"דוד כהן", true},              // Hebrew
	{"Ali علي (2)", true},          // mixed directions
	{"می\u200cخواهم", true},        // Persian: ZWNJ between Arabic letters
	{"क्\u200dष", true},            // Devanagari: ZWJ after the virama
	{"李小龍", true},                  // CJK
	{"Nguyễn Thị Minh Khai", true}, // Vietnamese: two marks
	{"👩\u200d💻 Grace", true},       // ZWJ emoji sequence
	{"👩🏽\u200d🚀", true},            // skin tone, then ZWJ
	{"❤\ufe0f\u200d🔥", true},       // presentation selector, then ZWJ
	{"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", true}, // flag of Scotland (tags)
	{"1\ufe0f\u20e3 first", true}, // keycap

	{"admin\u202egnp.exe", false},  // right-to-left override
	{"Spe\u200bak\u200der", false}, // zero-width space, ZWJ between Latin letters
	{"Spe\u200dak", false},         // ZWJ between Latin letters
	{"Spe\u200cak", false},         // ZWNJ between Latin letters
	{"a\u2066b\u2069", false},      // isolates
	{"\u200fHost", false},          // right-to-left mark
	{"x\u061c", false},             // Arabic letter mark
	{"a\u2060b", false},            // word joiner
	{"\ufeffHost", false},          // byte order mark
	{"Ho\u00adst", false},          // soft hyphen
	{"\u3164", false},              // Hangul filler: a blank name
	{"a\u3164b", false},
	{"\u2800", false},                          // Braille blank
	{"Bob\nAlice", false},                      // newline
	{"Bob\u2028Alice", false},                  // line separator
	{"Bob\u0007", false},                       // bell
	{"Z\u0301\u0302\u0303\u0304\u0305", false}, // five stacked marks
	{"\U000E0067\U000E007F", false},            // tags without the flag
	{"🏴\U000E0067", false},                     // tag sequence without its end
	{"👩\u200d", false},                         // joiner at the end
}

// TestCheckName checks which names are refused: look-alikes made with bidi,
// zero-width and blank characters go; real text in any script stays.
func TestCheckName(t *testing.T) {
	for _, tc := range nameCases {
		_, err := displayName("name", tc.name, 64, codeInvalidMember)
		if (err == nil) != tc.ok {
			t.Errorf("displayName(%+q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestNamesRefusedEverywhere checks that room, member and token names go
// through the same check, with each endpoint's error code.
func TestNamesRefusedEverywhere(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	bad := "admin\u202egnp.exe"
	r := a.must(http.StatusBadRequest, "POST", "/api/v1/rooms", a.adminKey, map[string]any{"id": "weekly", "name": bad})
	if r.code() != codeInvalidRoom || !strings.Contains(r.str("message"), "U+202E") {
		t.Errorf("room: %s", r.raw)
	}
	a.createRoom(map[string]any{"id": "weekly", "name": "عرض أسبوعي"})
	r = a.must(http.StatusBadRequest, "PATCH", "/api/v1/rooms/weekly", a.adminKey, map[string]any{"name": "We\u200bekly"})
	if r.code() != codeInvalidRoom {
		t.Errorf("room rename: %s", r.raw)
	}
	r = a.must(http.StatusBadRequest, "POST", "/api/v1/rooms/weekly/members", a.adminKey,
		map[string]any{"identity": "sam", "name": "Spe\u200bak\u200der", "preset": "member"})
	if r.code() != codeInvalidMember {
		t.Errorf("member: %s", r.raw)
	}
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/weekly/members", a.adminKey,
		map[string]any{"identity": "sam", "name": "👩\u200d💻 Sam", "preset": "member"})
	r = a.must(http.StatusBadRequest, "POST", "/api/v1/tokens", a.adminKey,
		map[string]any{"identity": "kim", "name": "Kim\u2066", "rooms": map[string]any{"weekly": map[string]any{"preset": "member"}}})
	if r.code() != codeInvalidToken {
		t.Errorf("token: %s", r.raw)
	}
}

// FuzzName checks that an accepted name is valid UTF-8 within its length,
// and holds no bidi control or control character.
func FuzzName(f *testing.F) {
	for _, tc := range nameCases {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := displayName("name", s, 64, codeInvalidMember)
		if err != nil {
			return
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || name == "" {
			t.Fatalf("accepted %+q", name)
		}
		for _, r := range name {
			if isBidiControl(r) || r < 0x20 || r == 0x7f || r == 0x200B {
				t.Fatalf("accepted %+q with U+%04X", name, r)
			}
		}
	})
}
