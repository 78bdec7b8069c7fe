package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"lectern/storage/storagetest"
)

// withoutH264 makes a Chromium page offer video without H.264, as Firefox
// does without its OpenH264 plugin: every video transceiver's codecs are
// narrowed before each offer. Like Firefox's, its connections gather
// candidates per media section (bundlePolicy "balanced").
const withoutH264 = `(() => {
  const Native = RTCPeerConnection;
  window.RTCPeerConnection = function (config) { return new Native({ ...config, bundlePolicy: 'balanced' }); };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
  const createOffer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => !/h264/i.test(c.mimeType));
    for (const tr of this.getTransceivers()) {
      if (tr.receiver.track?.kind === 'video' && !tr.stopped) tr.setCodecPreferences(codecs);
    }
    return createOffer.apply(this, args);
  };
})();`

// A host whose browser has no H.264 opens the studio of a broadcast room: the
// room takes the microphone, rejects the camera, and the page says why and
// what to do.
func TestStudioPageWithoutH264(t *testing.T) {
	browserCtx := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "grace", "name": "Grace Hopper", "rooms": map[string]any{"weekly": map[string]any{"preset": "host"}}}).str("token")

	host := openTab(t, browserCtx, "about:blank", "host", desktop)
	host.do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, t.Call(ctx, cdppage.CommandAddScriptToEvaluateOnNewDocument,
			&cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: withoutH264}, nil)
	})
	host.navigate(a.url + "/studio/weekly#token=" + tok)
	host.waitText("#room-title", "Weekly update")
	host.waitJS(`!document.querySelector('#problem').hidden && /This room takes H\.264 video; your client offered VP8/.test(document.querySelector('#problem-text').textContent)`,
		"the rejected camera explained")
	text, _ := host.js(`document.querySelector('#problem-text').textContent`).(string)
	t.Logf("the page says: %s", text)
	if !strings.Contains(text, "Use a browser that has H.264, such as Chromium") || strings.Contains(text, "H264") {
		t.Errorf("problem text: %q", text)
	}
	// The microphone went through all the same, and nothing else.
	eventually(t, 15*time.Second, "the host's microphone in the room", func() bool {
		r, ok := a.media.LiveRoom("weekly")
		if !ok {
			return false
		}
		kinds := ""
		for _, tr := range r.Tracks() {
			kinds += tr.Info().Kind
		}
		return kinds == "audio"
	})
	host.checkClean()
}
