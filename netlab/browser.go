package netlab

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium, which CI installs.
const ChromiumPath = "/usr/bin/chromium"

//go:embed client.js
var clientJS string

// Browser is a headless Chromium running in a node's namespace, with one
// page of the server's origin that runs client.js. chromedp talks to it over
// a pipe, which crosses the namespace boundary as any inherited file does.
type Browser struct {
	// Node is the namespace the browser runs in.
	Node *Node

	ctx    context.Context
	cancel context.CancelFunc
	dir    string
}

// StartBrowser starts Chromium in node and opens a page of site (the
// server's URL) with the netlab's page script loaded. camera, if set, is a
// Y4M file the fake camera plays (see NoisyCamera). Close ends it.
func StartBrowser(ctx context.Context, node *Node, site, camera string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "lectern-netlab-chromium-")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// getUserMedia needs a secure context; the lab's server is plain
		// HTTP on a 10.x address.
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", site),
		chromedp.WindowSize(1400, 1000),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// ip netns exec execs Chromium in the namespace; the debugging
			// pipe's descriptors are inherited.
			ip, err := exec.LookPath("ip")
			if err != nil {
				ip = "/usr/sbin/ip"
			}
			cmd.Args = append([]string{"ip", "netns", "exec", node.Name, cmd.Path}, cmd.Args[1:]...)
			cmd.Path = ip
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	}
	if camera != "" {
		opts = append(opts, chromedp.Flag("use-file-for-fake-video-capture", camera))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	b := &Browser{Node: node, ctx: bctx, dir: dir, cancel: func() { cancelBrowser(); cancelAlloc() }}
	// The first run on the browser's own context starts it: a run on a
	// derived context would tie the browser's life to that context.
	if err := chromedp.Do(bctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("netlab: start Chromium in %s: %w", node.Name, err)
	}
	start, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err = chromedp.Do(start, chromedp.Navigate(site+"/netlab"))
	if err == nil {
		_, err = chromedp.Run(start, chromedp.Evaluate[bool](clientJS, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("netlab: browser in %s: %w", node.Name, err)
	}
	return b, nil
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	os.RemoveAll(b.dir)
}

// call runs lab.<fn>(args...) in the page and decodes its result into out.
func (b *Browser) call(ctx context.Context, out any, fn string, args ...any) error {
	data, err := json.Marshal(append([]any{}, args...))
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	gesture := func(ep *runtime.EvaluateParams) { yes := true; ep.UserGesture = &yes }
	expr := fmt.Sprintf("netlab.%s(...%s)", fn, data)
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise, gesture))
	if err != nil {
		return fmt.Errorf("netlab: %s in %s: %w", fn, b.Node.Name, err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// Publish joins room and publishes the fake camera (1280x720, simulcast)
// and microphone; it returns the participant ID.
func (b *Browser) Publish(ctx context.Context, room, token string) (string, error) {
	var id string
	return id, b.call(ctx, &id, "publish", room, token)
}

// Watch joins room to receive; it returns the participant ID.
func (b *Browser) Watch(ctx context.Context, room, token string) (string, error) {
	var id string
	return id, b.call(ctx, &id, "watch", room, token)
}

// Take returns the stats samples taken since the last call (every 250 ms)
// and the errors the session reported so far.
func (b *Browser) Take(ctx context.Context) ([]Sample, []string, error) {
	var r struct {
		Samples  []Sample
		Problems []string
	}
	err := b.call(ctx, &r, "take")
	return r.Samples, r.Problems, err
}
