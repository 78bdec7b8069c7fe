package main

import (
	"time"

	"lectern/rooms"
)

// stageConfig bounds the webinar stage (rooms.StageConfig, docs/api.md "The stage").
type stageConfig struct {
	// MaxGuests: viewers on stage or invited at once, per room.
	MaxGuests int `yaml:"stage_max_guests"`
	// InviteTTL: how long an invitation waits for an answer.
	InviteTTL time.Duration `yaml:"stage_invite_ttl"`
}

func defaultStageConfig() stageConfig {
	d := rooms.DefaultStageConfig()
	return stageConfig{MaxGuests: d.MaxGuests, InviteTTL: d.InviteTTL}
}

// stage is the rooms package's form of c.
func (c stageConfig) stage() rooms.StageConfig {
	s := rooms.DefaultStageConfig()
	s.MaxGuests, s.InviteTTL = c.MaxGuests, c.InviteTTL
	return s
}

func init() {
	settings = append(settings,
		setting{"stage_max_guests", "LECTERN_STAGE_MAX_GUESTS", "stage-max-guests", "viewers one webinar may have on stage or invited at once (then 409 stage_full)", wholeNumber(func(c *config) *int { return &c.Stage.MaxGuests })},
		setting{"stage_invite_ttl", "LECTERN_STAGE_INVITE_TTL", "stage-invite-ttl", "how long an invitation to the stage waits for the viewer's answer", duration(func(c *config) *time.Duration { return &c.Stage.InviteTTL })},
	)
}
