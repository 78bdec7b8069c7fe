package api

import (
	"net/http"
	"time"
)

// ICEServer is one STUN or TURN server handed to a client, shaped as the W3C
// RTCIceServer a browser's RTCPeerConnection takes.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// iceServers returns the servers for identity, their credentials valid until
// the given time (the end of the caller's token); never nil, so JSON says [].
func (c Config) iceServers(identity string, until time.Time) []ICEServer {
	if c.ICEServers == nil {
		return []ICEServer{}
	}
	out := c.ICEServers(identity, until)
	if out == nil {
		out = []ICEServer{}
	}
	return out
}

// setICELinks names the ICE servers in Link headers, one per URL, as WHIP and
// WHEP answers carry them (RFC 9725 section 4.6).
func setICELinks(h http.Header, servers []ICEServer) {
	for _, srv := range servers {
		for _, u := range srv.URLs {
			link := "<" + u + `>; rel="ice-server"`
			if srv.Username != "" {
				link += `; username="` + srv.Username + `"; credential="` + srv.Credential + `"; credential-type="password"`
			}
			h.Add("Link", link)
		}
	}
}
