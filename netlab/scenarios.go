package netlab

import "time"

// Rates used by the scenarios, in bit/s.
const (
	kbit = 1000
	mbit = 1000 * kbit
)

// rtt100 is 100 ms of round trip, with a little jitter.
var rtt100 = Delay{Up: 50 * time.Millisecond, Down: 50 * time.Millisecond, Jitter: 5 * time.Millisecond}

// Short is the scenario CI runs: one publisher and a viewer whose link is
// 3 Mbit/s, then 400 kbit/s.
func Short() Scenario {
	return Scenario{Name: "step-down", Publishers: 1, Phases: []Phase{
		{Name: "3M", Duration: 15 * time.Second, ViewerDown: 3 * mbit, Fits: F},
		{Name: "400k", Duration: 20 * time.Second, ViewerDown: 400 * kbit, Fits: Q},
	}}
}

// Full is issue 13's list (point 8), each phase lasting d (the issue says 60 s).
func Full(d time.Duration) []Scenario {
	one := func(name string, publishers int, phases ...Phase) Scenario {
		for i := range phases {
			phases[i].Duration = d
		}
		return Scenario{Name: name, Publishers: publishers, Phases: phases}
	}
	return []Scenario{
		one("unlimited", 1, Phase{Name: "unlimited", Fits: F}),
		one("unlimited", 4, Phase{Name: "unlimited", Fits: F}),
		one("steps", 1,
			Phase{Name: "3M", ViewerDown: 3 * mbit, Fits: F},
			Phase{Name: "1M", ViewerDown: 1 * mbit, Fits: H},
			Phase{Name: "400k", ViewerDown: 400 * kbit, Fits: Q},
			Phase{Name: "unlimited", Fits: F}),
		one("2M", 4, Phase{Name: "2M", ViewerDown: 2 * mbit, Fits: H}),
		one("viewer-loss", 1, Phase{Name: "3M 5% loss", ViewerDown: 3 * mbit, ViewerLoss: 5, Fits: F}),
		one("rtt", 1,
			Phase{Name: "3M 100ms RTT", ViewerDown: 3 * mbit, ViewerDelay: rtt100, Fits: F},
			Phase{Name: "3M 100ms RTT 5% loss", ViewerDown: 3 * mbit, ViewerDelay: rtt100, ViewerLoss: 5, Fits: F}),
		one("uplink", 1,
			Phase{Name: "up 1M", PublisherUp: 1 * mbit, Fits: H},
			Phase{Name: "up 500k", PublisherUp: 500 * kbit, Fits: H},
			Phase{Name: "up 5% loss", PublisherLoss: 5, Fits: F}),
	}
}
