package netlab

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes one row per phase of each result, as a Markdown table.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| scenario\t phase\t fits\t reached\t at fits\t at 720p\t heights (share)\t stalls ≥0.5 s (longest)\t freezes (s)\t concealed\t recv kbit/s\t loss (drops: tbf, viewer rcvbuf, host rcvbuf)\t pub kbit/s (rtx)\t pub f\t pub limit\t pub est kbit/s\t srv est kbit/s (p10, p50)\t srv PLI/FIR\t srv rtx pkts\t load\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, r := range results {
		for _, p := range r.Results {
			reached := "never"
			if p.Reached >= 0 {
				reached = fmt.Sprintf("%.1f s", p.Reached.Seconds())
			}
			fmt.Fprintf(tw, "| %s (%d pub)\t %s\t %dp\t %s\t %.0f%%\t %.0f%%\t %s\t %d (%.1f s)\t %d (%.1f)\t %.2f%% (%d ev)\t %.0f\t %.1f%% (%d, %d, %d)\t %.0f (%.0f%%)\t %s\t %s\t %.0f\t %.0f, %.0f\t %.0f\t %.0f\t %.0f\t\n",
				r.Scenario.Name, r.Scenario.Publishers, p.Phase.Name, p.Phase.Fits, reached, 100*p.AtFits, 100*p.AtTop,
				heights(p.Heights), p.Stalls, p.LongestStall.Seconds(), p.Freezes, p.FreezeSeconds,
				p.ConcealedPct, p.ConcealEvents, p.RecvKbps, p.LossPct, p.LinkDrops, p.RcvbufDrops, p.HostRcvbufDrops, p.PubKbps, p.PubRtxPct,
				pubTop(p.PubTopH), p.PubLimit, p.PubAvailKbps, p.EstLowKbps, p.EstKbps, p.KeyframeRequests, p.RetransmittedPackets, p.Load)
		}
	}
	return tw.Flush()
}

func pubTop(h int) string {
	if h == 0 {
		return "off"
	}
	return fmt.Sprintf("%dp", h)
}

// heights formats a height histogram as "720p 80%, 360p 20%".
func heights(h map[int]int) string {
	total := 0
	keys := make([]int, 0, len(h))
	for k, n := range h {
		total += n
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(keys)))
	var parts []string
	for _, k := range keys {
		if pct := 100 * h[k] / max(total, 1); pct > 0 {
			parts = append(parts, fmt.Sprintf("%dp %d%%", k, pct))
		}
	}
	return strings.Join(parts, ", ")
}

// Describe is one line about a phase's conditions.
func (p Phase) Describe() string {
	rate := func(bps int64) string {
		if bps == 0 {
			return "unlimited"
		}
		return fmt.Sprintf("%g kbit/s", float64(bps)/1000)
	}
	delay := func(d Delay) string {
		if d == (Delay{}) {
			return ""
		}
		return fmt.Sprintf(", delay %v up %v down (+%v jitter)", d.Up, d.Down, d.Jitter)
	}
	return fmt.Sprintf("%s for %v: viewer down %s, %d%% loss%s; publishers up %s, %d%% loss%s",
		p.Name, p.Duration.Round(time.Second), rate(p.ViewerDown), p.ViewerLoss, delay(p.ViewerDelay),
		rate(p.PublisherUp), p.PublisherLoss, delay(p.PublisherDelay))
}
