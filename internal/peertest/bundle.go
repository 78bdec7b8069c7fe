package peertest

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// CheckBundle fails the test unless an answer that rejects sections (port 0)
// can still connect: it has a BUNDLE group whose tag section carries the
// candidates, and every rejected section keeps its mid, carries no
// candidates and is left out of the group (RFC 8843 sections 7.3.3, 8.4).
// It returns the group's mids.
func CheckBundle(t testing.TB, answer string) []string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		t.Fatal(err)
	}
	group, _ := sd.Attribute(sdp.AttrKeyGroup)
	fields := strings.Fields(group)
	if len(fields) < 2 || fields[0] != "BUNDLE" {
		t.Fatalf("answer has no BUNDLE group:\n%s", answer)
	}
	for _, md := range sd.MediaDescriptions {
		mid, hasMid := md.Attribute(sdp.AttrKeyMID)
		_, hasCand := md.Attribute("candidate")
		switch rejected := md.MediaName.Port.Value == 0; {
		case rejected && hasCand:
			t.Errorf("rejected section %q carries candidates:\n%s", mid, answer)
		case rejected && !hasMid:
			t.Errorf("rejected %s section has no mid:\n%s", md.MediaName.Media, answer)
		case rejected && strings.Contains(group+" ", " "+mid+" "):
			t.Errorf("BUNDLE names rejected section %q:\n%s", mid, answer)
		case !rejected && mid == fields[1] && !hasCand:
			t.Errorf("BUNDLE-tag section %q has no candidates:\n%s", mid, answer)
		}
	}
	return fields[1:]
}
