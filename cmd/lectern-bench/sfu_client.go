package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// wsConn is a bench peer's room websocket (docs/protocol.md). One goroutine
// reads it; writes may come from any.
type wsConn struct {
	c *websocket.Conn
}

// wsMessage holds the fields of server messages the bench reads.
type wsMessage struct {
	Type    string `json:"type"`
	SDP     string `json:"sdp"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func dialWS(ctx context.Context, base, room, token string) (*wsConn, error) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/rooms/" + room + "/ws"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	c.SetReadLimit(1 << 20)
	return &wsConn{c: c}, nil
}

func (w *wsConn) send(ctx context.Context, m map[string]any) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return w.c.Write(wctx, websocket.MessageText, data)
}

func (w *wsConn) read(ctx context.Context) (wsMessage, error) {
	var m wsMessage
	_, data, err := w.c.Read(ctx)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}

// expect reads until a message of type typ, failing on an error message.
func (w *wsConn) expect(ctx context.Context, typ string) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		m, err := w.read(ctx)
		if err != nil {
			return m, err
		}
		switch m.Type {
		case typ:
			return m, nil
		case "error":
			return m, fmt.Errorf("server: %s: %s", m.Code, m.Message)
		}
	}
}

func (w *wsConn) close() { w.c.Close(websocket.StatusNormalClosure, "bench over") }

// loopbackSettings keep bench peers on the loopback interface: host
// candidates on 127.0.0.1 only, no mDNS.
func loopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// publisherAPI is the pion stack of a bench publisher, trimmed like the rest of
// the bench but with what a browser gives the SFU: sender reports, NACK
// answers and transport-wide sequence numbers for the SFU's congestion feedback.
func publisherAPI(o publisherOptions) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	feedback := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBTransportCC}}
	c := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: feedback},
		PayloadType:        96,
	}
	if o.codec == "h264" {
		c.RTPCodecCapability.MimeType = webrtc.MimeTypeH264
		c.RTPCodecCapability.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		c.PayloadType = 102
	}
	if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if o.simulcast {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	tw, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(sr)
	reg.Add(resp)
	reg.Add(tw)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(loopbackSettings())), nil
}
