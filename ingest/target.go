package ingest

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
)

// target is what an RTSP request's path names: a room, and an access token
// when the path carries one (/{room}/token/{token}). A token in the path
// survives every way clients resolve control URLs; one in the query is lost by
// clients that resolve relative URLs by RFC 3986 (GStreamer).
type target struct {
	room, token string
}

// parseTarget reads a request path: "/{room}" or "/{room}/token/{token}",
// with or without a leading or trailing slash.
func parseTarget(path string) (target, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var t target
	switch {
	case len(parts) == 1:
	case len(parts) == 3 && parts[1] == "token" && parts[2] != "":
		t.token = parts[2]
	default:
		return target{}, ErrBadPath
	}
	if !roomPath.MatchString(parts[0]) {
		return target{}, ErrBadPath
	}
	t.room = parts[0]
	return t, nil
}

// path is the target as a request path, without the leading slash.
func (t target) path() string {
	if t.token == "" {
		return t.room
	}
	return t.room + "/token/" + t.token
}

// describe writes the SDP of a DESCRIBE answer with absolute control URLs
// (RFC 2326 appendix C.1.1): {request path}/trackID={n}, with the request's
// query after it. gortsplib's relative "trackID=n" under a Content-Base of
// "rtsp://host/room?token=T/" is resolved by RFC 3986 clients (GStreamer) to
// "rtsp://host/trackID=n", which loses room and token; an absolute URL means
// the same to every client, and gortsplib reads the track ID back from its
// path. path and query are the request's as gortsplib split them (without
// the trailing slash of an aggregate URL).
func describe(desc *description.Session, u *base.URL, path, query string) ([]byte, error) {
	out := &description.Session{Title: desc.Title}
	for i, m := range desc.Medias {
		control := url.URL{Scheme: u.Scheme, Host: u.Host, Path: path + "/trackID=" + strconv.Itoa(i), RawQuery: query}
		out.Medias = append(out.Medias, &description.Media{
			Type: m.Type, ID: m.ID, Control: control.String(), Formats: m.Formats,
		})
	}
	return out.Marshal(false)
}

// tokenInText finds tokens in request paths and queries.
var tokenInText = regexp.MustCompile(`/token/[A-Za-z0-9._~%+=-]+|token=[A-Za-z0-9._~%+=-]+`)

// redacted is err's text for logs without tokens: gortsplib's errors can quote
// request paths (liberrors.ErrServerPathHasChanged).
func redacted(err error) string {
	if err == nil {
		return ""
	}
	return tokenInText.ReplaceAllStringFunc(err.Error(), func(m string) string {
		if strings.HasPrefix(m, "/") {
			return "/token/REDACTED"
		}
		return "token=REDACTED"
	})
}
