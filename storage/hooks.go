package storage

import "sync/atomic"

// recordingHook is called after a recording row is written (hooks.go).
type recordingHook = func(r Recording, created bool)

// OnRecordingChange makes fn be called with the stored row after every
// recording is created (CreateRecording, created true) or updated
// (UpdateRecording) through d, replacing any earlier fn; nil removes it. fn runs on the writer's
// goroutine and must not block: it is how this process learns that its
// recorder started or finished a recording (webhooks), whatever wrote it.
func (d *DB) OnRecordingChange(fn func(r Recording, created bool)) {
	if fn == nil {
		d.onRecording.Store(nil)
		return
	}
	d.onRecording.Store(&fn)
}

// recordingChanged calls the hook set by OnRecordingChange, if any.
func (d *DB) recordingChanged(r Recording, created bool) {
	if fn := d.onRecording.Load(); fn != nil {
		(*fn)(r, created)
	}
}

// hookSlot holds the recording hook; a separate type keeps DB's field list short.
type hookSlot = atomic.Pointer[recordingHook]
