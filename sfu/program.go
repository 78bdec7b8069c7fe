package sfu

// ProgramChoice is what the room's broadcast program (package program) has
// on air: track IDs, empty for a kind it has nothing of. WHEP viewers follow
// it, so that they see what HLS viewers, the recording and RTSP readers see
// (a moderator's on-air choice, the active speaker); while no program runs,
// they follow the earliest publisher.
type ProgramChoice struct {
	Video, Audio string
}

// SetProgram records the program's choice and wakes the room's WHEP viewers
// when it changed. The program calls it; a program that stops sets the zero
// choice.
func (r *Room) SetProgram(c ProgramChoice) {
	r.progMu.Lock()
	defer r.progMu.Unlock()
	if r.prog == c {
		return
	}
	r.prog = c
	if r.progChanged != nil {
		close(r.progChanged)
	}
	r.progChanged = make(chan struct{})
}

// program returns the program's choice and a channel closed when it changes.
func (r *Room) program() (ProgramChoice, <-chan struct{}) {
	r.progMu.Lock()
	defer r.progMu.Unlock()
	if r.progChanged == nil {
		r.progChanged = make(chan struct{})
	}
	return r.prog, r.progChanged
}

// preferTrack puts the track with ID id (if among tracks) before candidates.
func preferTrack(id string, tracks, candidates []*Track) []*Track {
	if id == "" {
		return candidates
	}
	for _, t := range tracks {
		if t.id == id {
			return append([]*Track{t}, candidates...)
		}
	}
	return candidates
}
