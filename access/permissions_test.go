package access

import (
	"encoding/json"
	"errors"
	"testing"
)

var permissionCases = []struct {
	in      string
	want    Permissions
	wantErr bool
}{
	{`{"publish":true,"subscribe":true}`, Publish | Subscribe, false},
	{`{"publish":false,"moderate":true}`, Moderate, false},
	{`["list","send","receive"]`, List | Send | Receive, false},
	{`[]`, 0, false},
	{`{}`, 0, false},
	{`{"fly":true}`, 0, true},
	{`["publish","fly"]`, 0, true},
	{`"publish"`, 0, true},
	{`{"publish":"yes"}`, 0, true},
	{`null`, 0, true},
}

func TestPermissionsJSON(t *testing.T) {
	for _, tc := range permissionCases {
		var p Permissions
		err := json.Unmarshal([]byte(tc.in), &p)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: got %v, want an error", tc.in, p)
			}
			continue
		}
		if err != nil || p != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.in, p, err, tc.want)
		}
	}
}

func TestPermissionsRoundTrip(t *testing.T) {
	for p := Permissions(0); p < 1<<6; p++ {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Permissions
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Fatalf("%s: round trip gave %v, %v", b, back, err)
		}
		parsed, err := ParsePermissions(p.String())
		if err != nil || parsed != p {
			t.Fatalf("%q: parse gave %v, %v", p.String(), parsed, err)
		}
	}
}

func TestPresets(t *testing.T) {
	speaker, err := Preset("speaker")
	if err != nil || speaker.String() != "publish,subscribe,list,send,receive" {
		t.Errorf("speaker = %q, %v", speaker, err)
	}
	viewer, _ := Preset("viewer")
	if viewer.Has(Publish) || viewer.Has(List) || !viewer.Has(Subscribe|Receive) {
		t.Errorf("viewer = %q", viewer)
	}
	if _, err := Preset("admin"); !errors.Is(err, ErrInvalidPermissions) {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestTier(t *testing.T) {
	if _, err := ParseTier("8k"); !errors.Is(err, ErrInvalidTier) {
		t.Errorf("8k: %v", err)
	}
	if !FHD.Exceeds(HD) || HD.Exceeds(HD) || SD.Exceeds(UHD) {
		t.Error("tier order is wrong")
	}
}

func FuzzPermissionsJSON(f *testing.F) {
	for _, tc := range permissionCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Permissions
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		b, _ := json.Marshal(p)
		var back Permissions
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Fatalf("%s -> %s -> %v, %v", data, b, back, err)
		}
	})
}
