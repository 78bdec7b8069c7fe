package rooms

import (
	"context"

	"lectern/sfu"
	"lectern/storage"
)

// ApplyBroadcast makes the HLS service and the recorder follow a room's
// stored settings (the program runs before the recorder subscribes to it).
// A room with only an ID (deleted) stops both.
func (s *Service) ApplyBroadcast(r storage.Room) {
	if err := s.hls.Configure(r.ID, BroadcastSettings(r)); err != nil {
		s.log.Warn("broadcast settings not applied", "room", r.ID, "err", err)
	}
	if s.rec != nil {
		if err := s.rec.Configure(r.ID, r.BroadcastRecord); err != nil {
			s.log.Warn("recording setting not applied", "room", r.ID, "err", err)
		}
	}
}

// EnsureBroadcast makes this node's broadcast of a room follow its stored
// settings before a session starts here. With one node every change is
// applied where it is made, and it does nothing; with several, a room's
// settings may have changed on another node, or been set before this node
// started, so they are applied again (an idempotent step when nothing
// changed).
func (s *Service) EnsureBroadcast(r storage.Room) {
	if s.cfg.Clustered {
		s.ApplyBroadcast(r)
	}
}

// Open returns the SFU room of a stored room for a session starting here,
// its broadcast settings applied first (EnsureBroadcast).
func (s *Service) Open(r storage.Room) (*sfu.Room, error) {
	s.EnsureBroadcast(r)
	return s.media.Room(r.ID, MediaOptions(r))
}

// StartBroadcasts starts the broadcast of every stored room with HLS or
// recording on, for a server that just started.
func (s *Service) StartBroadcasts(ctx context.Context) error {
	rs, err := s.db.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.BroadcastHLS || r.BroadcastRecord {
			s.ApplyBroadcast(r)
		}
	}
	return nil
}

// CreateRoom stores a new room and starts the broadcast its settings ask
// for. storage.ErrConflict if the ID is taken.
func (s *Service) CreateRoom(ctx context.Context, r storage.Room) (storage.Room, error) {
	if r.BroadcastRecord {
		if err := s.CheckRecordingLimit(ctx, r.App); err != nil {
			return storage.Room{}, err
		}
	}
	created, err := s.db.CreateRoom(ctx, r)
	if err != nil {
		return storage.Room{}, err
	}
	s.ApplyBroadcast(created)
	return created, nil
}

// SetChatSettings stores a room's chat settings: whether its webinar audience
// may post questions, which changes what the audience PIN opens
// (PINPermissions), and its slow mode. Errors wrap ErrRoomNotFound.
func (s *Service) SetChatSettings(ctx context.Context, room string, questions bool, slowModeSeconds int) (storage.Room, error) {
	updated, err := s.db.SetChatSettings(ctx, room, questions, slowModeSeconds)
	if err != nil {
		return storage.Room{}, roomErr(err, room)
	}
	return updated, nil
}

// UpdateRoom stores a room's changed settings and makes its broadcast and
// its live media room here follow them (a changed media policy applies to
// the next offers and encoders). Errors wrap ErrRoomNotFound.
func (s *Service) UpdateRoom(ctx context.Context, r storage.Room) (storage.Room, error) {
	if r.BroadcastRecord {
		old, err := s.Room(ctx, r.ID)
		if err != nil {
			return storage.Room{}, err
		}
		if !old.BroadcastRecord {
			if err := s.CheckRecordingLimit(ctx, storage.KeyApp(r.ID)); err != nil {
				return storage.Room{}, err
			}
		}
	}
	updated, err := s.db.UpdateRoom(ctx, r)
	if err != nil {
		return storage.Room{}, roomErr(err, r.ID)
	}
	s.media.Reconfigure(updated.ID, MediaOptions(updated))
	s.ApplyBroadcast(updated)
	return updated, nil
}
