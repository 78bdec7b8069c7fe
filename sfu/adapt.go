package sfu

// Layer choice for simulcast subscribers without a bandwidth estimate. A
// subscriber connection with TWCC feedback or REMB is steered by its
// allocator (link.go); one with neither (some WHEP players) steps down on the
// loss in its receiver reports and back up after a calm spell.

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
	if !d.auto.Load() || d.track.layerCount() < 2 || d.sub.hasEstimate() {
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
		if d.calm >= calmReports && target < d.maxLay {
			d.calm = 0
			target++
		}
	default:
		d.calm = 0
	}
	d.mu.Unlock()
	d.setTarget(target)
}

// onREMB records the subscriber's receive estimate (REMB), the allocator's
// budget when the client sends no TWCC feedback.
func (d *downTrack) onREMB(bps int64) {
	if e := d.sub.est.Load(); e != nil {
		e.remb.Store(bps)
	}
}

// hasEstimate reports whether the subscriber connection has a bandwidth estimate.
func (p *Participant) hasEstimate() bool {
	e := p.est.Load()
	return e != nil && (e.twccSeen.Load() || e.remb.Load() > 0)
}
