package sfu

// Automatic layer choice for simulcast subscribers. Loss from receiver reports
// steps the layer down at once and back up after a calm spell; a bandwidth
// estimate (REMB) caps the layer at the highest one whose measured bitrate fits.

const (
	// lossDown is the fraction lost (of 256) above which the layer steps down: 10%.
	lossDown = 26
	// lossCalm is the fraction lost below which a report counts as calm: 2%.
	lossCalm = 5
	// calmReports is how many calm reports in a row step the layer back up.
	calmReports = 5
)

// onLoss reacts to one receiver report.
func (d *downTrack) onLoss(fraction uint8) {
	if !d.auto.Load() || d.track.layerCount() < 2 {
		return
	}
	d.mu.Lock()
	target := d.target
	switch {
	case fraction > lossDown:
		d.calm = 0
		target = max(0, target-1)
	case fraction < lossCalm:
		d.calm++
		if d.calm >= calmReports && target < d.capLayer() {
			d.calm = 0
			target++
		}
	default:
		d.calm = 0
	}
	d.mu.Unlock()
	d.setTarget(target)
}

// onEstimate caps the layer by the subscriber's bandwidth estimate.
func (d *downTrack) onEstimate(bps int64) {
	if !d.auto.Load() {
		return
	}
	n := d.track.layerCount()
	best := 0
	for i := range n {
		if l := d.track.layerAt(i); l != nil && l.rate.Load() <= bps*9/10 {
			best = i
		}
	}
	d.mu.Lock()
	d.estimateCap = best
	target := min(d.target, d.capLayer())
	d.mu.Unlock()
	d.setTarget(target)
}

// capLayer is the highest layer the tier and the last estimate allow. Called with mu held.
func (d *downTrack) capLayer() int {
	if d.estimateCap >= 0 {
		return min(d.maxLay, d.estimateCap)
	}
	return d.maxLay
}
